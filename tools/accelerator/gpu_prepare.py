#!/usr/bin/env python3
"""Builds what travels to the accelerator machine, and checks it fits.

    python tools/accelerator/gpu_prepare.py --data ../shared/data/chest_xray

Writes, in the repository root (both git-ignored, both named in the device call's `carry`):
- `.whl/`: the wheels the accelerator lacks (tools/accelerator/gpu_wheels.txt: Keras, namex, optree
  for CPython 3.12 on manylinux x86_64), downloaded by pip with `--require-hashes`;
- `.devdata/chest_xray/`: the training images of the plan's split only (tools/accelerator/gpu_plan.json
  "data": e.g. the pooled split's training NORMAL images less the classifier's validation shares
  of seeds 0-2), byte copies at their original relative paths, with `SPLIT_PACK.json` (split,
  seeds, source, the file list). `train_gan.py --data .devdata/chest_xray --split pooled ...`
  then learns from exactly these files, and its run records the split like any other run.

Then prints the payload (working tree + `.whl` + `.devdata`) against the 64 MiB limit and
refuses (status 2) to leave a payload over it. The device call is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from cxr_gan import cli
from cxr_gan.cli import OptionError

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

LIMIT_BYTES = 64 * 2**20
# What the committed tree may hold: the default plan's pack (929 images, 7.3 MiB) and the wheels
# (about 2 MiB) must fit beside it, with room to spare. tests/test_results.py checks it.
TREE_BUDGET_BYTES = 48 * 2**20
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


def download_wheels(requirements: Path, target: Path) -> list[Path]:
    """pip download of hash-pinned wheels for the accelerator's Python (3.12)."""
    if target.exists():
        shutil.rmtree(target)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
               "--require-hashes", "-r", str(requirements), "-d", str(target)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise cli.UserError(f"pip could not download the wheels of {requirements} (network, or "
                            f"a hash that no longer matches):\n{result.stderr.strip()[-1500:]}")
    return sorted(target.glob("*.whl"))


def pack_training_files(root: Path | str, split: str, split_seed: int, label: str,
                        validation_seeds) -> tuple[list, dict]:
    """The records a GAN of this split learns from (``datasets.select_training``), and the pack
    description (``datasets.PACK_MARKER``'s content, which ``train_gan.py`` reads)."""
    from cxr_gan.data import datasets

    parts, chosen, left_out = datasets.select_training(datasets.scan(root), split, split_seed,
                                                      label, validation_seeds)
    description = {"source": str(root), "split": split, "split_seed": split_seed,
                   "label": label, "validation_seeds": list(validation_seeds),
                   "counts": datasets.split_counts(parts), "left_out_validation": len(left_out),
                   "files": [r.path for r in chosen]}
    return chosen, description


def read_plan(path: Path | str) -> dict:
    """The plan file, checked enough that a bad one ends in one message."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OptionError(f"--plan {path} cannot be read as JSON ({error}): give a plan like "
                          "tools/accelerator/gpu_plan.json.") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("data"), dict) \
            or "split" not in plan["data"] or not isinstance(plan.get("runs"), list):
        raise OptionError(f"--plan {path} needs a 'data' object with a 'split' and a 'runs' "
                          "list, as tools/accelerator/gpu_plan.json.")
    return plan


def pack_data(data: Path, plan: dict, target: Path) -> dict:
    """Copies the plan's training images into ``target`` at their relative paths; writes
    ``SPLIT_PACK.json``. Returns the pack description."""
    from cxr_gan.data import datasets

    spec = plan["data"]
    records, description = pack_training_files(
        data, spec["split"], spec.get("split_seed", 0), spec.get("label", "NORMAL"),
        spec.get("validation_seeds", []))
    if target.exists():
        shutil.rmtree(target)
    for record in records:
        destination = target / record.path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / record.path, destination)
    (target / datasets.PACK_MARKER).write_text(json.dumps(description, indent=1) + "\n")
    return description


def tree_bytes(repo: Path) -> int:
    """Bytes of the working tree the device tool copies: tracked and untracked, not ignored."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo,
                           capture_output=True, check=True).stdout.split(b"\0")
    return sum((repo / name.decode()).stat().st_size for name in names
               if name and (repo / name.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the full Kermany data folder")
    parser.add_argument("--plan", default=str(HERE / "gpu_plan.json"),
                        help="the plan whose data split is packed")
    parser.add_argument("--wheels", default=str(HERE / "gpu_wheels.txt"),
                        help="hash-pinned requirements of the wheels to carry")
    parser.add_argument("--out", default=str(REPO),
                        help="where .whl/ and .devdata/ go (the repository root)")
    parser.add_argument("--no-wheels", action="store_true",
                        help="skip the download (a machine that has Keras, or a dry run)")
    args = parser.parse_args(argv)
    out, data = Path(args.out), Path(args.data)
    plan = read_plan(args.plan)
    wheels = [] if args.no_wheels else download_wheels(Path(args.wheels), out / ".whl")
    description = pack_data(data, plan, out / ".devdata" / "chest_xray")
    sizes = {"working tree": tree_bytes(REPO), ".whl": folder_bytes(out / ".whl"),
             ".devdata": folder_bytes(out / ".devdata")}
    total = sum(sizes.values())
    for name, size in sizes.items():
        print(f"{name:>13}: {size / 2**20:6.2f} MiB")
    print(f"{'total':>13}: {total / 2**20:6.2f} MiB of {LIMIT_BYTES / 2**20:.0f} MiB "
          f"({len(wheels)} wheels; {len(description['files'])} training images of split "
          f"{description['split']} {description['label']}, validation shares of seeds "
          f"{description['validation_seeds']} left out)")
    summary = {"sizes_bytes": sizes, "total_bytes": total, "limit_bytes": LIMIT_BYTES,
               "wheels": [w.name for w in wheels], "training_images": len(description["files"]),
               "plan": str(args.plan)}
    (out / ".devdata" / "prepared.json").write_text(json.dumps(summary, indent=1) + "\n")
    if total > LIMIT_BYTES:
        raise cli.UserError(f"The payload is {total / 2**20:.2f} MiB, over the {LIMIT_BYTES / 2**20:.0f}"
                            " MiB the device carries: remove large untracked files from the "
                            "working tree, or pack a smaller split.")
    print('\nOn the device (run tool): command "bash tools/accelerator/gpu_reproduce.sh", carry '
          '[".whl", ".devdata"]. Back here: python tools/accelerator/returned.py --returned FILES_AT '
          f"--data {data} --out results/gpu-RUN")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
