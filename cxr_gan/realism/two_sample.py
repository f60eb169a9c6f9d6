"""The reader study's automated twin: a classifier two-sample test (Lopez-Paz & Oquab, ICLR
2017, "Revisiting Classifier Two-Sample Tests"). A small CNN learns to tell set A from set B on
a seeded, stratified 70 % of the images and is scored on the other 30 %: when the two sets
cannot be told apart its held-out accuracy is 0.5 (an exact binomial test against 0.5, as the
paper's null), and the further above, the easier they are told apart.

Both sets go through the same reading: 8-bit gray, resized (Pillow bilinear, antialiased) to
``image_size`` (64 px by default, below the generators' 128 px, so resolution itself tells
nothing), the same number of images from each (the smaller set's, at most ``max_images``),
drawn with the seed.

Network (``build_critic``): Conv(16) -> pool -> Conv(32) -> pool -> Conv(64) -> pool ->
Conv(64) -> global average -> Dense(1, sigmoid); Adam 1e-3, batch 32, a fixed number of epochs,
every weight and draw seeded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from cxr_gan.cli import UserError
from cxr_gan.io import list_images

HELD_OUT = 0.3


def read_set(folder: str | Path, n: int | None, image_size: int,
             rng: np.random.Generator) -> np.ndarray:
    """``n`` images of ``folder`` drawn with ``rng`` (all when None), uint8 ``(n, s, s)``."""
    from cxr_gan.data.images import read_grayscale

    paths = list_images(folder)
    if len(paths) < 10:
        raise UserError(f"{folder} holds {len(paths)} images; a two-sample test needs at least "
                        "10 a side.")
    chosen = paths if n is None else [paths[i] for i in sorted(
        rng.choice(len(paths), min(n, len(paths)), replace=False))]
    return np.stack([read_grayscale(p, image_size, "bilinear") for p in chosen])


def build_critic(image_size: int, seed: int):
    import keras
    from keras import layers

    counter = iter(range(seed * 100, seed * 100 + 100))
    init = lambda: keras.initializers.GlorotUniform(seed=next(counter))  # noqa: E731
    x = image = keras.Input((image_size, image_size, 1), name="image")
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          kernel_initializer=init())(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init())(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(1, activation="sigmoid", kernel_initializer=init())(x)
    return keras.Model(image, out, name="two_sample_critic")


@dataclasses.dataclass(frozen=True)
class TwoSampleResult:
    name: str
    n_per_set: int
    n_held_out: int
    accuracy: dict
    auc: dict
    p_value: float

    def row(self) -> list:
        a, u = self.accuracy, self.auc
        return [self.name, self.n_per_set, self.n_held_out,
                f"{a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}]",
                f"{u['value']:.3f} [{u['low']:.3f}, {u['high']:.3f}]", f"{self.p_value:.3g}"]


def held_out_split(n_a: int, n_b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks over the ``n_a + n_b`` images (A first): the held-out ``HELD_OUT`` of
    each set, drawn with the seed."""
    rng = np.random.default_rng([seed, 17])
    held = np.zeros(n_a + n_b, bool)
    for start, n in ((0, n_a), (n_a, n_b)):
        held[start + rng.permutation(n)[:int(round(HELD_OUT * n))]] = True
    return ~held, held


def two_sample_test(a: np.ndarray, b: np.ndarray, name: str, seed: int = 0, epochs: int = 10,
                    verbose: int = 0) -> TwoSampleResult:
    """Trains the critic on ``a`` (label 0) against ``b`` (label 1) and scores it held out."""
    import keras
    from scipy import stats

    from cxr_gan.backend import set_determinism
    from cxr_gan.evaluation.metrics import bootstrap_intervals, rank_auc
    from cxr_gan.realism.reader import proportion

    set_determinism(seed, deterministic=False)
    x = np.concatenate([a, b])[..., None].astype(np.float32) / 255.0
    y = np.r_[np.zeros(len(a)), np.ones(len(b))].astype(np.float32)
    train, held = held_out_split(len(a), len(b), seed)
    order = np.random.default_rng([seed, 18]).permutation(int(train.sum()))
    critic = build_critic(x.shape[1], seed)
    critic.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    critic.fit(x[train][order], y[train][order], batch_size=32, epochs=epochs, shuffle=False,
               verbose=verbose)
    scores = critic.predict(x[held], batch_size=64, verbose=0)[:, 0].astype(np.float64)
    truth = y[held].astype(int)
    right = int(np.sum((scores >= 0.5) == truth))
    auc = rank_auc(truth == 1, scores)
    low, high = bootstrap_intervals(truth, scores, seed=seed)["auc"]
    return TwoSampleResult(name=name, n_per_set=len(a), n_held_out=int(held.sum()),
                           accuracy=proportion(right, int(held.sum())),
                           auc={"value": auc, "low": low, "high": high},
                           p_value=float(stats.binomtest(right, int(held.sum()), 0.5,
                                                         alternative="greater").pvalue))


def realism(real: str | Path, fake: str | Path, reference: str | Path | None = None,
            image_size: int = 64, max_images: int = 1000, seed: int = 0,
            epochs: int = 10, verbose: int = 0) -> list[TwoSampleResult]:
    """Real against generated, and the references measured the same way: real against real
    (two disjoint halves: about 0.5) and, with ``reference``, real against another class (a
    difference a radiologist sees)."""
    rng = np.random.default_rng(seed)
    real_images = read_set(real, None, image_size, rng)
    fake_images = read_set(fake, None, image_size, rng)
    n = min(len(real_images), len(fake_images), max_images)
    pick = lambda images: images[np.sort(rng.choice(len(images), n, replace=False))]  # noqa
    results = [two_sample_test(pick(real_images), pick(fake_images), "real vs generated",
                               seed, epochs, verbose)]
    halves = rng.permutation(len(real_images))
    half = min(len(real_images) // 2, max_images)
    results.append(two_sample_test(real_images[np.sort(halves[:half])],
                                   real_images[np.sort(halves[half:2 * half])],
                                   "real vs real (two halves)", seed, epochs, verbose))
    if reference is not None:
        other = read_set(reference, None, image_size, rng)
        m = min(len(real_images), len(other), max_images)
        results.append(two_sample_test(
            real_images[np.sort(rng.choice(len(real_images), m, replace=False))],
            other[np.sort(rng.choice(len(other), m, replace=False))],
            "real vs reference class", seed, epochs, verbose))
    return results


def write_realism(results: list[TwoSampleResult], out: str | Path, provenance: str) -> str:
    """``out/realism.json`` and ``out/realism.md``; returns the Markdown."""
    from cxr_gan.io import atomic_write_text, markdown_table, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "realism.json", {"provenance": provenance,
                                      "results": [dataclasses.asdict(r) for r in results]})
    text = "\n".join([
        "# Classifier two-sample test (real or generated?)", "", provenance, "",
        "Held-out accuracy of a small CNN trained to tell the two sets apart (0.5: it cannot), "
        "with its exact binomial 95 % interval and the one-sided binomial p against 0.5; ROC "
        "AUC with a bootstrap interval over the held-out images.", "",
        markdown_table(("sets", "images a set", "held out", "accuracy", "ROC AUC", "p"),
                       [r.row() for r in results], "lrrllr"), ""])
    atomic_write_text(out / "realism.md", text)
    return text
