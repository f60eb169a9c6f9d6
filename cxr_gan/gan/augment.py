"""DiffAugment's transforms (Zhao et al. 2020) with ADA's probability (Karras et al. 2020).

Differentiable augmentation of everything the discriminator sees, real and fake, in both
networks' steps, so that D cannot tell real from fake by the augmentation and G's gradient
passes through it. The transforms, as ``DiffAugment_pytorch.py`` on images in [-1, 1]:

- ``brightness``: ``x + (u - 0.5)``, u ~ U(0, 1) per image.
- ``contrast``: ``(x - m) * (u + 0.5) + m``, m the image's mean over pixels and channels.
- ``translation``: an integer shift in [-s, s] per axis, s = int(side / 8 + 0.5), with zeros
  shifted in.
- ``cutout``: a square of int(side / 2 + 0.5) pixels set to 0, centred at a random position
  (clipped at the border).

Saturation, DiffAugment's third colour transform, means nothing on gray images and is left
out. They apply in DiffAugment's order: colour, translation, cutout.

The random values are not drawn here: ``draw_parameters`` draws them in NumPy, per step, in the
data pipeline, so a step stays a pure function of (seed, step) under both backends. ADA's
probability p enters as a gate: transform ``t`` acts on image ``i`` when ``gate[i, t] < p``
(p = 1 without ADA: always).

ADA's controller (``ada_step``): ``r_t = E[sign(D_logit(real))]`` of the step's real batch;
``p <- clip(p + sign(r_t - target) * n_images / (ada_kimg * 1000), 0, 1)``.
"""

from __future__ import annotations

import numpy as np
from keras import ops

# Column layout of one image's parameters (the draw order: it fixes every committed stream).
COLUMNS = ("translation_gate", "translation_dx", "translation_dy", "cutout_gate",
           "cutout_x", "cutout_y", "brightness_gate", "brightness_delta", "contrast_gate",
           "contrast_factor")
COLUMN = {name: index for index, name in enumerate(COLUMNS)}
_GATE = {name: COLUMN[f"{name}_gate"] for name in ("translation", "cutout", "brightness",
                                                     "contrast")}
N_PARAMETERS = len(COLUMNS)
ORDER = ("brightness", "contrast", "translation", "cutout")


def translation_shift(size: int) -> int:
    return int(size / 8 + 0.5)


def cutout_size(size: int) -> int:
    return int(size / 2 + 0.5)


def draw_parameters(rng: np.random.Generator, batch: int, size: int) -> np.ndarray:
    """``(batch, N_PARAMETERS)`` float32: per image, each transform's gate and values.

    Columns: translation gate, dx, dy; cutout gate, centre x, centre y; brightness gate,
    delta; contrast gate, factor. Integers are stored exactly as float32.
    """
    shift, cut = translation_shift(size), cutout_size(size)
    c = COLUMN
    out = np.empty((batch, N_PARAMETERS), np.float32)
    out[:, c["translation_gate"]] = rng.random(batch)
    out[:, c["translation_dx"]:c["translation_dy"] + 1] = rng.integers(
        -shift, shift + 1, size=(batch, 2))
    out[:, c["cutout_gate"]] = rng.random(batch)
    # DiffAugment: offset in [0, size + (1 - cut % 2)).
    out[:, c["cutout_x"]:c["cutout_y"] + 1] = rng.integers(0, size + (1 - cut % 2),
                                                           size=(batch, 2))
    out[:, c["brightness_gate"]] = rng.random(batch)
    out[:, c["brightness_delta"]] = rng.random(batch) - 0.5
    out[:, c["contrast_gate"]] = rng.random(batch)
    out[:, c["contrast_factor"]] = rng.random(batch) + 0.5
    return out


def _gate(params, transform: str, p):
    """1.0 where ``transform`` acts on the image, else 0.0: shape ``(batch,)``."""
    return ops.cast(params[:, _GATE[transform]] < p, "float32")


def _shift_axis(x, shift, axis: int):
    """``out[..., i, ...] = x[..., i + shift, ...]`` along ``axis`` (1 or 2), zeros outside.

    A gather on the flattened (batch, axis) index, which both backends differentiate.
    """
    if axis == 2:
        return ops.transpose(_shift_axis(ops.transpose(x, (0, 2, 1, 3)), shift, 1), (0, 2, 1, 3))
    batch, size = ops.shape(x)[0], x.shape[1]
    padded = ops.pad(x, ((0, 0), (0, 1), (0, 0), (0, 0)))  # Row `size` is the zero row.
    source = ops.arange(size, dtype="int32")[None, :] + ops.cast(shift, "int32")[:, None]
    source = ops.where((source >= 0) & (source < size), source, size)
    flat = source + ops.arange(batch, dtype="int32")[:, None] * (size + 1)
    rows = ops.take(ops.reshape(padded, (-1,) + tuple(x.shape[2:])), ops.reshape(flat, (-1,)),
                    axis=0)
    return ops.reshape(rows, ops.shape(x))


def translate(x, dx, dy):
    """Shifts each image by its integer ``(dx, dy)``: ``out[y, x] = in[y + dy, x + dx]``."""
    return _shift_axis(_shift_axis(x, dy, 1), dx, 2)


def cutout_mask(centre_x, centre_y, size: int, cut: int):
    """``(batch, size, size, 1)`` mask: 0 inside each image's square, 1 elsewhere."""
    grid = ops.arange(size, dtype="float32")
    low_x = (centre_x - cut // 2)[:, None]
    low_y = (centre_y - cut // 2)[:, None]
    inside_x = (grid[None, :] >= low_x) & (grid[None, :] < low_x + cut)
    inside_y = (grid[None, :] >= low_y) & (grid[None, :] < low_y + cut)
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return ops.expand_dims(1.0 - ops.cast(inside, "float32"), -1)


def diff_augment(x, params, p, policy: tuple[str, ...]):
    """Applies ``policy``'s transforms to ``x`` (``(batch, size, size, channels)``, [-1, 1]).

    Args:
        x: Images (float32).
        params: ``draw_parameters`` output for this batch (``(batch, N_PARAMETERS)``).
        p: Probability of each transform (a scalar; 1.0 without ADA).
        policy: Transforms to apply (any of ``ORDER``); applied in ``ORDER``.
    """
    size = x.shape[1]
    for transform in ORDER:
        if transform not in policy:
            continue
        gate = _gate(params, transform, p)
        c = COLUMN
        if transform == "brightness":
            x = x + (gate * params[:, c["brightness_delta"]])[:, None, None, None]
        elif transform == "contrast":
            factor = 1.0 + gate * (params[:, c["contrast_factor"]] - 1.0)
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            x = (x - mean) * factor[:, None, None, None] + mean
        elif transform == "translation":
            x = translate(x, gate * params[:, c["translation_dx"]],
                          gate * params[:, c["translation_dy"]])
        else:
            mask = cutout_mask(params[:, c["cutout_x"]], params[:, c["cutout_y"]], size,
                               cutout_size(size))
            keep = 1.0 - gate[:, None, None, None] * (1.0 - mask)
            x = x * keep
    return x


def ada_step(p, real_logits, target: float, n_images: int, ada_kimg: float):
    """ADA's update of ``p`` from one step's real logits; returns ``(new p, r_t)``."""
    r_t = ops.mean(ops.sign(ops.cast(real_logits, "float32")))
    step = ops.sign(r_t - target) * (n_images / (ada_kimg * 1000.0))
    return ops.clip(p + step, 0.0, 1.0), r_t
