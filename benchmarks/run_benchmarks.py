"""Every performance figure of BENCHMARKS.md, measured in one run on this machine.

    python benchmarks/run_benchmarks.py --data ../shared/data/chest_xray

Runs each measurement in its own process (so that peak memory is its own), appends every
record to ``benchmarks/results/<host>-<date>.jsonl``, then writes ``BENCHMARKS.md`` from the
records (``--render FILE.jsonl`` rewrites it from a saved file without measuring). Sections:

- ``gan``: the fused GAN step of each preset at batch 16, 64 and 128 (``bench_gan.py``);
- ``authors``: the authors' ``train_on_batch`` loop on ``paper-code`` at the same batches;
- ``defaults``: each setting that changes speed, on and off (oneDNN, op determinism, XLA,
  inter-op threads, bfloat16 mixed precision), on the ``paper`` step at batch 16;
- ``mixed``: the ``paper`` and ``paper-code`` steps in bfloat16 mixed precision (opt-in);
- ``fit``: ``train_gan``'s fit loop against the bare step (demo at 32, paper at 16);
- ``memory``: peak memory of ``train_gan.py`` on the real data, ``paper`` preset, batch 128,
  one epoch (its checkpoint, figures and saved models included);
- ``profile``: per-layer forward + backward times of the paper GAN and the classifier;
- ``classifier``: plain ``fit`` against ours, on the 224-px copies and on original-size files;
- ``fid``: time and memory of FID's parts against the number of images;
- ``bf16``: the ``demo`` GAN trained on the real NORMAL images in float32 and in bfloat16,
  its speed and the FID of 1341 generated images against train/NORMAL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("gan", "authors", "defaults", "mixed", "fit", "memory", "profile", "classifier",
            "fid", "bf16")


class Recorder:
    """Runs benchmark processes and appends their records, tagged, to one JSON-lines file."""

    def __init__(self, path: Path):
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def run(self, section: str, args: list[str], env: dict | None = None, label: str = "",
            timeout: int = 3600) -> list[dict]:
        """Runs ``python args... --json TMP``; returns the new records, tagged and saved."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "records.jsonl"
            command = [sys.executable, *args, "--json", str(out)]
            print(f"[{section}] {label or ' '.join(args)}", flush=True)
            start = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env={**os.environ, **(env or {})},
                                  capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                raise RuntimeError(f"benchmark failed: {' '.join(command)}")
            print("   ", done.stdout.strip().splitlines()[-1], flush=True)
            records = [json.loads(line) for line in out.read_text().splitlines()]
        for record in records:
            record.update(section=section, label=label, env=env or {},
                          command="python " + " ".join(args),
                          wall_s=time.perf_counter() - start)
            self.add(record)
        return records


def measure_peak_rss(command: list[str]) -> tuple[float, float]:
    """(peak resident GiB, wall seconds) of ``command``, measured in a separate watcher process
    so that only that command's children count."""
    watcher = (
        "import resource, subprocess, sys, time, json\n"
        "start = time.perf_counter()\n"
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "print(json.dumps({'code': code, 'wall_s': time.perf_counter() - start,\n"
        "  'peak_rss_gib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20}))\n"
    )
    done = subprocess.run([sys.executable, "-c", watcher, *command], cwd=REPO,
                          capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise RuntimeError(f"failed ({result['code']}): {' '.join(command)}\n{done.stderr}")
    return result["peak_rss_gib"], result["wall_s"]


def section_gan(rec: Recorder, args) -> None:
    for preset in ("paper", "paper-code", "demo"):
        for batch in (16, 64, 128):
            steps = ["--warmup", "1", "--steps", "5" if batch == 16 else "3"]
            rec.run("gan", ["benchmarks/bench_gan.py", "--preset", preset, "--batch-size",
                            str(batch), *steps], label=f"{preset} b{batch}")


def section_authors(rec: Recorder, args) -> None:
    for batch in (16, 64, 128):
        steps = ["--warmup", "1", "--steps", "5" if batch == 16 else "3"]
        rec.run("authors", ["benchmarks/bench_gan.py", "--preset", "paper-code", "--batch-size",
                            str(batch), "--mode", "authors", *steps],
                label=f"paper-code b{batch} authors' loop")


def section_defaults(rec: Recorder, args) -> None:
    base = ["benchmarks/bench_gan.py", "--preset", "paper", "--batch-size", "16", "--warmup",
            "1", "--steps", "5"]
    rec.run("defaults", base, label="reference: oneDNN on (scripts' default), determinism off")
    rec.run("defaults", base, env={"TF_ENABLE_ONEDNN_OPTS": "0"}, label="oneDNN off")
    rec.run("defaults", base + ["--deterministic"],
            label="op determinism on (train_gan.py's default)")
    rec.run("defaults", base, env={"TF_NUM_INTEROP_THREADS": "1"}, label="inter-op threads 1")
    rec.run("defaults", base[:-4] + ["--warmup", "1", "--steps", "3", "--jit"],
            label="XLA (jit_compile)")
    rec.run("defaults", base + ["--mixed-precision"], label="bfloat16 mixed precision")


def section_mixed(rec: Recorder, args) -> None:
    for preset in ("paper", "paper-code"):
        for batch in (16, 128):
            steps = ["--warmup", "1", "--steps", "5" if batch == 16 else "3"]
            rec.run("mixed", ["benchmarks/bench_gan.py", "--preset", preset, "--batch-size",
                              str(batch), "--mixed-precision", *steps],
                    label=f"{preset} b{batch} bf16")


def section_fit(rec: Recorder, args) -> None:
    # demo: a real run's 41 steps an epoch; paper: 10 (a real epoch, 83 steps, takes 2.5 min).
    for preset, batch, extra in (("demo", 32, ["--fit-epochs", "3", "--steps", "30"]),
                                 ("paper", 16, ["--fit-epochs", "2", "--steps", "5",
                                                "--steps-per-epoch", "10"])):
        rec.run("fit", ["benchmarks/bench_gan.py", "--preset", preset, "--batch-size",
                        str(batch), "--mode", "fit", *extra], label=f"{preset} b{batch} fit")


def section_memory(rec: Recorder, args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "train_gan.py", "--data", args.data, "--preset", "paper",
                   "--batch-size", "128", "--epochs", "1", "--checkpoint-every", "1",
                   "--verbose", "2", "--out", str(Path(tmp) / "run")]
        print("[memory] " + " ".join(command[1:]), flush=True)
        peak, wall = measure_peak_rss(command)
    label = "train_gan.py paper b128, 1 epoch, real data"
    print(f"    peak_rss_gib={peak:.3f} wall_s={wall:.1f}", flush=True)
    rec.add({"section": "memory", "label": label, "peak_rss_gib": peak, "wall_s": wall,
             "command": "python " + " ".join(command[1:-1]) + " RUN"})


def section_profile(rec: Recorder, args) -> None:
    rec.run("profile", ["benchmarks/profile_layers.py", "--model", "paper", "--batch-size",
                        "16"], label="paper GAN b16")
    rec.run("profile", ["benchmarks/profile_layers.py", "--model", "classifier",
                        "--batch-size", "32"], label="classifier b32")


def section_classifier(rec: Recorder, args) -> None:
    for originals in (False, True):
        extra = ["--originals"] if originals else []
        rec.run("classifier", ["benchmarks/bench_classifier.py", "--data", args.data, *extra],
                label="original-size files" if originals else "224-px copies")


def section_fid(rec: Recorder, args) -> None:
    for n in (250, 500, 1000, 2000):
        rec.run("fid", ["benchmarks/bench_fid_growth.py", "--n", str(n)], label=f"N={n}")


def section_bf16(rec: Recorder, args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for mixed in (False, True):
            run = Path(tmp) / ("bf16" if mixed else "fp32")
            train = ["train_gan.py", "--data", args.data, "--preset", "demo", "--epochs",
                     str(args.bf16_epochs), "--checkpoint-every", str(args.bf16_epochs),
                     "--verbose", "2", "--out", str(run)] + (["--mixed-precision"] if mixed
                                                             else [])
            print("[bf16] " + " ".join(train), flush=True)
            subprocess.run([sys.executable, *train], cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([sys.executable, "train_gan.py", "generate", "--generator",
                            str(run / "generator.keras"), "--num-images", "1341", "--seed", "0",
                            "--out", str(run / "generated")], cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([sys.executable, "evaluate.py", "fid", "--run", str(run), "--fake",
                            str(run / "generated"), "--json", str(run / "fid.json")], cwd=REPO,
                           check=True, stdout=subprocess.DEVNULL)
            fid = json.loads((run / "fid.json").read_text())
            rows = (run / "history.csv").read_text().splitlines()[1:]
            seconds = sorted(float(r.split(",")[2]) for r in rows[1:])
            record = {"section": "bf16", "label": "bfloat16" if mixed else "float32",
                      "epochs": len(rows), "median_epoch_s": seconds[len(seconds) // 2],
                      "fid": fid,
                      "command": "python " + " ".join(train).replace(str(run), "RUN")}
            print(f"    {record['label']}: {record['median_epoch_s']:.2f} s/epoch, "
                  f"FID-768 {fid.get('fid_768')}", flush=True)
            rec.add(record)


def machine_record() -> dict:
    import keras
    import numpy as np

    info = {"section": "machine", "host": socket.gethostname(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "keras": keras.__version__, "numpy": np.__version__,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_average": round(os.getloadavg()[0], 2)}
    try:
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    except ImportError:
        pass
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("cpu family"):
                info["cpu_family"] = int(line.split(":", 1)[1])
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")
                                if f in flags]
                break
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "chest_xray"))
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--bf16-epochs", type=int, default=60)
    parser.add_argument("--records", default=None,
                        help="JSON-lines file to append to (default: a new dated file)")
    parser.add_argument("--render", default=None,
                        help="only rewrite BENCHMARKS.md from this records file")
    parser.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    args = parser.parse_args()
    if args.render:
        from render import render_benchmarks

        Path(args.out).write_text(render_benchmarks(Path(args.render)))
        print(f"Wrote {args.out} from {args.render}")
        return 0
    chosen = [s.strip() for s in args.only.split(",")]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M")
    records = Path(args.records) if args.records else (
        REPO / "benchmarks" / "results" / f"cpu-{stamp}.jsonl")
    rec = Recorder(records)
    rec.add({**machine_record(), "sections": ", ".join(chosen)})
    for name in chosen:
        globals()[f"section_{name}"](rec, args)
    from render import render_benchmarks

    Path(args.out).write_text(render_benchmarks(records))
    print(f"Records: {records}\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
