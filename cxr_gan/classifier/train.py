"""One classifier run: split + augmentation method -> trained Fig. 7 CNN -> test predictions.

Run directory: ``config.json``, ``history.csv``, ``classifier.keras`` (loads with plain
``keras.models.load_model``), ``predictions.csv`` (``path,label,prob_pneumonia``, one row per
test image), ``metrics.json`` (``cxr_gan.evaluation.metrics.METRIC_KEYS`` at threshold 0.5,
rates as fractions, plus 95 % bootstrap intervals under ``ci95``), ``manifest.csv``.

Training choices (each also in ``config.json`` with its reason, ``CHOICES``): Adam 1e-3, batch
32, at most ``epochs`` epochs with early stopping on the validation loss (patience 5, best
weights restored); the validation set is a stratified, seeded 10 % of the training split
taken before any augmentation; no class weights, because the top-up protocol already balances
the classes (and ``none`` trains on the imbalanced data, as the paper's baseline).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from pathlib import Path

import keras
import numpy as np

from cxr_gan.backend import backend_versions, set_determinism
from cxr_gan.classifier.augment import METHODS, AugmentConfig, top_up
from cxr_gan.classifier.model import CLASS_NAMES, build_classifier
from cxr_gan.config import to_jsonable
from cxr_gan.data import kermany
from cxr_gan.data.images import read_grayscale
from cxr_gan.data.phantoms import is_phantom_dataset
from cxr_gan.evaluation.metrics import bootstrap_intervals, classification_metrics
from cxr_gan import runs

CHOICES = {
    "optimizer": "Adam(learning_rate) - the keras-io example the paper's model comes from uses Adam",
    "early_stopping": "val_loss, patience 5, restore best weights - stops overfitting of a "
                      "4.7M-parameter model on ~5k images without a fixed epoch count",
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
    validation_fraction: float = 0.1
    patience: int = 5
    augment: AugmentConfig = AugmentConfig()
    generator: str | None = None
    gan_images: str | None = None
    resize_filter: str = "bilinear"
    on_the_fly: bool = False
    backend: str = "tensorflow"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}. Received: {self.method!r}")
        if self.on_the_fly and self.method in ("none", "gan", "gan+crop"):
            raise ValueError(f"--on-the-fly applies a tf.image method while training; "
                             f"{self.method!r} is not one. Use the top-up protocol instead.")


class ImageBatches(keras.utils.PyDataset):
    """uint8 gray images -> float [0, 1] 3-channel batches, reshuffled each epoch (seeded).

    With ``transform`` (on-the-fly augmentation), each image of each batch is transformed
    with a generator seeded by (seed, epoch, position), so a run is reproducible.
    """

    def __init__(self, images, labels, batch_size, seed=None, transform=None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self.transform = transform
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
        return np.repeat(x, 3, axis=-1), self.labels[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()


def _split_validation(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified, seeded validation subset."""
    rng = np.random.default_rng([seed, 101])
    mask = np.zeros(len(labels), bool)
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        n_val = int(round(fraction * len(members)))
        mask[rng.permutation(members)[:n_val]] = True
    return mask


def _generated_images(config: ClassifierRunConfig, n: int) -> np.ndarray | None:
    if not config.method.startswith("gan"):
        return None
    if config.gan_images:
        from cxr_gan.fid.features import list_images

        paths = list_images(config.gan_images)[:n]
        arrays = [read_grayscale(p, config.image_size, config.resize_filter) for p in paths]
        return np.stack(arrays)[..., None]
    if not config.generator:
        raise ValueError(f"Method {config.method!r} needs --generator or --gan-images.")
    from PIL import Image

    from cxr_gan.data.images import RESIZE_FILTERS
    from cxr_gan.gan.generate import generate_uint8

    generator = keras.models.load_model(config.generator, compile=False)
    images = generate_uint8(generator, n, seed=config.seed)
    resized = [np.asarray(Image.fromarray(im, "L").resize(
        (config.image_size, config.image_size), RESIZE_FILTERS[config.resize_filter]))
        for im in images]
    return np.stack(resized)[..., None]


def train_classifier(config: ClassifierRunConfig, run_dir: Path | str,
                     verbose: int = 2) -> dict:
    """Trains one classifier and writes its run directory; returns ``metrics.json``'s dict."""
    run_dir = Path(run_dir)
    if (run_dir / "metrics.json").exists():
        raise FileExistsError(f"{run_dir} already holds a finished run; choose a new --out.")
    config = dataclasses.replace(config, synthetic=config.synthetic or is_phantom_dataset(
        config.data), backend=keras.backend.backend())
    set_determinism(config.seed, deterministic=False)
    records = kermany.scan(config.data)
    parts = kermany.split_records(records, config.split, seed=config.split_seed)
    manifest, arrays, labels = [], {}, {}
    for name in ("train", "test"):
        chosen = parts[name]
        loaded = kermany.load_images(config.data, chosen, name, config.image_size,
                                     config.resize_filter)
        manifest += loaded.manifest_rows
        label_of = {r.path: CLASS_NAMES.index(r.label) for r in chosen}
        arrays[name] = loaded.images
        labels[name] = np.array([label_of[p] for p in loaded.paths])
        if name == "test":
            test_paths = loaded.paths
    val_mask = _split_validation(labels["train"], config.validation_fraction, config.seed)
    x_train, y_train = arrays["train"][~val_mask], labels["train"][~val_mask]
    x_val, y_val = arrays["train"][val_mask], labels["train"][val_mask]
    n_normal, n_pneumonia = int(np.sum(y_train == 0)), int(np.sum(y_train == 1))
    n_extra = max(0, n_pneumonia - n_normal) \
        if config.method != "none" and not config.on_the_fly else 0
    if n_extra:
        extra = top_up(x_train[y_train == 0], n_extra, config.method, config.augment,
                       config.seed, _generated_images(config, n_extra))
        x_train = np.concatenate([x_train, extra])
        y_train = np.concatenate([y_train, np.zeros(n_extra, int)])

    model = build_classifier(config.image_size, seed=config.seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    transform = None
    if config.on_the_fly:
        from cxr_gan.classifier.augment import on_the_fly_transform

        transform = on_the_fly_transform(config.method, config.augment)
    history = model.fit(
        ImageBatches(x_train, y_train, config.batch_size, seed=config.seed, transform=transform),
        validation_data=ImageBatches(x_val, y_val, config.batch_size),
        epochs=config.epochs, verbose=verbose,
        callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=config.patience,
                                                 restore_best_weights=True)],
    )
    seconds = time.perf_counter() - start
    probabilities = model.predict(ImageBatches(arrays["test"], labels["test"], 64),
                                  verbose=0)[:, 1]
    metrics = classification_metrics(labels["test"], probabilities)
    metrics["ci95"] = bootstrap_intervals(labels["test"], probabilities, seed=config.seed)

    resolved = to_jsonable(config)
    resolved.update({
        "choices": CHOICES, "train_counts": {"NORMAL": n_normal, "PNEUMONIA": n_pneumonia,
                                              "NORMAL_added": n_extra},
        "validation_images": int(val_mask.sum()), "test_images": len(test_paths),
        "test_images_with_patient_in_train": kermany.patients_shared(parts),
        "epochs_run": len(history.history["loss"]), "train_seconds": seconds,
        "seconds_per_epoch": seconds / max(1, len(history.history["loss"])),
        "versions": backend_versions(),
    })
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.atomic_write_text(run_dir / "config.json", json.dumps(resolved, indent=2) + "\n")
    runs.atomic_write_text(run_dir / "manifest.csv", kermany.manifest_csv_text(manifest))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(history.history)
    writer.writerow(["epoch", *keys])
    for epoch in range(len(history.history["loss"])):
        writer.writerow([epoch + 1, *(repr(float(history.history[k][epoch])) for k in keys)])
    runs.atomic_write_text(run_dir / "history.csv", buffer.getvalue())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "prob_pneumonia"])
    for path, label, p in zip(test_paths, labels["test"], probabilities):
        writer.writerow([path, CLASS_NAMES[label], f"{float(p):.6f}"])
    runs.atomic_write_text(run_dir / "predictions.csv", buffer.getvalue())
    runs.atomic_save_keras(model, run_dir / "classifier.keras")
    runs.atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def run_many(data: str | None, methods: str, seeds: str, out: str, verbose: int = 2,
             **options) -> list[tuple[str, int, dict]]:
    """Runs each (method, seed) one after another; prints one summary line each."""
    from cxr_gan.data.phantoms import default_cache_dir, ensure_phantom_dataset

    synthetic = data is None
    if synthetic:
        data = str(ensure_phantom_dataset(default_cache_dir()))
    chosen = list(METHODS) if methods == "all" else [m.strip() for m in methods.split(",")]
    if "gan" in " ".join(chosen) and not (options.get("generator") or options.get("gan_images")):
        if methods == "all":
            chosen = [m for m in chosen if not m.startswith("gan")]
            print("No --generator or --gan-images: the gan methods are left out.")
    seed_list = [int(s) for s in seeds.split(",")]
    several = len(chosen) * len(seed_list) > 1
    results = []
    for method in chosen:
        for seed in seed_list:
            if options.get("on_the_fly") and method in ("none", "gan", "gan+crop"):
                options_here = {**options, "on_the_fly": False}
            else:
                options_here = options
            config = ClassifierRunConfig(data=data, synthetic=synthetic, method=method, seed=seed,
                                         **options_here)
            run_dir = Path(out) / f"{method}-s{seed}" if several else Path(out)
            metrics = train_classifier(config, run_dir, verbose=verbose)
            label = " [SYNTHETIC DATA]" if config.synthetic or is_phantom_dataset(data) else ""
            print(f"{method} seed {seed} split {config.split}{label}: accuracy "
                  f"{metrics['accuracy']:.4f} auc {metrics['auc']:.4f} auc_thresholded "
                  f"{metrics['auc_thresholded']:.4f} -> {run_dir}")
            results.append((method, seed, metrics))
    return results
