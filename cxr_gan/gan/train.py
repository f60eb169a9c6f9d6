"""One GAN training run: data -> DCGAN -> checkpoints, history, figures and saved models.

Run directory (``--out``)::

    config.json            resolved GANRunConfig + data counts, backend and versions
    manifest.csv           every training file read: used, or skipped with the reason
    data_report.json       split counts, duplicate groups, patients shared across splits
    history.csv            one row an epoch (the paper's Fig. 6 quantities; with
                           --fid-every also fid_768, kid and fid_seconds where computed)
    checkpoints/           ckpt-STEP.npz, the two newest kept, each written atomically
    figures/               loss_accuracy.png (Fig. 6), samples_epoch_NNNN.png (Fig. 5),
                           fid.png (with --fid-every)
    generator.keras        written at the end; loads with plain keras.models.load_model
                           (the EMA generator when the run has one)
    generator_raw.keras    the trained (not averaged) generator, with --ema only
    generator_best.keras   the generator at the lowest FID-768 so far, with --fid-every only
    discriminator.keras
    tensorboard/           event files, with --tensorboard only

A run is resumable from any checkpoint, including one written mid-epoch on Ctrl-C: the batches
are a pure function of the global step (``cxr_gan.gan.batches``), so the continued run sees the
same data and noise, and on a CPU with determinism on it ends bitwise equal to an uninterrupted
run.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from cxr_gan import checkpoints, plots
from cxr_gan.backend import backend_versions, set_determinism, skip_failing_remapper
from cxr_gan.cli import OptionError, UserError
from cxr_gan.data import datasets, resolve_data
from cxr_gan.fid.metrics import history_columns as history_metric_columns
from cxr_gan.gan.batches import GANBatches, GANStepRange
from cxr_gan.gan.config import (IDENTITY_FIELDS, GANRunConfig, get_preset, run_config_from_dict,
                                run_fingerprint, with_options)
from cxr_gan.gan.dcgan import metric_names, make_gan
from cxr_gan.gan.distribute import Replicas, check_divisible, data_parallel
from cxr_gan.gan.generate import generated_to_uint8
from cxr_gan.gan.models import build_discriminator, build_generator, dtype_policy
from cxr_gan.gan.tracking import FIDTracker, TensorBoardWriter, check_tensorboard_available
from cxr_gan.io import (atomic_write_text, cache_dir, csv_text, read_json, to_jsonable,
                        write_json)
from cxr_gan.rundir import remove_stale_temporaries, run_lock

N_SAMPLES = 16
FID_COLUMNS = history_metric_columns() + ("fid_seconds",)


def history_columns(config: GANRunConfig) -> tuple[str, ...]:
    """The columns of ``history.csv`` for a run of ``config``."""
    columns = ("epoch", "steps", "seconds") + metric_names(config.preset.options)
    return columns + FID_COLUMNS if config.fid_every else columns


class NonFiniteLossError(UserError, RuntimeError):
    """Training produced a NaN or Inf loss; the last good checkpoint is kept."""


class RunDirectoryError(UserError, ValueError):
    """The run directory cannot be used as asked (exists without --resume, or vice versa)."""


@dataclasses.dataclass(frozen=True)
class GANRunResult:
    run_dir: Path
    history: list[dict[str, float]]
    global_step: int
    interrupted: bool
    stop_signal: int | None = None  # The signal that stopped an interrupted run.


def provenance(config: GANRunConfig) -> str:
    """The one-line 'what produced this' text printed on every figure."""
    data = "SYNTHETIC PHANTOMS (not radiographs)" if config.synthetic else config.data
    return (
        f"data: {data} | split: {config.split} train {config.label} | preset: "
        f"{config.preset.name} | seed: {config.seed} | resize: {config.resize_filter} | "
        f"backend: {config.backend}"
    )


def resolve_label(config: GANRunConfig) -> str:
    """The class the run learns: ``config.label`` after checking it names a class, or (None)
    the smallest class of the split's training part; a packed folder's own class.

    Raises:
        DataLayoutError: The label names no class of the data set.
    """
    pack = datasets.read_pack(config.data)
    if pack is not None:
        return config.label or pack["label"]
    records = datasets.scan(config.data, config.patient_pattern)
    return datasets.chosen_class(records, config.split, config.split_seed, config.label,
                                 subset=config.subset)


def prepare_training_images(config: GANRunConfig, strict: bool = False):
    """Scans the data, splits it and decodes the training images of ``config.label`` (less the
    validation shares of ``config.validation_seeds``). A packed data folder (``datasets.
    PACK_MARKER``, an accelerator's copy of one split's training images) gives its files.

    Returns:
        ``(LoadedImages, report)`` where report describes splits and duplicates.
    """
    if config.label is None:
        config = dataclasses.replace(config, label=resolve_label(config))
    pack = datasets.read_pack(config.data)
    if pack is not None:
        chosen = datasets.packed_records(config.data, pack, config.split, config.split_seed,
                                        config.label, config.validation_seeds)
        records, parts = chosen, {"train": chosen}
        counts, left_out = pack["counts"], pack["left_out_validation"]
    else:
        records = datasets.scan(config.data, config.patient_pattern)
        parts, chosen, left_records = datasets.select_training(
            records, config.split, config.split_seed, config.label, config.validation_seeds,
            config.subset, config.data)
        _, outside_subset = datasets.split_for_run(records, config.split, config.split_seed,
                                                   config.subset, config.data)
        counts, left_out = datasets.split_counts(parts), len(left_records)
    loaded = datasets.load_images(datasets.base_dir(config.data), chosen, "train", config.preset.image_size,
                                 config.resize_filter, strict=strict)
    if pack is None:
        folders = ("train",) if config.split == "official" else None
        loaded = dataclasses.replace(loaded, manifest_rows=loaded.manifest_rows
                                     + datasets.left_out_manifest_rows(left_records,
                                                                      config.validation_seeds)
                                     + datasets.subset_manifest_rows(
                                         outside_subset, config.subset, (config.label,))
                                     + datasets.skipped_manifest_rows(config.data, (config.label,),
                                                                     folders))
    groups = datasets.duplicate_groups(datasets.base_dir(config.data), records)
    classes = datasets.classes_of(records)
    report = {
        "data": config.data,
        "synthetic": config.synthetic,
        "kind": "packed" if pack else datasets.describe(config.data).kind,
        "classes": list(classes),
        "packed_from": pack["source"] if pack else None,
        "split": config.split,
        "split_seed": config.split_seed,
        "counts": counts,
        "training_images": {"label": config.label, "used": len(loaded.paths),
                            "skipped": loaded.n_skipped, "left_out_validation": left_out,
                            "validation_seeds": list(config.validation_seeds)},
        "training_subset": config.subset.describe() or "all",
        "duplicate_groups": len(groups),
        "duplicate_groups_across_splits": datasets.cross_split_duplicates(groups, parts),
        "test_images_with_patient_in_train": datasets.patients_shared(parts),
    }
    return loaded, report


def _history_text(rows, columns: Sequence[str]) -> str:
    def cell(row, key):
        if row.get(key) is None:
            return ""  # FID columns at epochs without an evaluation.
        return int(row[key]) if key in ("epoch", "steps") else repr(float(row[key]))

    return csv_text(columns, ([cell(row, k) for k in columns] for row in rows))


class _RunRecorder(keras.callbacks.Callback):
    """Per-epoch bookkeeping: history, NaN guard, checkpoints, figures; Ctrl-C and SIGTERM.

    Ctrl-C (SIGINT) or SIGTERM (what schedulers send before SIGKILL) sets a flag; the run stops
    after the step in flight, so the saved state is that of a whole step. A second signal
    interrupts at once. An epoch cut by a stop keeps its metric sums, step count and seconds in
    the checkpoint (``partial_epoch``), and the resumed run carries on from them, so its history
    row covers the whole epoch.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer: "Trainer", partial: dict | None = None):
        super().__init__()
        self.trainer = trainer
        self.stop_signal: int | None = None
        self.non_finite: dict[str, float] | None = None
        self.partial = partial  # A partial epoch restored from a checkpoint, until applied.
        self._epoch_start = 0.0
        self._epoch_steps = 0

    @property
    def interrupted(self) -> bool:
        return self.stop_signal is not None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_steps = 0
        if self.partial and self.partial["epoch"] == epoch + 1:
            # After Keras reset the epoch's metrics: put back the sums of the steps done
            # before the stop, so the epoch's means cover every step.
            for name, values in self.partial["trackers"].items():
                for variable, value in zip(self.trainer.gan.trackers[name].variables, values):
                    variable.assign(np.asarray(value, dtype=variable.dtype))
            self._epoch_steps = int(self.partial["steps"])
            self._epoch_start -= float(self.partial["seconds"])
        self.partial = None

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_steps += 1
        if self.interrupted:
            self.model.stop_training = True

    def partial_epoch(self) -> dict:
        """The cut epoch's state for a mid-epoch checkpoint."""
        trackers = self.trainer.gan.trackers
        return {
            "epoch": self.trainer.global_step // self.trainer.config.steps_per_epoch + 1,
            "steps": self._epoch_steps,
            "seconds": time.perf_counter() - self._epoch_start,
            "trackers": {name: [float(checkpoints.keras_value(v)) for v in tracker.variables]
                         for name, tracker in trackers.items()},
        }

    def on_epoch_end(self, epoch, logs=None):
        if self.interrupted and self.trainer.global_step % self.trainer.config.steps_per_epoch:
            return  # A partial epoch: its state is saved as a mid-epoch checkpoint instead.
        # A signal during the epoch's last step, or after it, leaves a whole epoch: its row
        # is recorded like any other (else the checkpoint saved on the way out would lack it),
        # and no new epoch starts.
        if self.interrupted:
            self.model.stop_training = True
        names = metric_names(self.trainer.config.preset.options)
        values = {name: float(logs[name]) for name in names}
        if not all(math.isfinite(v) for v in values.values()):
            self.non_finite = {"epoch": epoch + 1, **values}
            self.model.stop_training = True
            return
        row = {"epoch": epoch + 1, "steps": self._epoch_steps,
               "seconds": time.perf_counter() - self._epoch_start, **values}
        self.trainer.record_epoch(row)

    def handle_signal(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.stop_signal = signum
        name = "Interrupted" if signum == signal.SIGINT else \
            f"Received {signal.Signals(signum).name}"
        print(f"\n{name}: finishing the current step, then saving a checkpoint (a second "
              "signal stops at once without one).", file=sys.stderr, flush=True)


class Trainer:
    """One run's models, data and files; ``run`` trains to the configured epoch. Public for the
    benchmarks, which time its loop on random images; ``train_gan`` adds the lock, the data,
    resume and the run files."""

    def __init__(self, config: GANRunConfig, run_dir: Path, loaded, verbose: int,
                 replicas: Replicas | None = None, cache: Path | None = None):
        self.config = config
        self.run_dir = run_dir
        self.loaded = loaded
        self.verbose = verbose
        self.replicas = replicas
        preset = config.preset
        self.gan = make_gan(preset, config.seed,
                            synchronized_bn=bool(replicas and replicas.synchronized_batch_norm),
                            mixed_precision=config.mixed_precision)
        self.generator, self.discriminator = self.gan.generator, self.gan.discriminator
        self.batches = GANBatches(loaded.images, preset, seed=config.seed)
        self.history: list[dict[str, float]] = []
        self.partial_epoch: dict | None = None
        sample_rng = np.random.default_rng([config.seed, 7])
        self.sample_noise = sample_rng.standard_normal((N_SAMPLES, preset.latent_dim),
                                                       dtype=np.float32)
        self.sample_real = loaded.images[:N_SAMPLES, ..., 0]
        self.fid_tracker = None
        if config.fid_every:
            training_files = [datasets.base_dir(config.data) / path for path in loaded.paths]
            self.fid_tracker = FIDTracker(training_files, config.fid_images, config.seed,
                                          cache_dir(cache) / "fid")
        self.tensorboard = TensorBoardWriter(run_dir) if config.tensorboard else None

    # -- state -----------------------------------------------------------------------------
    @property
    def global_step(self) -> int:
        return self.gan.global_step

    def save_checkpoint(self, partial_epoch: dict | None = None) -> Path:
        meta = {"config": to_jsonable(self.config), "fingerprint": run_fingerprint(self.config),
                "history": self.history, "partial_epoch": partial_epoch}
        return checkpoints.save_checkpoint(self.run_dir, self.gan.state_variables(),
                                           self.global_step, meta)

    def restore_newest_good(self) -> Path | None:
        """Restores the newest intact checkpoint of this run (``checkpoints``'s rules); None
        when there is none yet."""
        restored = checkpoints.restore_newest_good(self.run_dir, self.gan.state_variables(),
                                                   run_fingerprint(self.config))
        if restored is None:
            return None
        path, header = restored
        completed = self.global_step // self.config.steps_per_epoch
        self.history = [row for row in header["history"] if row["epoch"] <= completed]
        partial = header.get("partial_epoch")
        self.partial_epoch = partial if partial and partial["epoch"] == completed + 1 else None
        return path

    def record_epoch(self, row: dict[str, float]) -> None:
        epoch = int(row["epoch"])
        if self.fid_tracker and (epoch % self.config.fid_every == 0
                                 or epoch == self.config.epochs):
            self.track_fid(row)
        self.history.append(row)
        atomic_write_text(self.run_dir / "history.csv",
                          _history_text(self.history, history_columns(self.config)))
        if self.tensorboard:
            self.tensorboard.scalars(row, self.global_step)
        if epoch % self.config.checkpoint_every == 0 or epoch == self.config.epochs:
            self.save_checkpoint()
            self.write_figures(epoch)

    def track_fid(self, row: dict[str, float]) -> None:
        """Adds FID-768 and KID to ``row``; keeps the best generator so far."""
        best = min((r["fid_768"] for r in self.history if r.get("fid_768") is not None),
                   default=math.inf)
        row.update(self.fid_tracker.score(self.gan.sampling_generator))
        scores = ", ".join(f"{column} {row[column]:.4f}" for column in history_metric_columns())
        print(f"Epoch {int(row['epoch'])}: {scores} ({row['fid_seconds']:.0f} s)",
              file=sys.stderr, flush=True)
        if row["fid_768"] < best:
            checkpoints.atomic_save_keras(self.portable_models()[0],
                                          self.run_dir / "generator_best.keras")
        plots.plot_fid_history(self.history + [row], provenance(self.config),
                               self.run_dir / "figures" / "fid.png")

    def write_figures(self, epoch: int) -> None:
        generated = generated_to_uint8(
            np.asarray(self.gan.sampling_generator.predict_on_batch(self.sample_noise)))
        label = " [SYNTHETIC DATA]" if self.config.synthetic else ""
        plots.plot_samples(self.sample_real, generated,
                           f"Real {self.config.label} vs generated, epoch {epoch}{label}",
                           provenance(self.config),
                           self.run_dir / "figures" / f"samples_epoch_{epoch:04d}.png")
        plots.plot_gan_history(self.history, provenance(self.config),
                               self.run_dir / "figures" / "loss_accuracy.png")
        if self.tensorboard:
            self.tensorboard.image_grid("samples", plots.image_grid(generated, 4),
                                        self.global_step)

    def portable_models(self) -> tuple[keras.Model, keras.Model]:
        """The sampling generator (EMA when there is one) and the discriminator as saved:
        without synchronized batch norm, which is TensorFlow-only and would stop the
        ``.keras`` files loading under JAX."""
        if not (self.replicas and self.replicas.synchronized_batch_norm):
            return self.gan.sampling_generator, self.discriminator
        preset, seed = self.config.preset, self.config.seed
        with dtype_policy(self.config.mixed_precision):
            generator = build_generator(preset, seed=seed)
            discriminator = build_discriminator(preset, seed=seed)
        generator.set_weights(self.generator.get_weights())
        discriminator.set_weights(self.discriminator.get_weights())
        return generator, discriminator

    # -- training --------------------------------------------------------------------------
    def run(self) -> GANRunResult:
        spe = self.config.steps_per_epoch
        start_step = self.global_step
        recorder = _RunRecorder(self, self.partial_epoch)
        previous = {s: signal.signal(s, recorder.handle_signal) for s in recorder.SIGNALS}
        try:
            while self.global_step < self.config.epochs * spe and not (
                recorder.interrupted or recorder.non_finite
            ):
                epoch, position = divmod(self.global_step, spe)
                # A run resumed mid-epoch first finishes that epoch on its own.
                last_epoch = epoch + 1 if position else self.config.epochs
                self.gan.fit(
                    GANStepRange(self.batches, self.global_step, last_epoch * spe),
                    steps_per_epoch=spe - position if position else spe,
                    initial_epoch=epoch,
                    epochs=last_epoch,
                    callbacks=[recorder],
                    verbose=self.verbose,
                    shuffle=False,
                )
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if recorder.non_finite:
            found = checkpoints.list_checkpoints(self.run_dir)
            last = found[-1][1] if found else "none yet"
            raise NonFiniteLossError(
                f"Non-finite loss at epoch {recorder.non_finite['epoch']}: "
                + ", ".join(f"{k}={v}" for k, v in recorder.non_finite.items() if k != "epoch")
                + f". Training stopped; the last good checkpoint is kept ({last}). "
                "Lower the learning rates or check the data, then resume with --resume."
            )
        if recorder.interrupted:
            partial = recorder.partial_epoch() if self.global_step % spe else None
            path = self.save_checkpoint(partial)
            print(f"Saved {path}; continue with --resume.", file=sys.stderr)
        elif self.global_step > start_step or not (self.run_dir / "generator.keras").is_file():
            self.save_models()
        else:
            print(f"{self.run_dir} has already trained to epoch {self.config.epochs}: nothing to "
                  "do (give a larger --epochs to extend it).", file=sys.stderr)
        return GANRunResult(self.run_dir, self.history, self.global_step, recorder.interrupted,
                            recorder.stop_signal)

    def save_models(self) -> None:
        generator, discriminator = self.portable_models()
        checkpoints.atomic_save_keras(generator, self.run_dir / "generator.keras")
        checkpoints.atomic_save_keras(discriminator, self.run_dir / "discriminator.keras")
        if self.gan.ema_generator is not None:
            checkpoints.atomic_save_keras(self.generator, self.run_dir / "generator_raw.keras")


def resume_config(run_dir: Path | str, epochs: int | None = None) -> GANRunConfig:
    """The stored config of the run in ``run_dir``, with ``epochs`` when given (else the run's
    own target): what ``--resume`` goes on with.

    Raises:
        RunDirectoryError: ``run_dir`` holds no run (no ``config.json``).
    """
    config_path = Path(run_dir) / "config.json"
    if not config_path.is_file():
        raise RunDirectoryError(f"Nothing to resume: {config_path} does not exist. Start "
                                "the run without --resume.")
    saved = run_config_from_dict(read_json(config_path))
    return saved if epochs is None else dataclasses.replace(saved, epochs=epochs)


def _config_to_run(config: GANRunConfig, run_dir: Path, resume: bool) -> GANRunConfig:
    """The config a run goes on with. Resuming: the stored one, with ``config``'s epochs and
    its checkpoint, FID and TensorBoard settings; a ``config`` that differs in an identity
    field (seed, preset, data, split, ...) is refused. New: ``config``, in a folder that holds
    no run."""
    if resume:
        saved = resume_config(run_dir)
        # A label left to be chosen (None) is the one the run chose.
        asked = config if config.label is not None else dataclasses.replace(
            config, label=saved.label)
        changed = [f"{name} {getattr(asked, name)!r} (the run's: {getattr(saved, name)!r})"
                   for name in IDENTITY_FIELDS if getattr(asked, name) != getattr(saved, name)]
        if changed:
            raise RunDirectoryError(
                f"--resume continues {run_dir} as it was configured; this differs: "
                + "; ".join(changed) + ". Leave those options out, or choose a new --out.")
        return dataclasses.replace(
            saved, epochs=config.epochs, checkpoint_every=config.checkpoint_every,
            fid_every=config.fid_every, fid_images=config.fid_images,
            tensorboard=config.tensorboard)
    if (run_dir / "config.json").exists() or checkpoints.list_checkpoints(run_dir):
        raise RunDirectoryError(
            f"{run_dir} already holds a run. Continue it with --resume, or choose a new --out."
        )
    return config


def _check_same_data(config: GANRunConfig, run_dir: Path, data_digest: str) -> None:
    """Refuses a resume whose training images changed since the run started."""
    if config.data_digest and config.data_digest != data_digest:
        raise RunDirectoryError(
            f"The training images of {run_dir} changed since the run started (files added, "
            f"removed or altered under {config.data}): the run cannot continue on other data. "
            "Restore the data, or start a new run with a new --out.")


def _check_not_shrinking(config: GANRunConfig, run_dir: Path, global_step: int) -> None:
    """Refuses an ``epochs`` below what the run has already trained."""
    if global_step > config.epochs * config.steps_per_epoch:
        done = global_step / config.steps_per_epoch
        raise RunDirectoryError(
            f"{run_dir} has trained {done:g} epochs (global step {global_step}); --epochs "
            f"{config.epochs} would shrink it. Give --epochs >= {math.ceil(done)}, or leave "
            "it out to keep the run's target.")


def _restore_for_resume(trainer: "Trainer", run_dir: Path) -> None:
    """Restores the newest good checkpoint (or none: the run starts from step 0) and checks
    the target; says which."""
    path = trainer.restore_newest_good()
    _check_not_shrinking(trainer.config, run_dir, trainer.global_step)
    print(f"Resuming from {path} (global step {trainer.global_step})." if path else
          f"No checkpoint yet in {run_dir / checkpoints.CHECKPOINT_DIR}: starting the run from "
          "the beginning with its config.json.", file=sys.stderr)


def _write_run_files(run_dir: Path, config: GANRunConfig, loaded, report: dict,
                     replicas: Replicas) -> None:
    """``manifest.csv``, ``data_report.json`` and the resolved ``config.json``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "manifest.csv", datasets.manifest_csv_text(loaded.manifest_rows))
    write_json(run_dir / "data_report.json", report)
    resolved: dict[str, Any] = to_jsonable(config)
    resolved["versions"] = backend_versions()
    resolved["training_images"] = len(loaded.paths)
    resolved["replicas"] = {"engine": replicas.engine, "devices": list(replicas.devices)}
    write_json(run_dir / "config.json", resolved, sort_keys=True)


def _check_options(config: GANRunConfig) -> None:
    """Refuses combinations this implementation does not support, before any work."""
    options = config.preset.options
    if config.data_parallel and options != dataclasses.replace(type(options)(),
                                                               sources=options.sources):
        raise OptionError("--data-parallel supports the plain DCGAN only: leave out --loss, "
                          "--r1, --spectral-norm, --diffaugment, --ada-target and --ema, or "
                          "train on one device.")
    if options.gradient_penalty and config.preset.real_batch != config.preset.fake_batch:
        raise OptionError("--loss wgan-gp interpolates real and fake images pairwise: the "
                          "preset's real and fake batches must be equal.")
    if config.tensorboard:
        check_tensorboard_available()


def train_gan(config: GANRunConfig, run_dir: Path | str, resume: bool = False,
              strict: bool = False, verbose: int | str = "auto",
              cache: Path | str | None = None) -> GANRunResult:
    """Trains (or resumes) a GAN run in ``run_dir``, holding its lock throughout.

    Args:
        config: The run's config. With ``resume``, its identity fields (``IDENTITY_FIELDS``)
            must equal the stored ones; ``epochs`` and the checkpoint, FID and TensorBoard
            settings are taken from it (``resume_config`` gives the stored config).
        run_dir: The run directory; created if new.
        resume: Continue from the newest good checkpoint in ``run_dir``; without one yet, start
            the stored run from the beginning.
        strict: Treat any unreadable training image as fatal.
        verbose: Keras progress output (``"auto"``: a bar on a terminal, a line an epoch else).
        cache: Cache folder (FID weights and statistics); default ``$CXR_GAN_CACHE``.

    Raises:
        RunLockedError: Another live process writes ``run_dir``.
        RunDirectoryError: ``run_dir`` holds a run and ``resume`` is off; ``resume`` is on and
            there is no run, or the config, the data or a shrinking ``epochs`` is refused.
        NoUsableCheckpointError: Every checkpoint was damaged or foreign (moved aside).
        NonFiniteLossError: A loss became NaN or Inf.
    """
    run_dir = Path(run_dir)
    with run_lock(run_dir, on_stop="saves a checkpoint"):
        remove_stale_temporaries(run_dir)
        config = _config_to_run(config, run_dir, resume)
        config = dataclasses.replace(config, label=resolve_label(config))
        _check_options(config)
        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2
        set_determinism(config.seed, config.deterministic)
        skip_failing_remapper()
        loaded, report = prepare_training_images(config, strict=strict)
        digest = datasets.files_digest(datasets.base_dir(config.data), loaded.paths)
        if resume:
            _check_same_data(config, run_dir, digest)
        else:
            config = dataclasses.replace(
                config, steps_per_epoch=GANBatches(loaded.images, config.preset,
                                                   config.seed).steps_per_epoch,
                backend=keras.backend.backend())
        config = dataclasses.replace(config, data_digest=digest)  # Runs made before it: set.
        with data_parallel(config.data_parallel) as replicas:
            # Checked before anything is written, so a refused run leaves no run directory.
            check_divisible(config.preset, replicas.count)
            trainer = Trainer(config, run_dir, loaded, verbose, replicas, cache)
            if resume:
                _restore_for_resume(trainer, run_dir)
            # Written only now: a resume's config.json changes after its checkpoint passed.
            _write_run_files(run_dir, config, loaded, report, replicas)
            return trainer.run()


def make_run_config(data: str | None, preset: str | None, epochs: int | None,
                    batch_size: int | None = None, split: str = "official", split_seed: int = 0,
                    seed: int = 0, resize_filter: str = "bilinear", checkpoint_every: int = 10,
                    deterministic: bool = True, data_parallel: bool = False,
                    mixed_precision: bool = False, cache_dir: str | None = None,
                    options: dict[str, Any] | None = None, fid_every: int = 0,
                    fid_images: int = 1000, tensorboard: bool = False,
                    validation_seeds: tuple[int, ...] = (), label: str | None = None,
                    patient_pattern: str | None = None, train_size: int | None = None,
                    class_caps: tuple[tuple[str, int], ...] = ()) -> GANRunConfig:
    """Resolves user options into a ``GANRunConfig``.

    Without ``data`` the embedded synthetic phantoms are made (once) and used, with the
    ``phantoms`` preset unless another is named; with ``data`` the default preset is ``paper``.
    ``options`` changes fields of the preset's ``GANOptions`` (``None`` values keep the
    preset's), each recorded with its source. ``validation_seeds``: the classifier seeds whose
    validation shares the GAN leaves out (default (): none, every training image of the class,
    as the paper; ``train_gan.py --exclude-validation`` defaults to the classifier's seed 0).
    ``label``: the class learned (None: the smallest class of the split's training part,
    chosen when the run starts, ``resolve_label``).
    """
    source = resolve_data(data, cache_dir)
    chosen = get_preset(preset or ("phantoms" if data is None else "paper"))
    try:
        chosen = with_options(chosen, **(options or {}))
    except ValueError as error:
        raise OptionError(str(error)) from None
    if batch_size is not None:
        if batch_size < 2:
            raise OptionError(f"--batch-size must be >= 2. Received: {batch_size}")
        # Keep the preset's ratio of discriminator to generator batch (paper-code: 64+64 / 128).
        d_batch = max(1, batch_size * chosen.real_batch // chosen.g_batch)
        chosen = dataclasses.replace(chosen, g_batch=batch_size, real_batch=d_batch,
                                     fake_batch=d_batch)
    if epochs is not None and epochs < 1:
        raise OptionError(f"--epochs must be >= 1. Received: {epochs}")
    if checkpoint_every < 1:
        raise OptionError(f"--checkpoint-every must be >= 1. Received: {checkpoint_every}")
    return GANRunConfig(
        preset=chosen, data=str(source.root), synthetic=source.synthetic, split=split,
        split_seed=split_seed, epochs=epochs or chosen.epochs, seed=seed,
        resize_filter=resize_filter, checkpoint_every=checkpoint_every,
        deterministic=deterministic, data_parallel=data_parallel,
        mixed_precision=mixed_precision, fid_every=fid_every, fid_images=fid_images,
        tensorboard=tensorboard, validation_seeds=tuple(validation_seeds), label=label,
        patient_pattern=patient_pattern, train_size=train_size,
        class_caps=tuple(class_caps),
    )


def summarize(result: GANRunResult) -> str:
    """A short, self-describing summary of a finished (or interrupted) run."""
    config = read_json(result.run_dir / "config.json")
    state = "interrupted" if result.interrupted else "finished"
    lines = [f"GAN run {state}: {result.run_dir} (global step {result.global_step})"]
    if config.get("synthetic"):
        lines.append("  DATA ARE SYNTHETIC PHANTOMS: these numbers say nothing about radiographs.")
    lines.append(f"  data {config['data']} | split {config['split']} | preset "
                 f"{config['preset']['name']} | seed {config['seed']} | backend "
                 f"{config['backend']} | {config['training_images']} training images")
    if result.history:
        last = result.history[-1]
        names = metric_names(run_config_from_dict(config).preset.options)
        lines.append("  last epoch " + ", ".join(
            f"{k}={last[k]:.4g}" for k in ("epoch",) + names))
        scored = [row for row in result.history if row.get("fid_768") is not None]
        if scored:
            best = min(scored, key=lambda row: row["fid_768"])
            lines.append(f"  best FID-768 {best['fid_768']:.4f} at epoch {best['epoch']} "
                         f"(generator_best.keras); last {scored[-1]['fid_768']:.4f}")
        seconds = [row["seconds"] for row in result.history]
        lines.append(f"  median seconds per epoch: {float(np.median(seconds)):.2f}")
    return "\n".join(lines)


def restore_generator(run_dir: Path | str) -> tuple[keras.Model, int]:
    """The generator of a run at its newest checkpoint, and that checkpoint's global step.

    Useful for sampling an interrupted run, which has checkpoints but no ``generator.keras``.
    """
    run_dir = Path(run_dir)
    config = run_config_from_dict(read_json(run_dir / "config.json"))
    found, damaged = checkpoints.stored_steps(run_dir)  # Ordered by the step each holds.
    if not found and not damaged:
        raise RunDirectoryError(f"No checkpoint in {run_dir / checkpoints.CHECKPOINT_DIR}.")
    gan = make_gan(config.preset, config.seed, mixed_precision=config.mixed_precision)
    errors = [reason for _, reason in damaged]
    for _, path in reversed(found):  # Read-only: a bad checkpoint is reported, not moved.
        try:
            checkpoints.load_checkpoint(path, gan.state_variables(), run_fingerprint(config))
            return gan.sampling_generator, gan.global_step
        except (checkpoints.DamagedCheckpointError, checkpoints.CheckpointMismatchError) as error:
            print(f"warning: {error}", file=sys.stderr)
            errors.append(str(error))
    raise checkpoints.NoUsableCheckpointError("No usable checkpoint: " + "; ".join(errors))
