"""Floating-point operations of one GAN training step, counted from the layers' shapes.

Only the matrix-product layers are counted (``Dense``, ``Conv2D``, ``Conv2DTranspose``, and the
classifier's ``SeparableConv2D`` / ``DepthwiseConv2D``): one multiply-add is 2 FLOPs. Batch norm, activations, the loss and Adam are elementwise, well under
1 % of the total for the 128-px presets, and are left out, so an achieved rate computed from
this count is a slight underestimate of the work done.

It lives in the package, not in ``benchmarks/``, because it reads the layers of the networks
that ``cxr_gan.gan.models`` builds and is tested against hand counts with them; the benchmark
scripts are not an importable package.

Per image, a layer's forward pass costs ``F``:

- ``Dense(n_in -> n_out)``: ``2 * n_in * n_out``;
- ``Conv2D``: ``2 * H_out * W_out * k_h * k_w * C_in * C_out`` (every output pixel is one
  ``k_h * k_w * C_in`` dot product per filter);
- ``Conv2DTranspose``: ``2 * H_in * W_in * k_h * k_w * C_in * C_out`` (every input pixel
  scatters a ``k_h * k_w * C_out`` patch);
- ``DepthwiseConv2D`` (multiplier m): ``2 * H_out * W_out * k_h * k_w * C_in * m``;
  ``SeparableConv2D``: that depthwise part plus a 1x1 ``2 * H_out * W_out * C_in * m * C_out``.

Its backward pass costs ``F`` for the gradient with respect to its weights and ``F`` for the
gradient with respect to its input; each is counted only where the step needs it, as automatic
differentiation computes only those:

- discriminator update: G forward on the fake batch (no gradient); D forward on the real and
  the fake batch, then the weight gradients of every D layer and the input gradients of all but
  D's first layer (nothing upstream of the images is differentiated);
- generator update: G forward, D forward, D input gradients of every layer (down to the image,
  to reach G), no D weight gradients; G weight gradients of every layer and input gradients of
  all but G's first (the noise is not differentiated).
"""

from __future__ import annotations

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class LayerFlops:
    """Forward FLOPs per image of one matrix-product layer."""

    name: str
    forward: int


def _dims(shape) -> list[int]:
    return [int(d) for d in shape[1:]]


_COUNTED = (keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D,
            keras.layers.Conv2DTranspose, keras.layers.Conv2D, keras.layers.Dense)


def _forward_flops(layer, input_dims: list[int], output_dims: list[int]) -> int:
    """Forward FLOPs per image of a ``_COUNTED`` layer with these input and output shapes."""
    if isinstance(layer, (keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)):
        c_in = input_dims[-1]
        h_out, w_out, c_out = output_dims
        k_h, k_w = layer.kernel_size
        depthwise = 2 * h_out * w_out * k_h * k_w * c_in * layer.depth_multiplier
        pointwise = 0
        if isinstance(layer, keras.layers.SeparableConv2D):
            pointwise = 2 * h_out * w_out * c_in * layer.depth_multiplier * c_out
        return depthwise + pointwise
    if isinstance(layer, keras.layers.Conv2DTranspose):
        h_in, w_in, c_in = input_dims
        k_h, k_w = layer.kernel_size
        return 2 * h_in * w_in * k_h * k_w * c_in * layer.filters
    if isinstance(layer, keras.layers.Conv2D):
        h_out, w_out, c_out = output_dims
        k_h, k_w = layer.kernel_size
        return 2 * h_out * w_out * k_h * k_w * input_dims[-1] * c_out
    return 2 * input_dims[-1] * layer.units  # Dense


def layer_flops(model: keras.Model) -> list[LayerFlops]:
    """Forward FLOPs per image of each Dense / Conv2D / Conv2DTranspose layer, in order (a
    spectral-norm wrapper counts as the layer it wraps).

    Raises:
        ValueError: A layer holds weights but is none of the counted kinds or batch norm,
            so its cost would be missed.
    """
    counted = []
    for outer in model.layers:
        layer = outer.layer if isinstance(outer, keras.layers.Wrapper) else outer
        if isinstance(layer, _COUNTED):
            flops = _forward_flops(layer, _dims(outer.input.shape), _dims(outer.output.shape))
            counted.append(LayerFlops(outer.name, flops))
        elif outer.weights and not isinstance(layer, keras.layers.BatchNormalization):
            raise ValueError(
                f"Layer {outer.name!r} ({type(layer).__name__}) holds weights but its FLOPs "
                "are not counted; extend cxr_gan.gan.flops.layer_flops."
            )
    return counted


@dataclasses.dataclass(frozen=True)
class StepFlops:
    """FLOPs of one full GAN step (D update then G update), split by part."""

    d_update: int
    g_update: int

    @property
    def total(self) -> int:
        return self.d_update + self.g_update


def gan_step_flops(generator: keras.Model, discriminator: keras.Model, real_batch: int,
                   fake_batch: int, g_batch: int) -> StepFlops:
    """FLOPs of one step of ``cxr_gan.gan.dcgan.DCGAN`` (see the module docstring)."""
    g = [layer.forward for layer in layer_flops(generator)]
    d = [layer.forward for layer in layer_flops(discriminator)]
    g_forward, d_forward = sum(g), sum(d)
    d_weight_grads, d_input_grads_all = d_forward, d_forward
    d_input_grads_but_first = d_forward - d[0]
    g_weight_grads, g_input_grads_but_first = g_forward, g_forward - g[0]
    d_update = (fake_batch * g_forward
                + (real_batch + fake_batch)
                * (d_forward + d_weight_grads + d_input_grads_but_first))
    g_update = g_batch * (g_forward + d_forward + d_input_grads_all
                          + g_weight_grads + g_input_grads_but_first)
    return StepFlops(d_update=d_update, g_update=g_update)
