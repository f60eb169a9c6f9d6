"""Online augmentation: every training batch transformed while the classifier trains, by Keras
preprocessing layers (what practitioners use; the paper's arms alter only their top-up images,
once). Two recipes (``ONLINE``):

    standard   RandomFlip("horizontal") -> RandomRotation(+-10 deg) -> RandomZoom(+-10 %)
               -> RandomTranslation(+-10 %, +-10 %) -> RandomBrightness(+-0.1)
               -> RandomContrast(+-10 %), in that order, every image of every batch
    mixup      keras.layers.MixUp(alpha 0.2): each batch blended with a permutation of itself,
               labels blended alike (so the loss takes one-hot targets)

Each batch's random draws come from a seed made of (run seed, epoch, batch index) through the
layers' own ``get_random_transformation(..., seed=...)``: a run is reproducible whatever the
order in which Keras asks for batches. Images are float ``(b, h, w, 1)`` in [0, 1] and stay
there (``value_range`` (0, 1); rotated, zoomed and shifted borders are filled with black).
"""

from __future__ import annotations

import numpy as np

# What config.json records for a run with online augmentation: the ranges and their source.
STANDARD_RANGES = {
    "flip": "horizontal, probability 1/2 (the paper's flip arm, applied to every image)",
    "rotation_degrees": 10.0,
    "zoom_fraction": 0.1,
    "translation_fraction": 0.1,
    "brightness_delta": 0.1,
    "contrast_factor": 0.1,
    "fill": "constant 0 (black borders)",
    "source": "small ranges common in chest-radiograph classifiers (rotation +-10 deg, zoom "
              "and shift +-10 %, mild brightness and contrast); the layers of Keras 3.15",
}
MIXUP_RANGES = {"alpha": 0.2, "source": "keras.layers.MixUp's default, Zhang et al. 2018 "
                                        "(ICLR, arXiv:1710.09412) for ImageNet"}
ONLINE = {"standard": STANDARD_RANGES, "mixup": MIXUP_RANGES}


def standard_layers():
    """The ``standard`` recipe's layers, in the order they apply."""
    from keras import layers

    fill = dict(fill_mode="constant", fill_value=0.0)
    return [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(STANDARD_RANGES["rotation_degrees"] / 360.0, **fill),
        layers.RandomZoom(STANDARD_RANGES["zoom_fraction"], **fill),
        layers.RandomTranslation(STANDARD_RANGES["translation_fraction"],
                                 STANDARD_RANGES["translation_fraction"], **fill),
        layers.RandomBrightness(STANDARD_RANGES["brightness_delta"], value_range=(0.0, 1.0)),
        layers.RandomContrast(STANDARD_RANGES["contrast_factor"], value_range=(0.0, 1.0)),
    ]


class OnlineAugmentation:
    """``augment(images, labels, seed, epoch, index) -> (images, labels)`` for one recipe.

    ``labels``: class indices, or (mixup) one-hot rows, which come back blended."""

    def __init__(self, recipe: str):
        if recipe not in ONLINE:
            raise ValueError(f"`recipe` must be one of {tuple(ONLINE)}. Received: {recipe!r}")
        from keras import layers

        self.recipe = recipe
        self.layers = standard_layers() if recipe == "standard" else [
            layers.MixUp(alpha=MIXUP_RANGES["alpha"])]

    def __call__(self, images: np.ndarray, labels: np.ndarray, seed: int, epoch: int,
                 index: int) -> tuple[np.ndarray, np.ndarray]:
        import keras

        draws = np.random.default_rng([seed, epoch, index, 307]).integers(0, 2**31 - 1,
                                                                          len(self.layers))
        x = images
        if self.recipe == "mixup":
            data = {"images": x, "labels": labels}
            mixup = self.layers[0]
            transformation = mixup.get_random_transformation(
                data, training=True, seed=keras.random.SeedGenerator(int(draws[0])))
            x = mixup.transform_images(x, transformation, training=True)
            labels = mixup.transform_labels(labels, transformation, training=True)
            return (np.clip(keras.ops.convert_to_numpy(x), 0.0, 1.0).astype(np.float32),
                    keras.ops.convert_to_numpy(labels).astype(np.float32))
        for layer, draw in zip(self.layers, draws):
            transformation = layer.get_random_transformation(
                x, training=True, seed=keras.random.SeedGenerator(int(draw)))
            x = layer.transform_images(x, transformation, training=True)
        return np.clip(keras.ops.convert_to_numpy(x), 0.0, 1.0).astype(np.float32), labels
