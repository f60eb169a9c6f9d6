"""The paper's classifier (Fig. 7): the separable-convolution CNN of the keras-io example
"Pneumonia Classification on TPU", as a named functional ``keras.Model``.

    image 224x224x3 in [0, 1]
    -> Conv2D(16, 3, relu) -> Conv2D(16, 3, relu) -> MaxPool            # 112x112x16
    -> block(32)                                                         # 56x56x32
    -> block(64)                                                         # 28x28x64
    -> block(128) -> Dropout(0.2)                                        # 14x14x128
    -> block(256) -> Dropout(0.2)                                        # 7x7x256
    -> Flatten                                                           # 12544
    -> dense(512, 0.7) -> dense(128, 0.5) -> dense(64, 0.3)
    -> Dense(k, softmax)   (k classes; Kermany: index 0 NORMAL, index 1 PNEUMONIA)

    block(f) = SeparableConv2D(f, 3, relu) -> SeparableConv2D(f, 3, relu) -> BN -> MaxPool
    dense(u, r) = Dense(u, relu) -> BN -> Dropout(r)
"""

from __future__ import annotations

import keras
from keras import layers

INPUT_SIZE = 224


# Batch-norm momentum 0.9 (PyTorch's default; the paper states none): with Keras's 0.99 the
# moving statistics stay near their initial values over the few hundred steps of a CPU or an
# early-stopped run, and inference predicts one constant (measured: README, "The classifier
# comparison").
BN_MOMENTUM = 0.9


def build_classifier(input_size: int = INPUT_SIZE, seed: int = 0,
                     bn_momentum: float = BN_MOMENTUM, n_classes: int = 2) -> keras.Model:
    """Builds the Fig. 7 classifier.

    Args:
        input_size: Square input size (224 in the paper; must be divisible by 32).
        seed: Seeds every initialiser and dropout layer.
        bn_momentum: Momentum of the batch-norm moving statistics (see ``BN_MOMENTUM``).
        n_classes: Outputs of the softmax head (2: the paper's model, bit for bit).

    Returns:
        A functional model named ``"classifier"``: ``(batch, s, s, 3)`` in [0, 1] ->
        ``(batch, n_classes)`` class probabilities.
    """
    if n_classes < 2:
        raise ValueError(f"`n_classes` must be >= 2. Received: {n_classes}")
    if input_size % 32 or input_size < 32:
        raise ValueError(f"`input_size` must be a multiple of 32. Received: {input_size}")
    counter = iter(range(seed * 1000, seed * 1000 + 1000))
    glorot = lambda: keras.initializers.GlorotUniform(seed=next(counter))  # noqa: E731

    image = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Conv2D(16, 3, activation="relu", padding="same", kernel_initializer=glorot(),
                      name="stem_conv1")(image)
    x = layers.Conv2D(16, 3, activation="relu", padding="same", kernel_initializer=glorot(),
                      name="stem_conv2")(x)
    x = layers.MaxPooling2D(name="stem_pool")(x)
    for filters, dropout in ((32, 0.0), (64, 0.0), (128, 0.2), (256, 0.2)):
        name = f"block{filters}"
        for i in (1, 2):
            x = layers.SeparableConv2D(filters, 3, activation="relu", padding="same",
                                       depthwise_initializer=glorot(),
                                       pointwise_initializer=glorot(), name=f"{name}_sep{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
        x = layers.MaxPooling2D(name=f"{name}_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, seed=next(counter), name=f"{name}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for units, dropout in ((512, 0.7), (128, 0.5), (64, 0.3)):
        x = layers.Dense(units, activation="relu", kernel_initializer=glorot(),
                         name=f"dense{units}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"dense{units}_bn")(x)
        x = layers.Dropout(dropout, seed=next(counter), name=f"dense{units}_dropout")(x)
    probabilities = layers.Dense(n_classes, activation="softmax", kernel_initializer=glorot(),
                                 name="probabilities")(x)
    return keras.Model(image, probabilities, name="classifier")
