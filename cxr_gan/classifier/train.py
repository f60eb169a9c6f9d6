"""One classifier run: split + augmentation method -> trained Fig. 7 CNN -> test predictions.

Pure steps, then one writer: ``prepare_training_set`` (describe, split, decode, hold out the
validation share, top up every class below the largest), ``fit_and_predict`` (build, fit,
predict the test set), ``score`` (metrics and bootstrap intervals), ``write_run``.

Classes: any two or more (``cxr_gan.data.datasets``). Their index order is ``class_order``:
for two classes (negative, positive), the positive class ``--positive`` (default: PNEUMONIA
where a class is so named, else the second in sorted order) at index 1, so that Kermany's runs
are today's bit for bit; for more, sorted.

Run directory: ``config.json``, ``history.csv`` (``keras.callbacks.CSVLogger``: epochs counted
from 0), ``classifier.keras`` (loads with plain ``keras.models.load_model``),
``predictions.csv`` (``path,label,prob_<class>``, one row per test image: for two classes the
positive class's probability, e.g. ``prob_pneumonia``; for more, one column per class, names in
lower case), ``metrics.json`` (two classes: ``cxr_gan.evaluation.metrics.METRIC_KEYS`` at
threshold 0.5; more: ``multiclass_metrics``; rates as fractions, plus 95 % bootstrap intervals
under ``ci95``), ``manifest.csv``.

Training choices (each also in ``config.json`` with its reason, ``CHOICES``): Adam 1e-3, batch
32, at most ``epochs`` epochs with early stopping on the validation loss (patience 5, best
weights restored); the validation set is a stratified, seeded 10 % of the training split
taken before any augmentation; no class weights, because the top-up protocol already balances
the classes (and ``none`` trains on the imbalanced data, as the paper's baseline).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from cxr_gan.backend import backend_versions, set_determinism
from cxr_gan.checkpoints import atomic_save_keras
from cxr_gan.classifier.augment import (METHODS, PAPER_METHODS, AugmentConfig, get_method,
                                        on_the_fly_transform, top_up, uses_generator)
from cxr_gan.classifier.leak import check_generator_leak
from cxr_gan.classifier.model import build_classifier
from cxr_gan.classifier.online import ONLINE, OnlineAugmentation
from cxr_gan.cli import OptionError, UserError
from cxr_gan.data import datasets, kermany, resolve_data
from cxr_gan.data.images import RESIZE_FILTERS, read_grayscale
from cxr_gan.evaluation.metrics import (bootstrap_intervals, classification_metrics,
                                        multiclass_bootstrap_intervals, multiclass_metrics,
                                        probability_columns)
from cxr_gan.io import (atomic_write_bytes, atomic_write_text, json_text, list_images, read_json,
                        recorded_path, stored_file, to_jsonable, write_csv, write_json)
from cxr_gan.rundir import remove_stale_temporaries, run_lock

CHOICES = {
    "optimizer": "Adam(learning_rate) - the keras-io example the paper's model comes from uses Adam",
    "early_stopping": "val_loss, patience 5, restore best weights - stops overfitting of a "
                      "4.7M-parameter model on ~5k images without a fixed epoch count; with "
                      "--min-updates, the budget of epoch_budget (config.json's epoch_budget)",
    "validation": "stratified seeded 10% of the training split, before augmentation - no "
                  "test image guides training; the official val/ (16 images) is too small",
    "class_weights": "none - the top-up protocol balances the classes; 'none' keeps the "
                     "paper's imbalanced baseline",
    "input": "gray replicated on 3 channels, scaled to [0, 1]",
    "batch_norm_momentum": "0.9, not Keras's 0.99: with 0.99 the moving statistics stay near "
                           "their initial values in short runs and inference predicts one "
                           "constant (see cxr_gan/classifier/model.py)",
}


@dataclasses.dataclass(frozen=True)
class ClassifierRunConfig:
    """One classifier run (written as ``config.json``)."""

    data: str
    synthetic: bool
    method: str = "none"
    split: str = "official"
    split_seed: int = 0
    seed: int = 0
    image_size: int = 224
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation_fraction: float = datasets.VALIDATION_FRACTION
    patience: int = 5
    augment: AugmentConfig = AugmentConfig()
    generator: str | None = None
    gan_images: str | None = None
    resize_filter: str = "bilinear"
    on_the_fly: bool = False
    strict: bool = False
    backend: str = "tensorflow"
    patient_pattern: str | None = None
    positive: str | None = None
    classes: tuple[str, ...] = ()  # Resolved when the run starts (``class_order``).
    train_size: int | None = None  # --train-size (datasets.training_subset; None: all)
    class_caps: tuple[tuple[str, int], ...] = ()  # --cap
    min_updates: int | None = None  # --min-updates (epoch_budget; None: at most `epochs`)

    @property
    def subset(self) -> datasets.TrainingSubset:
        return datasets.TrainingSubset(self.train_size, tuple(map(tuple, self.class_caps)))

    def split_parts(self, records) -> tuple[dict, list]:
        """This run's split of ``records`` and the training records its subset leaves out."""
        return datasets.split_for_run(records, self.split, self.split_seed, self.subset,
                                      self.data)

    def __post_init__(self):
        if self.method not in METHODS:
            raise OptionError(f"--augment must name methods of {METHODS}. Received: "
                            f"{self.method!r}")
        if self.on_the_fly and not get_method(self.method).on_the_fly:
            raise OptionError(f"--on-the-fly applies a tf.image method while training; "
                             f"{self.method!r} is not one. Use the top-up protocol instead.")


class ImageBatches(keras.utils.PyDataset):
    """uint8 gray images -> float [0, 1] 3-channel batches, reshuffled each epoch (seeded).

    With ``transform`` (on-the-fly augmentation), each image of each batch is transformed
    with a generator seeded by (seed, epoch, position), so a run is reproducible.
    """

    def __init__(self, images, labels, batch_size, seed=None, transform=None, online=None,
                 n_classes=None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self.transform = transform
        self.online = online  # cxr_gan.classifier.online.OnlineAugmentation, or None
        self.n_classes = n_classes  # One-hot labels of this many classes (MixUp's targets).
        self.order = self._order()

    def _order(self):
        if self.seed is None:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.images[rows].astype(np.float32) / 255.0
        if self.transform is not None:
            rng = np.random.default_rng([self.seed or 0, self.epoch, index])
            x = np.stack([self.transform(image, rng) for image in x])
        y = self.labels[rows]
        if self.n_classes is not None:
            y = np.eye(self.n_classes, dtype=np.float32)[y]
        if self.online is not None:
            x, y = self.online(x, y, self.seed or 0, self.epoch, index)
        return np.repeat(x, 3, axis=-1), y

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()


def _generated_images(config: ClassifierRunConfig, n: int) -> np.ndarray | None:
    """``n`` GAN images at the classifier's size, uint8 ``(n, s, s, 1)``; None for other methods."""
    if not uses_generator(config.method):
        return None
    if config.gan_images:
        paths = list_images(config.gan_images)[:n]
        arrays = [read_grayscale(p, config.image_size, config.resize_filter) for p in paths]
        return np.stack(arrays)[..., None]
    if not config.generator:
        raise UserError(f"Method {config.method!r} needs --generator G.keras or --gan-images "
                        "DIR (made by `train_gan.py generate`).")
    from PIL import Image

    from cxr_gan.gan.generate import generate_uint8, load_generator

    images = generate_uint8(load_generator(config.generator), n, seed=config.seed)
    resized = [np.asarray(Image.fromarray(im, "L").resize(
        (config.image_size, config.image_size), RESIZE_FILTERS[config.resize_filter]))
        for im in images]
    return np.stack(resized)[..., None]


@dataclasses.dataclass(frozen=True)
class TrainingSet:
    """Everything a classifier run trains and is tested on (uint8 images, int labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_paths: tuple[str, ...]
    manifest_rows: tuple
    counts: dict
    patients_shared: int
    generator: dict | None = None  # The leak guard's record (``leak.check_generator_leak``).


def class_order(classes: Sequence[str], positive: str | None = None) -> tuple[str, ...]:
    """The classes in index order: two classes as (negative, positive), more sorted.

    Raises:
        OptionError: ``positive`` names no class, or is given for more than two classes.
    """
    classes = tuple(sorted(classes))
    if positive is not None and positive not in classes:
        raise OptionError(f"--positive {positive!r} names no class of this data set; its "
                          f"classes are {', '.join(classes)}.")
    if len(classes) != 2:
        if positive is not None:
            raise OptionError(f"--positive chooses the positive class of a two-class task; this "
                              f"data set has {len(classes)} classes ({', '.join(classes)}).")
        return classes
    if positive is None:
        positive = kermany.POSITIVE if kermany.POSITIVE in classes else classes[1]
    return tuple(c for c in classes if c != positive) + (positive,)


def _load_split(config: ClassifierRunConfig, parts: dict, name: str):
    """Decoded images, labels and manifest rows of one part of the split."""
    chosen = parts[name]
    loaded = datasets.load_images(datasets.base_dir(config.data), chosen, name,
                                  config.image_size, config.resize_filter, strict=config.strict)
    label_of = {r.path: config.classes.index(r.label) for r in chosen}
    return loaded, np.array([label_of[p] for p in loaded.paths])


def with_classes(config: ClassifierRunConfig) -> ClassifierRunConfig:
    """``config`` with its data set's classes in index order (``class_order``).

    Raises:
        DataLayoutError, OptionError: The data or ``--positive`` is wrong (one message).
    """
    data_set = datasets.describe(config.data, config.patient_pattern)
    return dataclasses.replace(config, classes=class_order(data_set.classes, config.positive))


def generator_class(config: ClassifierRunConfig, parts: dict) -> str | None:
    """The class a GAN method's images top up: the one its generator learned (its provenance),
    else the smallest class of the split's training part; None for other methods."""
    if not uses_generator(config.method):
        return None
    from cxr_gan.classifier.leak import read_provenance

    learned = None
    if config.generator or config.gan_images:
        learned = read_provenance(config.generator, config.gan_images).get("label")
    if learned is not None:
        if learned not in config.classes:
            raise UserError(f"The generator learned class {learned!r}, which this data set does "
                            f"not have (classes: {', '.join(config.classes)}).")
        return learned
    return datasets.smallest_class(parts["train"])


def top_up_counts(config: ClassifierRunConfig, y_train: np.ndarray,
                  gan_class: str | None) -> dict[str, int]:
    """Images added to each class below the largest: up to the largest's count (a GAN method:
    its generator's class only, the others are left as they are); 0 for ``none`` and
    ``--on-the-fly``."""
    counts = np.bincount(y_train, minlength=len(config.classes))
    largest = int(counts.max())
    adds = get_method(config.method).tops_up and not config.on_the_fly
    return {name: largest - int(counts[j]) if adds else 0
            for j, name in enumerate(config.classes)
            if counts[j] < largest and (gan_class is None or name == gan_class)}


def prepare_training_set(config: ClassifierRunConfig) -> TrainingSet:
    """Describes and splits the data, decodes it, holds out the validation share, tops up every
    class below the largest (``top_up_counts``)."""
    if not config.classes:
        config = with_classes(config)
    records = datasets.scan(config.data, config.patient_pattern)
    parts, outside_subset = config.split_parts(records)
    datasets.check_class_sizes(parts, config.data)
    generator = check_generator_leak(config, parts)  # Before any decoding or training.
    train, train_labels = _load_split(config, parts, "train")
    test, test_labels = _load_split(config, parts, "test")
    # Drawn over the split's records, before decoding: the share a generator must not see.
    held = datasets.validation_paths(parts["train"], [config.seed], config.validation_fraction)
    val_mask = np.array([path in held for path in train.paths])
    x_train, y_train = train.images[~val_mask], train_labels[~val_mask]
    kept = {name: int(np.sum(y_train == j)) for j, name in enumerate(config.classes)}
    gan_class = generator_class(config, parts)
    added = top_up_counts(config, y_train, gan_class)
    extras, extra_labels = [x_train], [y_train]
    for position, (name, n_extra) in enumerate((n, k) for n, k in added.items() if k):
        j = config.classes.index(name)
        source = x_train[y_train == j]
        made = top_up(source, n_extra, config.method, config.augment, config.seed,
                      _generated_images(config, n_extra), stream=position)
        extras.append(made)
        extra_labels.append(np.full(n_extra, j, int))
    if len(extras) > 1:
        x_train, y_train = np.concatenate(extras), np.concatenate(extra_labels)
    counts = {**kept, **{f"{name}_added": n for name, n in added.items()}}
    if gan_class is not None:
        counts["left_as_is"] = [name for name in config.classes
                                if name != gan_class and kept[name] < max(kept.values())]
    return TrainingSet(
        x_train=x_train, y_train=y_train, x_val=train.images[val_mask],
        y_val=train_labels[val_mask], x_test=test.images, y_test=test_labels,
        test_paths=test.paths,
        manifest_rows=(train.manifest_rows + test.manifest_rows
                       + datasets.subset_manifest_rows(outside_subset, config.subset)
                       + datasets.skipped_manifest_rows(config.data)),
        counts=counts, patients_shared=datasets.patients_shared(parts), generator=generator,
    )


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Inverse-frequency loss weights ``n / (k * n_j)`` (scikit-learn's ``"balanced"``), for
    the ``class-weight`` method."""
    from sklearn.utils.class_weight import compute_class_weight

    weights = compute_class_weight("balanced", classes=np.arange(n_classes), y=labels)
    return {j: float(w) for j, w in enumerate(weights)}


# Batch-norm moving statistics (momentum 0.9) keep 0.9**100 < 1e-4 of their initial values after
# this many updates: early stopping judges no epoch before it (a model that predicts the prior
# has the lowest validation loss at the start of a small run).
WARMUP_UPDATES = 100


@dataclasses.dataclass(frozen=True)
class EpochBudget:
    """Keras's ``fit(epochs=...)`` and ``EarlyStopping(patience=..., start_from_epoch=...)``."""

    epochs: int
    patience: int
    start_from_epoch: int


def epoch_budget(config: ClassifierRunConfig, n_train: int) -> EpochBudget:
    """Without ``min_updates``: at most ``epochs`` epochs, early stopping's ``patience`` from the
    first epoch. With it, a small training set is not given fewer updates than a large one: at
    least ``epochs`` epochs and ``min_updates`` updates; patience at least a quarter of those
    updates; no epoch judged before ``WARMUP_UPDATES`` (epochs counted from 0)."""
    if config.min_updates is None:
        return EpochBudget(config.epochs, config.patience, 0)
    steps = math.ceil(n_train / config.batch_size)
    epochs = max(config.epochs, math.ceil(config.min_updates / steps))
    return EpochBudget(
        epochs=epochs, patience=max(config.patience, math.ceil(config.min_updates / 4 / steps)),
        # The last epoch is judged even when fewer than WARMUP_UPDATES were asked for.
        start_from_epoch=min(math.ceil(WARMUP_UPDATES / steps), epochs) - 1)


@dataclasses.dataclass(frozen=True)
class FitResult:
    model: keras.Model
    budget: EpochBudget
    epochs_run: int
    seconds: float
    probabilities: np.ndarray


def fit_and_predict(config: ClassifierRunConfig, data: TrainingSet, callbacks: Sequence = (),
                    verbose: int = 2) -> FitResult:
    """Builds the Fig. 7 model, fits it with early stopping, predicts the test images' class
    probabilities ``(n, k)``."""
    spec = get_method(config.method)
    k = len(config.classes)
    model = build_classifier(config.image_size, seed=config.seed, n_classes=k)
    # MixUp blends labels: its targets are one-hot rows, hence the categorical loss.
    one_hot = k if spec.online == "mixup" else None
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="categorical_crossentropy" if one_hot else
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    transform = on_the_fly_transform(config.method, config.augment) if config.on_the_fly \
        else None
    online = OnlineAugmentation(spec.online) if spec.online else None
    budget = epoch_budget(config, len(data.y_train))
    start = time.perf_counter()
    history = model.fit(
        ImageBatches(data.x_train, data.y_train, config.batch_size, seed=config.seed,
                     transform=transform, online=online, n_classes=one_hot),
        validation_data=ImageBatches(data.x_val, data.y_val, config.batch_size,
                                     n_classes=one_hot),
        class_weight=class_weights(data.y_train, k) if spec.class_weighted else None,
        epochs=budget.epochs, verbose=verbose,
        callbacks=[keras.callbacks.EarlyStopping(
            "val_loss", patience=budget.patience, start_from_epoch=budget.start_from_epoch,
            restore_best_weights=True), *callbacks],
    )
    seconds = time.perf_counter() - start
    probabilities = model.predict(ImageBatches(data.x_test, data.y_test, 64), verbose=0)
    return FitResult(model, budget, len(history.history["loss"]), seconds, probabilities)


def score(labels: np.ndarray, probabilities: np.ndarray, seed: int,
          classes: Sequence[str] = ("NORMAL", "PNEUMONIA")) -> dict:
    """``metrics.json``, with bootstrap intervals under ci95: for two classes every metric of
    the positive class (index 1) at threshold 0.5; for more, ``multiclass_metrics``.
    ``probabilities``: ``(n, k)``, or ``(n,)`` of the positive class."""
    probabilities = np.asarray(probabilities)
    if len(classes) == 2:
        positive = probabilities[:, 1] if probabilities.ndim == 2 else probabilities
        metrics = classification_metrics(labels, positive)
        metrics["ci95"] = bootstrap_intervals(labels, positive, seed=seed)
        return metrics
    metrics = multiclass_metrics(labels, probabilities, classes)
    metrics["ci95"] = multiclass_bootstrap_intervals(labels, probabilities, classes, seed=seed)
    return metrics


def prediction_rows(data: TrainingSet, probabilities: np.ndarray, classes: Sequence[str]):
    """``predictions.csv``'s rows: path, true class, the ``probability_columns``."""
    shown = probabilities[:, 1:] if len(classes) == 2 else probabilities
    for path, label, row in zip(data.test_paths, data.y_test, shown):
        # repr reads back as the same value: exact.
        yield (path, classes[label], *(repr(float(p)) for p in row))


def write_run(run_dir: Path, config: ClassifierRunConfig, data: TrainingSet, fit: FitResult,
              metrics: dict) -> None:
    """Writes the run directory's files (``history.csv`` is written while fitting)."""
    resolved = to_jsonable(config)
    resolved.update({
        "choices": CHOICES, "train_counts": data.counts,
        "validation_images": len(data.y_val), "test_images": len(data.test_paths),
        "test_images_with_patient_in_train": data.patients_shared,
        "online_augmentation": ONLINE.get(get_method(config.method).online),
        "class_weights": (class_weights(data.y_train, len(config.classes))
                          if get_method(config.method).class_weighted else None),
        "generator": data.generator,
        "epoch_budget": dataclasses.asdict(fit.budget),
        "epochs_run": fit.epochs_run, "train_seconds": fit.seconds,
        "seconds_per_epoch": fit.seconds / max(1, fit.epochs_run),
        "versions": backend_versions(),
    })
    write_json(run_dir / "config.json", resolved)
    atomic_write_text(run_dir / "manifest.csv", datasets.manifest_csv_text(data.manifest_rows))
    write_csv(run_dir / "predictions.csv",
              ("path", "label") + probability_columns(config.classes),
              prediction_rows(data, fit.probabilities, config.classes))
    atomic_save_keras(fit.model, run_dir / "classifier.keras")
    write_json(run_dir / "metrics.json", metrics)


def train_classifier(config: ClassifierRunConfig, run_dir: Path | str,
                     verbose: int = 2) -> dict:
    """Trains one classifier and writes its run directory; returns ``metrics.json``'s dict."""
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        if (run_dir / "metrics.json").exists():
            raise UserError(f"{run_dir} already holds a finished run; choose a new --out.")
        remove_stale_temporaries(run_dir)
        config = dataclasses.replace(config, backend=keras.backend.backend())
        if not config.classes:
            config = with_classes(config)
        set_determinism(config.seed, deterministic=False)
        data = prepare_training_set(config)
        history = keras.callbacks.CSVLogger(str(run_dir / "history.csv"))
        fit = fit_and_predict(config, data, callbacks=[history], verbose=verbose)
        metrics = score(data.y_test, fit.probabilities, config.seed, config.classes)
        write_run(run_dir, config, data, fit, metrics)
        return metrics


def required_generated_images(config: ClassifierRunConfig, parts: dict) -> int:
    """How many generated images a GAN-method run of ``config`` on the split ``parts`` tops up
    with: the largest class's training images less its generator's class's, after the
    validation hold-out (from the file table, before decoding; a file that then fails to
    decode changes it by one at most)."""
    if not config.classes:
        config = with_classes(config)
    held = datasets.validation_paths(parts["train"], [config.seed], config.validation_fraction)
    kept = [r.label for r in parts["train"] if r.path not in held]
    gan_class = generator_class(config, parts)
    return max(0, max(kept.count(c) for c in config.classes) - kept.count(gan_class))


def check_inputs(configs: Sequence[ClassifierRunConfig]) -> None:
    """Every check of the runs' inputs that can fail, done before the first run trains: the
    data set and its classes' sizes, and for GAN methods a loadable generator or enough
    readable generated images.

    Raises:
        UserError: The message names the file or folder and the fix.
    """
    for config in configs:
        if not config.classes:
            config = with_classes(config)
        records = datasets.scan(config.data, config.patient_pattern)
        parts, _ = config.split_parts(records)
        datasets.check_class_sizes(parts, config.data)
        if not uses_generator(config.method):
            continue
        check_generator_leak(config, parts)
        needed = required_generated_images(config, parts)
        if config.gan_images:
            paths = list_images(config.gan_images)
            if len(paths) < needed:
                raise UserError(
                    f"--gan-images {config.gan_images} holds {len(paths)} images; method "
                    f"{config.method!r} on the {config.split} split tops up "
                    f"{generator_class(config, parts)} with "
                    f"{needed}. Generate at least that many (train_gan.py generate "
                    f"--num-images {needed}).")
            for path in paths[:needed]:
                read_grayscale(path, config.image_size, config.resize_filter)
        elif config.generator:
            from cxr_gan.gan.generate import load_generator

            load_generator(config.generator)
        else:
            raise UserError(f"Method {config.method!r} needs --generator G.keras or "
                            "--gan-images DIR (made by `train_gan.py generate`).")


# The options that make a finished run the one asked for: a comparison continued into its --out
# keeps a finished run only when all of these agree.
RUN_IDENTITY = ("data", "method", "seed", "split", "split_seed", "image_size", "epochs",
                "batch_size", "learning_rate", "on_the_fly", "resize_filter", "generator",
                "gan_images", "patient_pattern", "positive", "train_size", "class_caps",
                "min_updates")


def check_same_run(run_dir: Path, config: ClassifierRunConfig) -> None:
    """Refuses a finished run in ``run_dir`` made with other options than ``config``'s."""
    stored = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    asked = to_jsonable(config)
    for key in RUN_IDENTITY:
        if stored.get(key) != asked.get(key):
            raise UserError(
                f"{run_dir} holds a finished run with {key} = {stored.get(key)!r}; this command "
                f"asks for {asked.get(key)!r}. Its results would mix two protocols: give a new "
                "--out, or the options that run was made with.")


# What a finished run elsewhere must also share to be taken as this one (--reuse); its files,
# metrics last: that file marks a run done.
REUSE_IDENTITY = RUN_IDENTITY + ("patience", "validation_fraction", "augment", "classes")
REUSED_FILES = ("config.json", "history.csv", "predictions.csv", "metrics.json")


def _image_counts(train_counts: dict) -> dict[str, int]:
    """A run's ``train_counts`` without its ``left_as_is`` entry (class names, not images)."""
    return {k: v for k, v in train_counts.items()
            if isinstance(v, int) and not isinstance(v, bool)}


def images_per_epoch(train_counts: dict) -> int:
    """The images one epoch trains on, from a run's ``train_counts``: every class's count and
    the copies added to it."""
    return sum(_image_counts(train_counts).values())


def reuse_mismatch(stored: dict, config: ClassifierRunConfig) -> str | None:
    """Why the finished run whose ``config.json`` is ``stored`` is not the run ``config`` asks
    for, or None when it is. Fields a run made by an older version lacks take their defaults
    (its classes: its training counts' names). A run without ``min_updates`` is the same run when
    the epochs, patience and first judged epoch it had are what ``config``'s budget gives for
    its training images (``epoch_budget``: at the full size they agree)."""
    defaults = to_jsonable(ClassifierRunConfig(data="", synthetic=False))
    defaults["classes"] = sorted(k for k in _image_counts(stored.get("train_counts", {}))
                                 if not k.endswith("_added"))
    theirs, mine = {**defaults, **stored}, to_jsonable(config)
    for key in REUSE_IDENTITY:
        if key == "data" and theirs[key] and mine[key] and \
                Path(theirs[key]).resolve() == Path(mine[key]).resolve():
            continue
        if key == "min_updates" and theirs[key] is None:
            n_train = images_per_epoch(stored.get("train_counts", {}))
            had = EpochBudget(theirs["epochs"], theirs["patience"], 0)
            budget = epoch_budget(config, n_train)
            if had != budget:
                return (f"it had {had.epochs} epochs, patience {had.patience} from epoch 0; "
                        f"--min-updates {mine[key]} gives {budget.epochs}, patience "
                        f"{budget.patience} from epoch {budget.start_from_epoch}")
            continue
        if theirs[key] != mine[key]:
            return f"{key} = {theirs[key]!r}, not {mine[key]!r}"
    return None


def reuse_finished_run(config: ClassifierRunConfig, run_dir: Path,
                       sources: Sequence[str]) -> Path | None:
    """Copies the first finished run ``SOURCE/METHOD-sSEED`` of ``sources`` that is the run
    ``config`` asks for into ``run_dir`` (its ``config.json`` then says where it came from);
    returns that folder, or None (each refused one printed with its reason)."""
    for source in sources:
        found = Path(source) / f"{config.method}-s{config.seed}"
        files = [stored_file(found, name) for name in REUSED_FILES]
        if not all(path.is_file() for path in files):
            continue  # Not a finished run (metrics.json marks one; a copy takes all four).
        stored = read_json(found / "config.json")
        why = reuse_mismatch(stored, config)
        if why:
            print(f"  {found}: not reused ({why}).", flush=True)
            continue
        with run_lock(run_dir):
            for path in files:  # A gzipped table stays gzipped: the report reads either.
                data = path.read_bytes()
                if path.name == "config.json":
                    data = json_text({**stored, "reused_from": recorded_path(found.resolve())}
                                     ).encode("utf-8")
                atomic_write_bytes(run_dir / path.name, data)
        return found
    return None


def run_many(data: str | None, methods: Sequence[str], seeds: Sequence[int], out: str,
             verbose: int = 2, cache_dir: str | None = None, reuse: Sequence[str] = (),
             **options) -> list[tuple[str, int, dict]]:
    """Runs each (method, seed) one after another; prints one summary line each.

    ``methods`` may hold ``"all"`` (every method) or ``"paper"`` (the paper's eight), less the
    GAN ones when no GAN images are given.
    Every input is checked before the first run trains; a run whose folder already holds its
    results is kept and skipped, so an interrupted comparison continues where it stopped; a
    run finished in one of the ``reuse`` folders with the same options (``reuse_mismatch``) is
    copied, not trained again.
    """
    source = resolve_data(data, cache_dir)
    chosen = list(METHODS) if "all" in methods else list(methods)
    if "paper" in chosen:
        chosen = list(PAPER_METHODS) + [m for m in chosen if m not in PAPER_METHODS + ("paper",)]
    if not (options.get("generator") or options.get("gan_images")) and \
            ("all" in methods or "paper" in methods):
        chosen = [m for m in chosen if not uses_generator(m)]
        print("No --generator or --gan-images: the gan methods are left out.")
    several = len(chosen) * len(seeds) > 1
    runs = []
    for method, seed in ((m, s) for m in chosen for s in seeds):
        # --on-the-fly changes only the tf.image methods; the others keep the top-up protocol.
        on_the_fly = options.get("on_the_fly", False) and get_method(method).on_the_fly
        config = with_classes(ClassifierRunConfig(
            data=str(source.root), synthetic=source.synthetic, method=method, seed=seed,
            **{**options, "on_the_fly": on_the_fly}))
        runs.append((config, Path(out) / f"{method}-s{seed}" if several else Path(out)))
    check_inputs([config for config, _ in runs])
    results = []
    for index, (config, run_dir) in enumerate(runs):
        method, seed = config.method, config.seed
        prefix = f"[{index + 1}/{len(runs)}] {method} seed {seed}"
        if (run_dir / "metrics.json").is_file():
            check_same_run(run_dir, config)
            print(f"{prefix}: {run_dir} already holds this run's results; kept, not rerun.",
                  flush=True)
            results.append((method, seed, read_json(run_dir / "metrics.json")))
            continue
        found = reuse_finished_run(config, run_dir, reuse)
        if found:
            print(f"{prefix}: the same run is finished in {found}; copied to {run_dir}, not "
                  "rerun.", flush=True)
            results.append((method, seed, read_json(run_dir / "metrics.json")))
            continue
        print(f"{prefix} -> {run_dir}", flush=True)
        metrics = train_classifier(config, run_dir, verbose=verbose)
        label = " [SYNTHETIC DATA]" if config.synthetic else ""
        keys = (("auc", "auc_thresholded") if len(config.classes) == 2
                else ("balanced_accuracy", "macro_auc"))
        shown = " ".join(f"{key} {metrics[key]:.4f}" for key in ("accuracy", *keys))
        print(f"{method} seed {seed} split {config.split}{label}: {shown} -> {run_dir}")
        results.append((method, seed, metrics))
    return results
