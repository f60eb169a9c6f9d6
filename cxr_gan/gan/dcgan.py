"""The DCGAN as a ``keras.Model`` with its own ``compile`` and ``train_step``.

One step, for any preset (Goodfellow et al. 2014; Radford et al. 2016):

1. Discriminator, ``n_critic`` times (1 unless WGAN-GP): ``d_loss = real term(D(A(x))) + fake
   term(D(A(G(z_d)))) [+ penalty]`` on a real batch and a separate fake batch (as DCGAN does, so
   that batch-norm statistics are never mixed across real and fake), then one Adam step on D.
   The terms are those of the preset's loss (``cxr_gan.gan.losses``; non-saturating by
   default: BCE from the logits), the penalty R1 or WGAN-GP's, A DiffAugment's transforms
   (``cxr_gan.gan.augment``; the identity when off). With FastGAN's self-supervision
   (``options.reconstruction``) D's loss adds the decoders' L1 reconstruction of the real
   batch from D's features (``cxr_gan.gan.fastgan``; a random quarter per image, given by the
   batch's ``crop``).
2. ADA: p follows the sign of D's logits on the step's real images.
3. Generator: ``g_loss = loss(D(A(G(z_g))))``, one Adam step on G; then the EMA generator
   moves toward G.

With the default options this is the paper's Eq. 1 in its non-saturating form (maximise
log D(G(z)) rather than minimise log(1 - D(G(z)))), the usual reading of Eq. 1 and what both
DCGAN's and the authors' code do.

The batch holds uint8 real images ``(B, n_critic, H, W, 1)``, the noise batches and, when the
options need them, DiffAugment's parameters and WGAN-GP's interpolation weights
(``cxr_gan.gan.batches``); the step maps the images to [-1, 1] and replicates the gray channel,
on the device. Feeding every random number from the data pipeline (rather than drawing it in
the step) makes each step a pure function of ``(seed, global step)``: identical inputs under
TensorFlow and JAX, and exactly resumable.

Under JAX the step is written statelessly (``stateless_call`` / ``stateless_apply``), as the
JAX trainer requires; under TensorFlow with ``GradientTape``. Both share the loss code below;
neither path imports the other backend. Metrics per epoch (the paper's Fig. 6):
``d_loss_real``, ``d_loss_fake``, ``g_loss``, ``d_acc_real`` (share of real images with
logit > 0, i.e. D > 0.5) and ``d_acc_fake`` (share of fakes with logit < 0); with a penalty
also ``penalty``, with ADA ``ada_p`` and ``ada_r_t``.

One backend difference: ``keras.layers.SpectralNormalization`` writes the normalised kernel
back into the layer's variable during a TensorFlow training call (the projected form of
tf-addons), while inside JAX's ``stateless_call`` that write stays local to the call, so the
stored kernel is the unnormalised one and gradients pass through the normalisation (Miyato et
al.'s reparameterisation). Both keep the kernel D uses at spectral norm ~1.
"""

from __future__ import annotations

import contextlib
import functools

import keras
from keras import ops

from cxr_gan.gan import fastgan, losses
from cxr_gan.gan.augment import ada_step, diff_augment
from cxr_gan.gan.config import GANOptions

METRIC_NAMES = ("d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake")


def metric_names(options: GANOptions) -> tuple[str, ...]:
    """The per-epoch metrics of a GAN trained with ``options``."""
    names = METRIC_NAMES
    if options.r1_gamma > 0 or options.gradient_penalty or options.lecam > 0:
        names += ("penalty",)
    if options.ada_target is not None:
        names += ("ada_p", "ada_r_t")
    if options.reconstruction > 0:
        names += ("reconstruction",)
    return names


def real_images_to_model_range(images_uint8, channels: int):
    """uint8 ``(B, H, W, 1)`` -> float32 in [-1, 1] with the gray channel repeated."""
    x = ops.cast(images_uint8, "float32") / 127.5 - 1.0
    return ops.repeat(x, channels, axis=-1) if channels > 1 else x


def ema_decay_at(step, decay: float):
    """EMA decay at generator step ``step`` (>= 1): ``min(decay, (1 + t) / (10 + t))``."""
    step = ops.cast(step, "float32")
    return ops.minimum(decay, (1.0 + step) / (10.0 + step))

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
        options: Loss, penalties, augmentation, EMA (``GANOptions``; defaults: plain DCGAN).
        ema_generator: A second generator of the same architecture, averaged toward
            ``generator`` after each step; required when ``options.ema_decay`` is set.
        decoders: FastGAN's self-supervision decoders (``cxr_gan.gan.models.build_decoders``),
            trained with D on its features of real images; required when
            ``options.reconstruction`` > 0.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 options: GANOptions = GANOptions(), ema_generator: keras.Model | None = None,
                 decoders: keras.Model | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.options = options
        self.channels = int(discriminator.input_shape[-1])
        # Training reads D's pre-sigmoid output; the saved discriminator keeps its sigmoid.
        self.discriminator_logits = keras.Model(
            discriminator.input, discriminator.get_layer("logit").output,
            name="discriminator_logits")
        if [v.path for v in self.discriminator_logits.variables] != [
                v.path for v in discriminator.variables]:
            raise ValueError("The discriminator's layers after 'logit' must hold no variables.")
        if (options.ema_decay is None) != (ema_generator is None):
            raise ValueError("Give `ema_generator` exactly when `options.ema_decay` is set.")
        self.ema_generator = ema_generator
        if ema_generator is not None:
            ema_generator.trainable = False
        if (options.reconstruction > 0) != (decoders is not None):
            raise ValueError("Give `decoders` exactly when `options.reconstruction` > 0.")
        self.decoders = decoders
        self.discriminator_features = None
        if decoders is not None:
            from cxr_gan.gan.models import discriminator_features

            self.discriminator_features = discriminator_features(discriminator)
        # ADA starts at p = 0; without ADA the transforms always apply.
        self.augment_p = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(
                0.0 if options.ada_target is not None else 1.0),
            trainable=False, name="augment_p") if options.augments else None
        # LeCam's moving averages of D's mean logit on real and on fake images.
        self.lecam_averages = self.add_weight(
            shape=(2,), initializer="zeros", trainable=False,
            name="lecam_averages") if options.lecam > 0 else None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names(options)}
        self._index_maps = None

    @property
    def sampling_generator(self) -> keras.Model:
        """The generator that samples, is scored and is saved: the EMA one when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, z, training=False):
        return self.sampling_generator(z, training=training)

    @property
    def metrics(self):
        # Listed so that Keras resets them at each epoch start.
        return list(self.trackers.values())

    @property
    def d_trainable_variables(self) -> list:
        """What D's optimizer updates: D's weights, then the decoders' (when there are)."""
        decoders = self.decoders.trainable_variables if self.decoders is not None else []
        return list(self.discriminator_logits.trainable_variables) + list(decoders)

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Sets the two optimizers and builds their state.

        Args:
            d_optimizer: Optimizer of the discriminator.
            g_optimizer: Optimizer of the generator.
        """
        super().compile(**kwargs)
        self.gan_optimizers = GANOptimizers(
            d_optimizer, g_optimizer,
            self.d_trainable_variables, self.generator.trainable_variables,
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

        Generator and discriminator weights, batch-norm statistics, spectral-norm vectors and
        seed-generator state (dropout), both optimizers' slots and iteration counters, then
        ADA's p, the EMA generator, the decoders and LeCam's averages when the options have
        them, in a fixed order. (Runs
        without options keep the checkpoint layout they always had.)
        """
        extra = [self.augment_p] if self.augment_p is not None else []
        if self.ema_generator is not None:
            extra += list(self.ema_generator.variables)
        if self.decoders is not None:
            extra += list(self.decoders.variables)
        if self.lecam_averages is not None:
            extra.append(self.lecam_averages)
        return (
            list(self.generator.variables)
            + list(self.discriminator.variables)
            + list(self.gan_optimizers.variables)
            + extra
        )

    # ------------------------------------------------------------------ shared loss code
    def _augment(self, x, params, p):
        if params is None or not self.options.augments:
            return x
        return diff_augment(x, params, p, self.options.diffaugment)

    @staticmethod
    def _params(data, key: str, critic: int | None):
        if key not in data:
            return None
        return data[key] if critic is None else data[key][:, critic]

    def _reconstruction(self, seen, features, crop, decode):
        """FastGAN's term: ``decode`` the 8x8 features and the ``crop`` quarter of the 16x16
        ones, L1 against what D saw (``cxr_gan.gan.fastgan``)."""
        feat16, feat8 = features
        whole, part = decode([feat8, fastgan.select_quarter(feat16, crop)])
        return self.options.reconstruction * fastgan.reconstruction_l1(whole, part, seen, crop)

    def _discriminator_loss(self, data, critic: int, generate, logits, lecam_averages=None):
        """D's loss for critic update ``critic``; ``generate(z)`` and ``logits(x, params,
        need_grad, crop=None) -> (logits, d sum(logits) / dx or None, reconstruction term or
        None)`` are the backend's calls (the term only where ``crop`` is given)."""
        options = self.options
        real = real_images_to_model_range(data["real"][:, critic], self.channels)
        fake = generate(data["z_d"][:, critic])
        crop = self._params(data, "crop", critic)
        l_real, real_grads, reconstruction = logits(
            real, self._params(data, "aug_real", critic), options.r1_gamma > 0, crop)
        l_fake, _, _ = logits(fake, self._params(data, "aug_fake", critic), False)
        real_term, fake_term = losses.discriminator_terms(options.loss, l_real, l_fake)
        penalty = ops.zeros((), "float32")
        if options.r1_gamma > 0:
            penalty = losses.r1_penalty(real_grads, options.r1_gamma)
        if options.lecam > 0:
            penalty = penalty + losses.lecam_penalty(l_real, l_fake, lecam_averages[0],
                                                     lecam_averages[1], options.lecam)
        if options.gradient_penalty:
            mixed = losses.interpolate(real, ops.cast(fake, real.dtype), data["alpha"][:, critic])
            _, mixed_grads, _ = logits(mixed, None, True)
            penalty = penalty + losses.gradient_penalty(mixed_grads, options.gp_weight)
        d_loss = real_term + fake_term + penalty
        if reconstruction is None:
            reconstruction = ops.zeros((), "float32")
        else:
            d_loss = d_loss + reconstruction
        return d_loss, (real_term, fake_term, penalty, l_real, l_fake, reconstruction)

    def _generator_loss(self, data, generate, logits):
        fake = generate(data["z_g"])
        l_gen, _, _ = logits(fake, self._params(data, "aug_gen", None), False)
        return losses.generator_loss(self.options.loss, l_gen)

    def _metric_values(self, d_terms, g_loss, p=None, r_t=None) -> dict:
        real_term, fake_term, penalty, l_real, l_fake, reconstruction = d_terms
        values = {
            "d_loss_real": real_term,
            "d_loss_fake": fake_term,
            "g_loss": g_loss,
            "d_acc_real": ops.mean(ops.cast(l_real > 0, "float32")),
            "d_acc_fake": ops.mean(ops.cast(l_fake < 0, "float32")),
            "penalty": penalty,
            "ada_p": p,
            "ada_r_t": r_t,
            "reconstruction": reconstruction,
        }
        return {name: values[name] for name in self.trackers}

    def _n_real_images(self, data):
        return ops.cast(ops.shape(data["real"])[0] * self.options.n_critic, "float32")

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

    # -- TensorFlow ------------------------------------------------------------------------
    def _tensorflow_logits(self, x, params, need_grad: bool, crop=None):
        import tensorflow as tf  # Only reached under KERAS_BACKEND=tensorflow.

        p = self.augment_p
        decode = crop is not None and self.decoders is not None
        inner = tf.GradientTape() if need_grad else contextlib.nullcontext()
        with inner:
            if need_grad:
                inner.watch(x)
            seen = self._augment(x, params, p)
            if decode:
                logits, *features = self.discriminator_features(seen, training=True)
            else:
                logits = self.discriminator_logits(seen, training=True)
            summed = tf.reduce_sum(logits)
        grads = inner.gradient(summed, x) if need_grad else None
        reconstruction = None
        if decode:
            reconstruction = self._reconstruction(
                seen, features, crop, lambda inputs: self.decoders(inputs, training=True))
        return logits, grads, reconstruction

    def _train_step_tensorflow(self, data):
        import tensorflow as tf  # Only reached under KERAS_BACKEND=tensorflow.

        # Under tf.distribute each replica sees 1/n of the batch and the optimizers sum the
        # replicas' gradients: dividing each loss by n makes that sum the gradient of the
        # global-batch mean, as on one device (n = 1 without a strategy).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        generate = lambda z: self.generator(z, training=True)  # noqa: E731
        d_variables = self.d_trainable_variables
        for critic in range(self.options.n_critic):
            with tf.GradientTape() as tape:
                d_loss, d_terms = self._discriminator_loss(data, critic, generate,
                                                           self._tensorflow_logits,
                                                           self.lecam_averages)
                scaled_d_loss = d_loss / replicas
            self.d_optimizer.apply(tape.gradient(scaled_d_loss, d_variables), d_variables)
            if self.lecam_averages is not None:
                self.lecam_averages.assign(losses.lecam_averages(
                    self.lecam_averages, d_terms[3], d_terms[4]))
        p = r_t = None
        if self.options.ada_target is not None:
            p, r_t = ada_step(self.augment_p, d_terms[3], self.options.ada_target,
                              self._n_real_images(data), self.options.ada_kimg)
            self.augment_p.assign(p)
        with tf.GradientTape() as tape:
            g_loss = self._generator_loss(data, generate, self._tensorflow_logits)
            scaled_g_loss = g_loss / replicas
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(scaled_g_loss, g_variables), g_variables)
        if self.ema_generator is not None:
            beta = ema_decay_at(self.g_optimizer.iterations, self.options.ema_decay)
            for average, current in zip(self.ema_generator.variables, self.generator.variables):
                average.assign(beta * average + (1.0 - beta) * current
                               if current.trainable else current)
        values = self._metric_values(d_terms, g_loss, p, r_t)
        if replicas > 1:
            # Replica-local means -> global-batch means (equal slices), as logged on one device.
            context = tf.distribute.get_replica_context()
            values = {name: context.all_reduce(tf.distribute.ReduceOp.MEAN, value)
                      for name, value in values.items()}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # -- JAX: the same step, written statelessly -------------------------------------------
    def _build_index_maps(self) -> dict:
        """Positions of G's and D's variables in the model-level state lists (by identity)."""

        def positions(model_vars, part_vars):
            where = {id(v): i for i, v in enumerate(model_vars)}
            return [where[id(v)] for v in part_vars]

        maps = {
            "g_train": positions(self.trainable_variables, self.generator.trainable_variables),
            "d_train": positions(self.trainable_variables, self.d_trainable_variables),
            "g_non": positions(self.non_trainable_variables,
                               self.generator.non_trainable_variables),
            "d_non": positions(self.non_trainable_variables, self._d_non_trainable_variables()),
            "n_d_opt": len(self.d_optimizer.variables),
            "g_iterations": positions(self.g_optimizer.variables,
                                      [self.g_optimizer.iterations])[0],
        }
        if self.augment_p is not None:
            maps["augment_p"] = positions(self.non_trainable_variables, [self.augment_p])
        if self.lecam_averages is not None:
            maps["lecam"] = positions(self.non_trainable_variables, [self.lecam_averages])
        if self.ema_generator is not None:
            maps["ema"] = positions(self.non_trainable_variables, self.ema_generator.variables)
            # Where each generator variable sits in G's trainable or non-trainable part.
            train_at = {id(v): i for i, v in enumerate(self.generator.trainable_variables)}
            non_at = {id(v): i for i, v in enumerate(self.generator.non_trainable_variables)}
            maps["ema_sources"] = [("g_train", train_at[id(v)]) if v.trainable
                                   else ("g_non", non_at[id(v)])
                                   for v in self.generator.variables]
        return maps

    def _d_non_trainable_variables(self) -> list:
        decoders = self.decoders.non_trainable_variables if self.decoders is not None else []
        return list(self.discriminator_logits.non_trainable_variables) + list(decoders)

    def _split_state(self, state) -> dict:
        """The trainer's ``(trainable, non_trainable, optimizer, metrics)`` state -> G's and
        D's parts (and ADA's p, the EMA weights) by name."""
        if self._index_maps is None:
            self._index_maps = self._build_index_maps()
        maps = self._index_maps
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        parts = {
            "g_train": [trainable[i] for i in maps["g_train"]],
            "d_train": [trainable[i] for i in maps["d_train"]],
            "g_non": [non_trainable[i] for i in maps["g_non"]],
            "d_non": [non_trainable[i] for i in maps["d_non"]],
            "d_opt": optimizer_vars[: maps["n_d_opt"]],
            "g_opt": optimizer_vars[maps["n_d_opt"]:],
            "metrics": metrics_vars,
        }
        for key in ("augment_p", "ema", "lecam"):
            if key in maps:
                parts[key] = [non_trainable[i] for i in maps[key]]
        return parts

    def _join_state(self, state, parts: dict) -> tuple:
        """Inverse of ``_split_state``: the updated parts put back in the trainer's order."""
        maps = self._index_maps
        trainable, non_trainable = list(state[0]), list(state[1])
        targets = (("g_train", trainable), ("d_train", trainable), ("g_non", non_trainable),
                   ("d_non", non_trainable), ("augment_p", non_trainable),
                   ("ema", non_trainable), ("lecam", non_trainable))
        for key, target in targets:
            for i, value in zip(maps.get(key, ()), parts.get(key, ())):
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

    def _jax_calls(self, g_train, d_train, state: dict, p):
        """``generate`` and ``logits`` as stateless calls that thread the non-trainable
        variables through ``state`` (a dict the traced function owns). ``d_train`` and
        ``state["d_non"]`` hold D's variables, then the decoders' (when there are)."""
        import jax  # Only reached under KERAS_BACKEND=jax.

        generator = self.generator
        n_train = len(self.discriminator_logits.trainable_variables)
        n_non = len(self.discriminator_logits.non_trainable_variables)

        def generate(z):
            out, state["g_non"] = generator.stateless_call(g_train, state["g_non"], z,
                                                           training=True)
            return out

        def call(seen, d_non, decode: bool):
            model = self.discriminator_features if decode else self.discriminator_logits
            out, new_non = model.stateless_call(d_train[:n_train], d_non[:n_non], seen,
                                                training=True)
            return out, list(new_non) + list(d_non[n_non:])

        def decode_call(inputs):
            d_non = state["d_non"]
            out, new_non = self.decoders.stateless_call(d_train[n_train:], d_non[n_non:],
                                                        inputs, training=True)
            state["d_non"] = list(d_non[:n_non]) + list(new_non)
            return out

        def logits(x, params, need_grad, crop=None):
            decode = crop is not None and self.decoders is not None

            def forward(x):
                seen = self._augment(x, params, p)
                out, d_non = call(seen, state["d_non"], decode)
                logits_, features = (out[0], out[1:]) if decode else (out, None)
                return ops.sum(logits_), (logits_, features, seen, d_non)

            if need_grad:
                grads, (out, features, seen, state["d_non"]) = jax.grad(
                    forward, has_aux=True)(x)
            else:
                grads = None
                _, (out, features, seen, state["d_non"]) = forward(x)
            reconstruction = None
            if decode:
                reconstruction = self._reconstruction(seen, features, crop, decode_call)
            return out, grads, reconstruction

        return generate, logits

    def _train_step_jax(self, state, data):
        import jax  # Only reached under KERAS_BACKEND=jax.

        parts = self._split_state(state)
        p = parts["augment_p"][0] if "augment_p" in parts else None

        def d_loss_fn(d_train, g_non, d_non, critic):
            owned = {"g_non": g_non, "d_non": d_non}
            generate, logits = self._jax_calls(parts["g_train"], d_train, owned, p)
            averages = parts["lecam"][0] if "lecam" in parts else None
            d_loss, d_terms = self._discriminator_loss(data, critic, generate, logits, averages)
            return d_loss, (d_terms, owned["g_non"], owned["d_non"])

        for critic in range(self.options.n_critic):
            (_, aux), d_grads = jax.value_and_grad(
                functools.partial(d_loss_fn, critic=critic), has_aux=True)(
                parts["d_train"], parts["g_non"], parts["d_non"])
            d_terms, parts["g_non"], parts["d_non"] = aux
            parts["d_train"], parts["d_opt"] = self.d_optimizer.stateless_apply(
                parts["d_opt"], d_grads, parts["d_train"])
            if "lecam" in parts:
                parts["lecam"] = [losses.lecam_averages(parts["lecam"][0], d_terms[3],
                                                        d_terms[4])]
        r_t = None
        if self.options.ada_target is not None:
            p, r_t = ada_step(p, d_terms[3], self.options.ada_target,
                              self._n_real_images(data), self.options.ada_kimg)
            parts["augment_p"] = [p]

        def g_loss_fn(g_train, g_non, d_non):
            owned = {"g_non": g_non, "d_non": d_non}
            generate, logits = self._jax_calls(g_train, parts["d_train"], owned, p)
            return self._generator_loss(data, generate, logits), (owned["g_non"], owned["d_non"])

        (g_loss, (parts["g_non"], parts["d_non"])), g_grads = jax.value_and_grad(
            g_loss_fn, has_aux=True)(parts["g_train"], parts["g_non"], parts["d_non"])
        parts["g_train"], parts["g_opt"] = self.g_optimizer.stateless_apply(
            parts["g_opt"], g_grads, parts["g_train"])
        if self.ema_generator is not None:
            parts["ema"] = self._ema_update_jax(parts)

        values = self._metric_values(d_terms, g_loss, p, r_t)
        logs, parts["metrics"] = self._update_metrics_jax(parts["metrics"], values)
        return logs, self._join_state(state, parts)

    def _ema_update_jax(self, parts: dict) -> list:
        maps = self._index_maps
        beta = ema_decay_at(parts["g_opt"][maps["g_iterations"]], self.options.ema_decay)
        updated = []
        for average, (kind, index) in zip(parts["ema"], maps["ema_sources"]):
            current = parts[kind][index]
            updated.append(beta * average + (1.0 - beta) * current
                           if kind == "g_train" else current)
        return updated


def make_gan(preset, seed: int, synchronized_bn: bool = False,
             mixed_precision: bool = False) -> DCGAN:
    """The compiled GAN of ``preset``: both networks seeded with ``seed`` (and an EMA copy of
    the generator when the options ask), Adam with the preset's learning rates and betas for
    each. Training and restoring use this one factory, so a restored GAN has the optimizers it
    was trained with."""
    from cxr_gan.gan.models import (build_decoders, build_discriminator, build_generator,
                                    dtype_policy)

    with dtype_policy(mixed_precision):
        generator = build_generator(preset, seed=seed, synchronized_bn=synchronized_bn)
        discriminator = build_discriminator(preset, seed=seed, synchronized_bn=synchronized_bn)
        # Same seed, so the average starts at the generator's initial weights.
        ema_generator = (build_generator(preset, seed=seed, synchronized_bn=synchronized_bn)
                         if preset.options.ema_decay is not None else None)
        decoders = (build_decoders(preset, discriminator, seed=seed,
                                   synchronized_bn=synchronized_bn)
                    if preset.options.reconstruction > 0 else None)
    gan = DCGAN(generator, discriminator, options=preset.options, ema_generator=ema_generator,
                decoders=decoders, name="dcgan")
    gan.compile(
        d_optimizer=keras.optimizers.Adam(preset.d_learning_rate, beta_1=preset.beta_1,
                                          beta_2=preset.beta_2, name="d_adam"),
        g_optimizer=keras.optimizers.Adam(preset.g_learning_rate, beta_1=preset.beta_1,
                                          beta_2=preset.beta_2, name="g_adam"),
    )
    return gan
