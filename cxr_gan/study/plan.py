"""A learning-curve study's plan: which runs, in which folders, by which commands, and which of
them are done. Pure bookkeeping (no backend): ``evaluate.py study`` lists, runs and reports it.

    OUT/study.json                  the protocol (frozen: a later call must give the same)
    OUT/progress.jsonl              one line per finished run: what, seconds, machine
    OUT/size-250/gan/               the size's generator (train_gan.py --train-size 250)
    OUT/size-250/METHOD-sSEED/      one classifier run (train_classifier.py --train-size 250)
    OUT/size-all/...                the whole training split
    OUT/cap-NORMAL-100/...          a scarcity point: NORMAL capped at 100, the others whole
    OUT/report/                     the study's report (``cxr_gan.study.report``)

Sizes are ``datasets.training_subset``'s: nested and stratified, the test set fixed. Each size
with a GAN method trains its own generator on that size's images of the generator's class, less
the validation shares of every seed of the study (the leak guard checks each run again), with
the committed protocol's budget unless ``--gan-epochs`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from cxr_gan.classifier.augment import uses_generator
from cxr_gan.cli import UserError

REPO = Path(__file__).resolve().parents[2]
# The committed generator's budget (results/gan-pooled/: 179 epochs x 29 updates of the
# efficient preset): each size's generator gets as many updates.
GAN_UPDATES = 179 * 29
# Every classifier run's floor (train_classifier.py --min-updates): the committed full-size
# protocol's updates, 8 epochs x 132 batches of 32 of the pooled split's 4216 training images.
CLASSIFIER_MIN_UPDATES = 8 * 132
# Each size's generator on real data: the best preset of results/gan-fastgan/.
GAN_PRESET = "fastgan-lecam"
# The protocol fields a study keeps for all its runs (study.json); sizes, methods and seeds may
# grow between calls.
PROTOCOL_FIELDS = ("data", "split", "split_seed", "epochs", "min_updates", "image_size",
                   "batch_size", "gan_preset", "gan_epochs", "gan_batch_size", "patient_pattern",
                   "positive")
# The generator's fields: they may change while no generator of the study has started.
GAN_FIELDS = ("gan_preset", "gan_epochs", "gan_batch_size")


@dataclasses.dataclass(frozen=True)
class Size:
    """One point of the curve: ``count`` training images (None: all) or one class capped."""

    count: int | None = None
    cap: tuple[str, int] | None = None

    @property
    def name(self) -> str:
        if self.cap:
            return f"cap-{self.cap[0]}-{self.cap[1]}"
        return "size-all" if self.count is None else f"size-{self.count}"

    def __str__(self) -> str:  # As --sizes takes it.
        if self.cap:
            return f"{self.cap[0]}={self.cap[1]}"
        return "all" if self.count is None else str(self.count)

    def flags(self) -> list[str]:
        if self.cap:
            return ["--cap", f"{self.cap[0]}={self.cap[1]}"]
        return [] if self.count is None else ["--train-size", str(self.count)]


def parse_size(text: str) -> Size:
    """``250``, ``all`` or ``CLASS=N`` (a scarcity point)."""
    from cxr_gan import cli

    if "=" in text:
        return Size(cap=cli.class_cap(text))
    return Size(count=cli.train_size(text))


@dataclasses.dataclass(frozen=True)
class Protocol:
    """What every run of a study shares (``study.json``)."""

    data: str | None
    split: str = "pooled"
    split_seed: int = 0
    epochs: int = 8
    min_updates: int | None = CLASSIFIER_MIN_UPDATES
    image_size: int = 224
    batch_size: int = 32
    gan_preset: str = GAN_PRESET
    gan_epochs: int | None = None  # None: GAN_UPDATES updates at each size
    gan_batch_size: int | None = None
    patient_pattern: str | None = None
    positive: str | None = None
    cache_dir: str | None = None
    # Folders of finished runs to copy from (train_classifier.py --reuse); not the protocol.
    reuse: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Run:
    """One step of the plan: a size's generator (``method`` None) or a classifier run."""

    size: Size
    method: str | None = None
    seed: int = 0

    @property
    def is_gan(self) -> bool:
        return self.method is None

    def folder(self, out: Path) -> Path:
        leaf = "gan" if self.is_gan else f"{self.method}-s{self.seed}"
        return Path(out) / self.size.name / leaf

    def label(self) -> str:
        what = "generator" if self.is_gan else f"{self.method} seed {self.seed}"
        return f"{self.size.name} {what}"

    def done(self, out: Path) -> bool:
        folder = self.folder(out)
        return (folder / ("generator.keras" if self.is_gan else "metrics.json")).is_file()

    def needs(self) -> Run | None:
        """The run this one waits for: its size's generator, for a GAN method."""
        return Run(self.size) if not self.is_gan and uses_generator(self.method) else None


def make_plan(sizes: Sequence[Size], methods: Sequence[str], seeds: Sequence[int]) -> list[Run]:
    """The runs in order: the smallest size first (fast figures first); per size its
    generator, then each seed's non-GAN arms, then its GAN arms."""
    def order(size: Size):
        return (size.cap is not None, math.inf if size.count is None else size.count)

    runs = []
    for size in sorted(set(sizes), key=order):
        if any(uses_generator(m) for m in methods):
            runs.append(Run(size))
        plain = [m for m in methods if not uses_generator(m)]
        gans = [m for m in methods if uses_generator(m)]
        runs += [Run(size, m, s) for s in seeds for m in plain + gans]
    return runs


def gan_epochs(protocol: Protocol, n_images: int, g_batch: int) -> int:
    """The generator's epochs: ``--gan-epochs``, else as many as give ``GAN_UPDATES``."""
    if protocol.gan_epochs is not None:
        return protocol.gan_epochs
    return max(1, math.ceil(GAN_UPDATES / max(1, n_images // g_batch)))


def command(run: Run, protocol: Protocol, out: Path, seeds: Sequence[int],
            epochs: int | None = None) -> list[str]:
    """The script call that makes ``run`` (``epochs``: a generator's, from ``gan_epochs``)."""
    common = (["--data", protocol.data] if protocol.data else []) + [
        "--split", protocol.split, "--split-seed", str(protocol.split_seed), *run.size.flags()]
    if protocol.patient_pattern:
        common += ["--patient-pattern", protocol.patient_pattern]
    if protocol.cache_dir:
        common += ["--cache-dir", protocol.cache_dir]
    folder = str(run.folder(out))
    if run.is_gan:
        line = [sys.executable, str(REPO / "train_gan.py"), *common, "--preset",
                protocol.gan_preset, "--exclude-validation", ",".join(map(str, seeds)),
                "--out", folder, "--verbose", "2"]
        if epochs is not None:
            line += ["--epochs", str(epochs)]
        if protocol.gan_batch_size:
            line += ["--batch-size", str(protocol.gan_batch_size)]
        return line
    line = [sys.executable, str(REPO / "train_classifier.py"), *common, "--augment",
            run.method, "--seeds", str(run.seed), "--epochs", str(protocol.epochs),
            "--image-size", str(protocol.image_size), "--batch-size", str(protocol.batch_size),
            "--out", folder, "--verbose", "2"]
    if protocol.min_updates:
        line += ["--min-updates", str(protocol.min_updates)]
    if protocol.positive:
        line += ["--positive", protocol.positive]
    if protocol.reuse:
        line += ["--reuse", *reuse_folders(protocol.reuse, run.size)]
    if uses_generator(run.method):
        line += ["--generator", str(Run(run.size).folder(out) / "generator.keras")]
    return line


def reuse_folders(folders: Sequence[str], size: Size) -> list[str]:
    """Where a run of ``size`` may be found finished: each folder as a comparison
    (``DIR/METHOD-sSEED``) and, where it has one, its ``DIR/SIZE`` (another study's layout).
    Which of them holds the same run is train_classifier.py's check (``reuse_mismatch``)."""
    found = []
    for folder in folders:
        found.append(str(folder))
        if (Path(folder) / size.name).is_dir():
            found.append(str(Path(folder) / size.name))
    return found


def resume_command(run: Run, out: Path) -> list[str]:
    """A generator whose run stopped part-way goes on from its newest checkpoint."""
    return [sys.executable, str(REPO / "train_gan.py"), "--out", str(run.folder(out)),
            "--resume", "--verbose", "2"]


def read_progress(out: Path) -> list[dict]:
    """The records of ``out/progress.jsonl``, one a finished run (wall and CPU seconds,
    machine), oldest first."""
    path = Path(out) / "progress.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_protocol(out: Path, protocol: Protocol, create: bool = True) -> None:
    """Writes ``study.json`` on the first call (when ``create``); refuses a later call with
    another protocol, except for the generator's fields while no size's generator has a
    folder (then ``study.json`` takes the new values).

    Raises:
        UserError: Names the field, both values and the fix.
    """
    from cxr_gan.io import to_jsonable, write_json

    path = Path(out) / "study.json"
    asked = {k: v for k, v in to_jsonable(protocol).items() if k in PROTOCOL_FIELDS}
    if not path.is_file():
        if create:
            Path(out).mkdir(parents=True, exist_ok=True)
            write_json(path, asked)
        return
    stored = json.loads(path.read_text())
    differ = [key for key in PROTOCOL_FIELDS if stored.get(key) != asked.get(key)]
    generators = sorted(Path(out).glob("*/gan"))
    refused = [key for key in differ if key not in GAN_FIELDS or generators]
    if refused:
        key = refused[0]
        started = f" (a generator has started: {generators[0]})" if key in GAN_FIELDS else ""
        raise UserError(
            f"{out} holds a study with {key} = {stored.get(key)!r}; this command asks for "
            f"{asked.get(key)!r}{started}. Its runs would mix two protocols: give the study's "
            "options (study.json), or a new --out. Sizes, methods and seeds may change, and "
            "the generator's options until a generator starts.")
    if differ and create:  # No run used the generator's options yet: the study takes them.
        write_json(path, {**stored, **{key: asked.get(key) for key in differ}})
