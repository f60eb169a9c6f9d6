"""The DCGAN as a ``keras.Model`` with its own ``compile`` and ``train_step``.

One step, for either preset (Goodfellow et al. 2014; Radford et al. 2016):

1. Discriminator: ``d_loss = BCE(1, D(x_real)) + BCE(0, D(G(z_d)))`` on a real batch and a
   separate fake batch (as DCGAN does, so that batch-norm statistics are never mixed across
   real and fake), then one Adam step on D's weights.
2. Generator: ``g_loss = BCE(1, D(G(z_g)))``, one Adam step on G's weights. This is the
   non-saturating form of the paper's Eq. 1 (maximise log D(G(z)) rather than minimise
   log(1 - D(G(z)))), the usual reading of Eq. 1 and what both DCGAN's and the authors' code do.

The batch holds uint8 real images ``(B, H, W, 1)`` and the two noise batches; the step maps the
images to [-1, 1] and replicates the gray channel, on the device. Feeding noise from the data
pipeline (rather than drawing it in the step) makes each step a pure function of
``(seed, global step)``: identical under TensorFlow and JAX, and exactly resumable.

Under JAX the step is written statelessly (``stateless_call`` / ``stateless_apply``), as the
JAX trainer requires; under TensorFlow with ``GradientTape``. Neither path imports the other
backend. Metrics per epoch (the paper's Fig. 6): ``d_loss_real``, ``d_loss_fake``, ``g_loss``,
``d_acc_real`` (share of real images with D > 0.5) and ``d_acc_fake`` (share of fakes with
D < 0.5).
"""

from __future__ import annotations

import keras
from keras import ops

METRIC_NAMES = ("d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake")


def binary_cross_entropy_from_logits(target: float, logits):
    """Mean BCE of ``sigmoid(logits)`` against a constant target (1 = real, 0 = fake).

    Computed from the logits as ``softplus(-l)`` (target 1) or ``softplus(l)`` (target 0),
    which is exact and keeps its gradient when the discriminator is confident. Computing it
    from clipped probabilities instead, as Keras's probability-based loss does under JAX,
    zeroes the generator's gradient once D(G(z)) < 1e-7: the generator then stops learning
    for good (seen here on the demo data: g_loss pinned at -log(1e-7) = 16.12).
    """
    if target == 1.0:
        return ops.mean(ops.softplus(-logits))
    return ops.mean(ops.softplus(logits))


def real_images_to_model_range(images_uint8, channels: int):
    """uint8 ``(B, H, W, 1)`` -> float32 in [-1, 1] with the gray channel repeated."""
    x = ops.cast(images_uint8, "float32") / 127.5 - 1.0
    return ops.repeat(x, channels, axis=-1) if channels > 1 else x


class GANOptimizers:
    """The two Adam optimizers, seen by the Keras trainer as one.

    Keras's JAX trainer threads ``model.optimizer.variables`` through the compiled step as
    state; a GAN has two optimizers, so this object presents their variables as one list
    (discriminator's first) and builds each on its own network's weights.
    """

    def __init__(self, d_optimizer, g_optimizer, d_variables, g_variables):
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self._d_variables = d_variables
        self._g_variables = g_variables

    @property
    def built(self) -> bool:
        return self.d_optimizer.built and self.g_optimizer.built

    def build(self, _variables=None) -> None:
        if not self.d_optimizer.built:
            self.d_optimizer.build(self._d_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self._g_variables)

    @property
    def variables(self) -> list:
        return list(self.d_optimizer.variables) + list(self.g_optimizer.variables)


class DCGAN(keras.Model):
    """Generator and discriminator trained adversarially with ``fit``.

    Args:
        generator: ``z -> image`` model (``cxr_gan.gan.models.build_generator``); z's length
            is read from its input.
        discriminator: ``image -> P(real)`` model with a layer named ``"logit"``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.channels = int(discriminator.input_shape[-1])
        # Training reads D's pre-sigmoid output; the saved discriminator keeps its sigmoid.
        self.discriminator_logits = keras.Model(
            discriminator.input, discriminator.get_layer("logit").output,
            name="discriminator_logits")
        if [v.path for v in self.discriminator_logits.variables] != [
                v.path for v in discriminator.variables]:
            raise ValueError("The discriminator's layers after 'logit' must hold no variables.")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}
        self._index_maps = None

    def call(self, z, training=False):
        return self.generator(z, training=training)

    @property
    def metrics(self):
        # Listed so that Keras resets them at each epoch start.
        return list(self.trackers.values())

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Sets the two optimizers and builds their state.

        Args:
            d_optimizer: Optimizer of the discriminator.
            g_optimizer: Optimizer of the generator.
        """
        super().compile(**kwargs)
        self.gan_optimizers = GANOptimizers(
            d_optimizer, g_optimizer,
            self.discriminator.trainable_variables, self.generator.trainable_variables,
        )
        self.gan_optimizers.build()
        self.optimizer = self.gan_optimizers
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.built = True

    @property
    def global_step(self) -> int:
        """Generator updates applied so far: the generator optimizer's own step counter (a
        checkpoint restores it with the other optimizer variables)."""
        from cxr_gan.checkpoints import keras_value

        return int(keras_value(self.g_optimizer.iterations))

    def state_variables(self) -> list:
        """Every variable a checkpoint must hold to continue training exactly.

        Generator and discriminator weights, batch-norm statistics and seed-generator state
        (dropout), then both optimizers' slots and iteration counters, in a fixed order.
        """
        return (
            list(self.generator.variables)
            + list(self.discriminator.variables)
            + list(self.gan_optimizers.variables)
        )

    # ------------------------------------------------------------------ train steps
    def train_step(self, *args):
        # The batch arrives as the ``(inputs,)`` tuple the data pipeline yields.
        *state, data = args
        data = data[0] if isinstance(data, (tuple, list)) else data
        args = (*state, data)
        if keras.backend.backend() == "jax":
            return self._train_step_jax(*args)
        if keras.backend.backend() == "tensorflow":
            return self._train_step_tensorflow(*args)
        raise NotImplementedError(
            f"DCGAN supports the tensorflow and jax backends. Received: {keras.backend.backend()}"
        )

    def _train_step_tensorflow(self, data):
        import tensorflow as tf  # Only reached under KERAS_BACKEND=tensorflow.

        # Under tf.distribute each replica sees 1/n of the batch and the optimizers sum the
        # replicas' gradients: dividing each loss by n makes that sum the gradient of the
        # global-batch mean, as on one device (n = 1 without a strategy).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        real = real_images_to_model_range(data["real"], self.channels)
        generator, discriminator = self.generator, self.discriminator_logits
        with tf.GradientTape() as tape:
            fake = generator(data["z_d"], training=True)
            l_real = discriminator(real, training=True)
            l_fake = discriminator(fake, training=True)
            d_loss_real = binary_cross_entropy_from_logits(1.0, l_real)
            d_loss_fake = binary_cross_entropy_from_logits(0.0, l_fake)
            d_loss = (d_loss_real + d_loss_fake) / replicas
        grads = tape.gradient(d_loss, discriminator.trainable_variables)
        self.d_optimizer.apply(grads, discriminator.trainable_variables)
        with tf.GradientTape() as tape:
            l_gen = discriminator(generator(data["z_g"], training=True), training=True)
            g_loss = binary_cross_entropy_from_logits(1.0, l_gen)
            scaled_g_loss = g_loss / replicas
        grads = tape.gradient(scaled_g_loss, generator.trainable_variables)
        self.g_optimizer.apply(grads, generator.trainable_variables)
        values = self._metric_values(d_loss_real, d_loss_fake, g_loss, l_real, l_fake)
        if replicas > 1:
            # Replica-local means -> global-batch means (equal slices), as logged on one device.
            context = tf.distribute.get_replica_context()
            values = {name: context.all_reduce(tf.distribute.ReduceOp.MEAN, value)
                      for name, value in values.items()}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @staticmethod
    def _metric_values(d_loss_real, d_loss_fake, g_loss, l_real, l_fake) -> dict:
        # D(x) > 0.5 exactly when its logit is > 0.
        return {
            "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake,
            "g_loss": g_loss,
            "d_acc_real": ops.mean(ops.cast(l_real > 0, "float32")),
            "d_acc_fake": ops.mean(ops.cast(l_fake < 0, "float32")),
        }

    # -- JAX: the same step, written statelessly -------------------------------------------
    def _build_index_maps(self) -> dict:
        """Positions of G's and D's variables in the model-level state lists (by identity)."""

        def positions(model_vars, part_vars):
            where = {id(v): i for i, v in enumerate(model_vars)}
            return [where[id(v)] for v in part_vars]

        return {
            "g_train": positions(self.trainable_variables, self.generator.trainable_variables),
            "d_train": positions(self.trainable_variables,
                                 self.discriminator_logits.trainable_variables),
            "g_non": positions(self.non_trainable_variables,
                               self.generator.non_trainable_variables),
            "d_non": positions(self.non_trainable_variables,
                               self.discriminator_logits.non_trainable_variables),
            "n_d_opt": len(self.d_optimizer.variables),
        }

    def _split_state(self, state) -> dict:
        """The trainer's ``(trainable, non_trainable, optimizer, metrics)`` state -> G's and
        D's parts by name."""
        if self._index_maps is None:
            self._index_maps = self._build_index_maps()
        maps = self._index_maps
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        return {
            "g_train": [trainable[i] for i in maps["g_train"]],
            "d_train": [trainable[i] for i in maps["d_train"]],
            "g_non": [non_trainable[i] for i in maps["g_non"]],
            "d_non": [non_trainable[i] for i in maps["d_non"]],
            "d_opt": optimizer_vars[: maps["n_d_opt"]],
            "g_opt": optimizer_vars[maps["n_d_opt"]:],
            "metrics": metrics_vars,
        }

    def _join_state(self, state, parts: dict) -> tuple:
        """Inverse of ``_split_state``: the updated parts put back in the trainer's order."""
        maps = self._index_maps
        trainable, non_trainable = list(state[0]), list(state[1])
        for key, target in (("g_train", trainable), ("d_train", trainable),
                            ("g_non", non_trainable), ("d_non", non_trainable)):
            for i, value in zip(maps[key], parts[key]):
                target[i] = value
        return (trainable, non_trainable, list(parts["d_opt"]) + list(parts["g_opt"]),
                parts["metrics"])

    def _update_metrics_jax(self, metrics_vars, values: dict):
        """Stateless update of the epoch means; returns ``(logs, new metric variables)``."""
        logs, new_vars, start = {}, [], 0
        for name, tracker in self.trackers.items():
            count = len(tracker.variables)
            tracker_vars = tracker.stateless_update_state(metrics_vars[start:start + count],
                                                          values[name])
            logs[name] = tracker.stateless_result(tracker_vars)
            new_vars.extend(tracker_vars)
            start += count
        return logs, new_vars

    def _train_step_jax(self, state, data):
        import jax  # Only reached under KERAS_BACKEND=jax.

        parts = self._split_state(state)
        # discriminator_logits shares D's layers, so it takes D's variable lists as they are.
        generator, discriminator = self.generator, self.discriminator_logits
        real = real_images_to_model_range(data["real"], self.channels)
        g_train = parts["g_train"]

        def d_loss_fn(d_train, g_non, d_non):
            fake, g_non = generator.stateless_call(g_train, g_non, data["z_d"], training=True)
            l_real, d_non = discriminator.stateless_call(d_train, d_non, real, training=True)
            l_fake, d_non = discriminator.stateless_call(d_train, d_non, fake, training=True)
            d_loss_real = binary_cross_entropy_from_logits(1.0, l_real)
            d_loss_fake = binary_cross_entropy_from_logits(0.0, l_fake)
            aux = (d_loss_real, d_loss_fake, l_real, l_fake, g_non, d_non)
            return d_loss_real + d_loss_fake, aux

        (_, aux), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            parts["d_train"], parts["g_non"], parts["d_non"])
        d_loss_real, d_loss_fake, l_real, l_fake, parts["g_non"], parts["d_non"] = aux
        parts["d_train"], parts["d_opt"] = self.d_optimizer.stateless_apply(
            parts["d_opt"], d_grads, parts["d_train"])
        d_train = parts["d_train"]

        def g_loss_fn(g_train, g_non, d_non):
            fake, g_non = generator.stateless_call(g_train, g_non, data["z_g"], training=True)
            l_gen, d_non = discriminator.stateless_call(d_train, d_non, fake, training=True)
            return binary_cross_entropy_from_logits(1.0, l_gen), (g_non, d_non)

        (g_loss, (parts["g_non"], parts["d_non"])), g_grads = jax.value_and_grad(
            g_loss_fn, has_aux=True)(g_train, parts["g_non"], parts["d_non"])
        parts["g_train"], parts["g_opt"] = self.g_optimizer.stateless_apply(
            parts["g_opt"], g_grads, g_train)

        values = self._metric_values(d_loss_real, d_loss_fake, g_loss, l_real, l_fake)
        logs, parts["metrics"] = self._update_metrics_jax(parts["metrics"], values)
        return logs, self._join_state(state, parts)


def make_gan(preset, seed: int, synchronized_bn: bool = False,
             mixed_precision: bool = False) -> DCGAN:
    """The compiled GAN of ``preset``: both networks seeded with ``seed``, Adam with the
    preset's learning rates and ``beta_1`` for each. Training and restoring use this one
    factory, so a restored GAN has the optimizers it was trained with."""
    from cxr_gan.gan.models import build_discriminator, build_generator, dtype_policy

    with dtype_policy(mixed_precision):
        generator = build_generator(preset, seed=seed, synchronized_bn=synchronized_bn)
        discriminator = build_discriminator(preset, seed=seed, synchronized_bn=synchronized_bn)
    gan = DCGAN(generator, discriminator, name="dcgan")
    gan.compile(
        d_optimizer=keras.optimizers.Adam(preset.d_learning_rate, beta_1=preset.beta_1,
                                          name="d_adam"),
        g_optimizer=keras.optimizers.Adam(preset.g_learning_rate, beta_1=preset.beta_1,
                                          name="g_adam"),
    )
    return gan
