"""Training throughput of the Fig. 7 classifier: a plain ``fit`` against ours, in one run.

    python benchmarks/bench_classifier.py --data ../shared/data/chest_xray

Same model (seed 0), optimizer, batch (32) and images (the first files of the official
train split, both classes), TensorFlow with oneDNN, each after ``--warmup`` untimed steps:

- ``plain``: the usual Keras recipe, ``keras.utils.image_dataset_from_directory`` (PNG/JPEG
  decoded and resized every epoch by tf.data) and a ``Rescaling(1/255)`` map, then ``fit``.
- ``ours``: ``cxr_gan.classifier.train``'s pipeline: every image decoded once into a uint8
  array (the one-time cost is reported per image), then ``ImageBatches`` (a ``PyDataset``
  that scales and replicates the gray channel per batch) with tf.data prefetch, then ``fit``.
- ``compute``: the compiled train step on one batch already in memory: the bound that no
  input pipeline can beat; ``fit`` minus this is the pipeline's share of a step.

Files: this copy's 224-px train images, or with ``--originals`` the 16 original-size files of
``val/`` linked repeatedly (the usual full-size download has ~1000-2000 px images, which the
plain pipeline decodes and resizes again every epoch). On the 224-px copies both pipelines hand
the model the same values up to the two JPEG decoders' rounding (``max_input_difference``,
checked here; resizing 224 to 224 is the identity), so the model's results do not depend on
which one feeds it; on originals ours resizes with Pillow's antialiased bilinear filter, the
plain recipe without antialiasing. Prints a Markdown table and a final ``key=value`` line;
``--json`` appends the record.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import append_records, key_values  # noqa: E402


class _StepTimer(keras.callbacks.Callback):
    """Records the wall time of each training batch."""

    def __init__(self):
        super().__init__()
        self.times, self._start = [], 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # Waits for the step.
        self.times.append(time.perf_counter() - self._start)


def _model(image_size: int):
    from cxr_gan.classifier.model import build_classifier

    model = build_classifier(image_size, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def time_plain(train_dir: Path, steps: int, warmup: int, batch: int, size: int) -> list[float]:
    dataset = keras.utils.image_dataset_from_directory(
        train_dir, labels="inferred", class_names=["NORMAL", "PNEUMONIA"], color_mode="rgb",
        image_size=(size, size), batch_size=batch, shuffle=True, seed=0, verbose=False)
    rescale = keras.layers.Rescaling(1.0 / 255)
    dataset = dataset.map(lambda x, y: (rescale(x), y)).take(steps + warmup).repeat()
    timer = _StepTimer()
    _model(size).fit(dataset, steps_per_epoch=steps + warmup, epochs=1, verbose=0,
                     callbacks=[timer])
    return timer.times[warmup:]


def training_folder(data: Path, n: int, originals: bool, tmp: Path) -> Path:
    """A ``NORMAL/``, ``PNEUMONIA/`` folder of ``n`` training files, as symbolic links.

    ``originals``: the 16 original-size files of ``val/`` (600-1800 px), each linked many
    times, standing in for the usual full-size download; else every k-th file of ``train/``
    (this copy's 224-px images), both classes in proportion.
    """
    folder = tmp / ("originals" if originals else "copies")
    for label in ("NORMAL", "PNEUMONIA"):
        (folder / label).mkdir(parents=True)
    if originals:
        sources = [(p, p.parent.name) for p in sorted((data / "val").glob("*/*.jpeg"))]
        chosen = [sources[i % len(sources)] for i in range(n)]
    else:
        sources = [(p, p.parent.name) for p in sorted((data / "train").glob("*/*.jpeg"))]
        chosen = sources[:: max(1, len(sources) // n)][:n]
    for index, (path, label) in enumerate(chosen):
        (folder / label / f"{index:05d}-{path.name}").symlink_to(path.resolve())
    return folder


def load_cached(folder: Path, size: int):
    """Decodes every file once (``cxr_gan``'s reader, bilinear) into a uint8 array."""
    from types import SimpleNamespace

    from cxr_gan.data.images import read_grayscale

    paths = sorted(folder.glob("*/*.jpeg"))
    start = time.perf_counter()
    images = np.stack([read_grayscale(p, size, "bilinear") for p in paths])[..., None]
    seconds = time.perf_counter() - start
    labels = np.array([int(p.parent.name == "PNEUMONIA") for p in paths])
    loaded = SimpleNamespace(images=images, paths=[p.relative_to(folder) for p in paths])
    return loaded, labels, seconds / len(paths)


def time_ours(images, labels, steps: int, warmup: int, batch: int, size: int) -> list[float]:
    from cxr_gan.classifier.train import ImageBatches

    timer = _StepTimer()
    _model(size).fit(ImageBatches(images, labels, batch, seed=0), epochs=1, verbose=0,
                     callbacks=[timer])
    return timer.times[warmup:warmup + steps]


def time_compute(images, labels, steps: int, warmup: int, batch: int, size: int) -> list[float]:
    from cxr_gan.classifier.train import ImageBatches

    x, y = ImageBatches(images, labels, batch, seed=0)[0]
    model = _model(size)
    times = []
    for index in range(warmup + steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return times


def same_inputs(data: Path, loaded, size: int) -> float:
    """Largest difference between the two pipelines' model inputs for the same 8 files."""
    import tensorflow as tf

    from cxr_gan.classifier.train import ImageBatches

    ours = ImageBatches(loaded.images[:8], np.zeros(8, int), 8)[0][0]
    plain = []
    for path in loaded.paths[:8]:
        raw = tf.io.decode_image(tf.io.read_file(str(data / path)), channels=3,
                                 expand_animations=False)
        plain.append(tf.image.resize(raw, (size, size)).numpy() / 255.0)
    return float(np.abs(np.stack(plain) - ours).max())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Kermany root (train/NORMAL, ...)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--originals", action="store_true",
                        help="train on val/'s original-size files (linked repeatedly) instead "
                             "of the 224-px copies")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import tempfile

    data = Path(args.data)
    n_images = (args.steps + args.warmup) * args.batch_size
    steps, warmup, batch, size = args.steps, args.warmup, args.batch_size, args.image_size
    with tempfile.TemporaryDirectory() as tmp:
        folder = training_folder(data, n_images, args.originals, Path(tmp))
        loaded, labels, decode_s = load_cached(folder, size)
        plain = statistics.median(time_plain(folder, steps, warmup, batch, size))
        ours = statistics.median(time_ours(loaded.images, labels, steps, warmup, batch, size))
        compute = statistics.median(time_compute(loaded.images, labels, steps, warmup, batch,
                                                 size))
        max_difference = same_inputs(folder, loaded, size)
    record = {
        "files": "val/ originals (600-1800 px)" if args.originals else "train/ 224-px copies",
        "images": len(loaded.paths), "batch_size": batch, "image_size": size,
        "plain_images_per_s": batch / plain, "ours_images_per_s": batch / ours,
        "compute_images_per_s": batch / compute, "speedup": plain / ours,
        "pipeline_share_plain": 1 - compute / plain, "pipeline_share_ours": 1 - compute / ours,
        "decode_once_ms_per_image": 1000 * decode_s,
        "max_input_difference": max_difference,
    }
    print("| pipeline | images/s | s/step | input pipeline's share of a step |")
    print("|---|---:|---:|---:|")
    for name, seconds in (("plain fit (image_dataset_from_directory)", plain),
                          ("ours (decode once, PyDataset)", ours),
                          ("compute only (batch in memory)", compute)):
        print(f"| {name} | {batch / seconds:.1f} | {seconds:.3f} | "
              f"{max(0.0, 1 - compute / seconds):.0%} |")
    append_records(args.json, [record])
    print(key_values(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
