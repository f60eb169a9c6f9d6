"""BENCHMARKS.md from the records of ``run_benchmarks.py`` (one JSON object a line)."""

from __future__ import annotations

import json
from pathlib import Path

GPU_RESULTS = "results/gpu-h200/README.md"
GPU_TIMINGS = Path(__file__).resolve().parents[1] / "results/gpu-h200/paper-code/timings.json"
# Figures measured by hand (one-off commands, each named there), included as they are.
HAND_MEASURED = Path(__file__).resolve().parent / "results" / "hand-measured.md"


def _gpu_training_seconds() -> float | None:
    """The lent H200's wall time for the paper-code training command, from its record."""
    if not GPU_TIMINGS.is_file():
        return None
    return float(json.loads(GPU_TIMINGS.read_text())["wall_seconds_training_command"])


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _pick(records, section, **match):
    return [r for r in records if r.get("section") == section
            and all(r.get(k) == v for k, v in match.items())]


def _one(records, section, **match):
    found = _pick(records, section, **match)
    return found[-1] if found else None


def _relative(path: Path) -> str:
    text = path.as_posix()
    return "benchmarks/" + text.split("/benchmarks/", 1)[1] if "/benchmarks/" in text else text


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def render_benchmarks(records_path: Path) -> str:
    records = _load(records_path)
    machine = _one(records, "machine") or {}
    lines = [
        "# Benchmarks",
        "",
        "Every figure below was measured by",
        "`python benchmarks/run_benchmarks.py --data ../shared/data/chest_xray`, which runs "
        "every section; its records (one JSON object per measurement, with its command and "
        f"environment) are in `{_relative(records_path)}`. Sections run in separate invocations "
        "are listed under 'Runs' at the end.",
        "",
        f"Machine: {machine.get('cpu', '?')} (family {machine.get('cpu_family', '?')}), "
        f"{machine.get('cpus', '?')} CPUs, SIMD {', '.join(machine.get('simd', []))}; "
        f"TensorFlow {machine.get('tensorflow', '?')}, Keras {machine.get('keras', '?')}, "
        f"NumPy {machine.get('numpy', '?')}, Python {machine.get('python', '?')}; "
        f"{machine.get('date', '?')}; load average at the start "
        f"{machine.get('load_average', 'not recorded')}.",
        "",
        "Times are medians of the timed steps after warm-up, each measurement in its own "
        "process; ratios compare measurements of the same run. GEMM rate = the better of "
        "NumPy's and TensorFlow's FP32 4096x4096 product, measured in each process.",
        "",
    ]
    lines += _targets(records)
    lines += _gan_table(records)
    lines += _defaults(records)
    lines += _fit(records)
    lines += _profile(records)
    lines += _classifier(records)
    lines += _growth(records)
    lines += _bf16(records)
    lines += _efficient(records)
    lines += _fastgan(records_path.parent / "cpu-20261201.jsonl")
    lines += _crash_soak(records_path.parent / "crash-soak.jsonl")
    lines += _fid_memory(records_path.parent / "fid-memory.jsonl")
    lines += _data_parallel()
    if HAND_MEASURED.is_file():
        lines += HAND_MEASURED.read_text().rstrip().splitlines() + [""]
    runs = _pick(records, "machine")
    lines += ["## Runs", ""] + [f"- {r['date']}: {r.get('sections', 'all sections')}"
                                for r in runs] + [""]
    return "\n".join(lines) + "\n"


def _targets(records) -> list[str]:
    rows = []
    paper = {r["batch_size"]: r for r in _pick(records, "gan", preset="paper")}
    if paper:
        text = ", ".join(f"b{b}: {r['ratio_to_gemm']:.0%} ({r['achieved_gflops']:.0f} of "
                         f"{r['gemm_gflops']:.0f} GFLOP/s)" for b, r in sorted(paper.items()))
        at_preset = paper.get(128)
        verdict = _met(at_preset["ratio_to_gemm"] >= 0.70 if at_preset else None)
        rows.append(("`paper` step >= 70 % of the FP32 GEMM rate",
                     text + "; judged at the preset's batch, 128", verdict))
    ours = {r["batch_size"]: r for r in _pick(records, "gan", preset="paper-code")}
    authors = {r["batch_size"]: r for r in _pick(records, "authors")}
    common = sorted(set(ours) & set(authors))
    if common:
        ratios = {b: ours[b]["step_s"] / authors[b]["step_s"] for b in common}
        text = ", ".join(f"b{b}: {ours[b]['step_s']:.2f} / {authors[b]['step_s']:.2f} s = "
                         f"{ratios[b]:.2f}" for b in common)
        rows.append(("`paper-code` time per G update <= 1/2 of the authors' loop", text,
                     _met(all(r <= 0.5 for r in ratios.values()))))
    overheads = _fit_overheads(records)
    if overheads:
        text = ", ".join(f"{name}: {value:+.1%}" for name, value in overheads.items())
        rows.append(("`fit()` + callbacks + pipeline + logging <= 5 % over the bare step", text,
                     _met(all(v <= 0.05 for v in overheads.values()))))
    memory = _one(records, "memory")
    if memory:
        rows.append(("peak memory of `train_gan.py`, real data, batch 128 < 6 GiB",
                     f"{memory['peak_rss_gib']:.2f} GiB (`paper`, one epoch incl. checkpoint, "
                     f"figures and .keras files; {memory['wall_s']:.0f} s)",
                     _met(memory["peak_rss_gib"] < 6)))
    classifier = _pick(records, "classifier")
    if classifier:
        text = ", ".join(f"{r['label']}: {r['speedup']:.2f}x ({r['ours_images_per_s']:.0f} vs "
                         f"{r['plain_images_per_s']:.0f} images/s)" for r in classifier)
        rows.append(("classifier training >= 1.5x a plain `fit`, same results", text,
                     _met(all(r["speedup"] >= 1.5 for r in classifier))))
    gpu = _gpu_training_seconds()
    if gpu is not None:
        rows.append(("`paper-code` 5000 G updates < 5 min on one H100",
                     f"{gpu:.1f} s ({gpu / 60:.1f} min) on an H200 under JAX ({GPU_RESULTS}); a "
                     "GPU figure, not remeasured by this CPU script", _met(gpu < 300)))
    out = ["## Targets (issue #5)", "", "| target | measured | |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return out + [""]


def _fit_overheads(records) -> dict[str, float]:
    return {r["label"].removesuffix(" fit"): r["fit_overhead"]
            for r in _pick(records, "fit") if "fit_overhead" in r}


def _gan_table(records) -> list[str]:
    out = ["## GAN step (D on a real and a fake batch, then G), TensorFlow, oneDNN on", "",
           "FLOPs: matrix-product layers counted from their shapes, forward and the backward "
           "passes the step needs (`cxr_gan/gan/flops.py`); `images/s` = generator-batch images "
           "per second. Command: `python benchmarks/bench_gan.py --preset P --batch-size B`.",
           "", "| preset | batch (real+fake / G) | s/step | images/s | GFLOP/step | GFLOP/s | "
           "of GEMM | peak RSS GiB |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in _pick(records, "gan"):
        out.append(f"| {r['preset']} | {r['real_batch']}+{r['fake_batch']} / {r['g_batch']} | "
                   f"{r['step_s']:.3f} | {r['images_per_s']:.1f} | {r['step_gflop']:.0f} | "
                   f"{r['achieved_gflops']:.0f} | {r['ratio_to_gemm']:.0%} | "
                   f"{r['peak_rss_gib']:.2f} |")
    authors = _pick(records, "authors")
    if authors:
        out += ["", "Authors' training-loop style on the same `paper-code` networks "
                "(`generator.predict` for the fakes, `train_on_batch` on D for the real and the "
                "fake batch, `train_on_batch` on the stacked G + frozen D; "
                "`--mode authors`), time per generator update:", "",
                "| batch | authors' loop s | ours s | ours / authors | ours, bfloat16 s | "
                "bfloat16 / authors |", "|---:|---:|---:|---:|---:|---:|"]
        ours = {r["batch_size"]: r for r in _pick(records, "gan", preset="paper-code")}
        mixed = {r["batch_size"]: r for r in _pick(records, "mixed", preset="paper-code")}
        for r in authors:
            mine, bf16 = ours.get(r["batch_size"]), mixed.get(r["batch_size"])
            out.append(f"| {r['batch_size']} | {r['step_s']:.3f} | "
                       f"{_fmt(mine['step_s'] if mine else None)} | "
                       f"{_fmt(mine['step_s'] / r['step_s'] if mine else None, 2)} | "
                       f"{_fmt(bf16['step_s'] if bf16 else None)} | "
                       f"{_fmt(bf16['step_s'] / r['step_s'] if bf16 else None, 2)} |")
        out += ["", "Both loops do the same matrix products; on this CPU each step takes seconds, "
                "so the authors' per-call overheads (a `predict`, three `train_on_batch` calls, "
                "host round trips) are a few milliseconds of it, and ours cannot be half as long "
                "without doing less arithmetic. Where a step takes milliseconds (a GPU) those "
                "overheads would weigh more; this CPU script does not measure that (the "
                "authors' loop also runs under JAX for such a measurement)."]
    mixed_rows = _pick(records, "mixed")
    if mixed_rows:
        out += ["", "bfloat16 mixed precision (`--mixed-precision`, opt-in: it changes the "
                "numerics), same command with `--mixed-precision`; GFLOP/s counts the same "
                "FLOPs, against the FP32 GEMM rate:", "",
                "| preset | batch | s/step | images/s | GFLOP/s | vs float32 step |",
                "|---|---:|---:|---:|---:|---:|"]
        fp32 = {(r["preset"], r["batch_size"]): r for r in _pick(records, "gan")}
        for r in mixed_rows:
            base = fp32.get((r["preset"], r["batch_size"]))
            out.append(f"| {r['preset']} | {r['batch_size']} | {r['step_s']:.3f} | "
                       f"{r['images_per_s']:.1f} | {r['achieved_gflops']:.0f} | "
                       f"{_fmt(base['step_s'] / r['step_s'] if base else None, 2)}x |")
    return out + [""]


def _defaults(records) -> list[str]:
    rows = _pick(records, "defaults")
    if not rows:
        return []
    reference = rows[0]
    out = ["## Settings that change speed (`paper` step, batch 16)", "",
           "| setting | s/step | vs reference | shipped |", "|---|---:|---:|---|"]
    shipped = {
        "oneDNN off": "no: the scripts set `TF_ENABLE_ONEDNN_OPTS=1` unless the user set it",
        "op determinism on (train_gan.py's default)":
            "yes (bitwise resume); `--no-determinism` turns it off",
        "inter-op threads 1": "no: no gain measured, TensorFlow's default kept",
        "XLA (jit_compile)": "no: Keras leaves XLA off on CPU-only machines; kept",
        "bfloat16 mixed precision": "opt-in `--mixed-precision` (changes the numerics; FID "
                                    "below)",
    }
    for r in rows:
        ratio = reference["step_s"] / r["step_s"]
        out.append(f"| {r['label']} | {r['step_s']:.3f} | {ratio:.2f}x | "
                   f"{shipped.get(r['label'], 'yes')} |")
    return out + ["", "`vs reference` > 1 means faster than the reference row.", ""]


def _fit(records) -> list[str]:
    overheads = _fit_overheads(records)
    if not overheads:
        return []
    out = ["## `fit()` against the bare step", "",
           "`python benchmarks/bench_gan.py --mode fit`. `fit`: `train_gan`'s loop (the indexed "
           "batch pipeline, the run-recorder callback, a log line an epoch, history) on random "
           "images, median over steady epochs, plus the checkpoint and figures a real run writes "
           "every 10 epochs of 1341 images, spread over its steps. Bare step: the compiled "
           "`DCGAN.train_step` on batches made beforehand, timed right after in the same process "
           "on the same model.", "",
           "| run | steps an epoch | bare step s | fit step s | checkpoint + figures s "
           "(amortised s/step) | overhead |", "|---|---:|---:|---:|---:|---:|"]
    for r in _pick(records, "fit"):
        if "fit_overhead" not in r:
            continue
        out.append(f"| {r['label'].removesuffix(' fit')} | {r['steps_per_epoch']} | "
                   f"{r['bare_step_s']:.4f} | {r['fit_step_s']:.4f} | "
                   f"{r['checkpoint_s'] + r['figures_s']:.2f} "
                   f"({r['amortised_bookkeeping_s']:.4f}) | {r['fit_overhead']:+.1%} |")
    return out + ["", "A negative overhead is the step's run-to-run spread (a few percent "
                  "between repeated timings of the same step): the loop adds less than that.", ""]


def _profile(records) -> list[str]:
    out = []
    for name, title in (("paper", "the `paper` GAN, batch 16"),
                        ("classifier", "the Fig. 7 classifier, batch 32")):
        rows = [r for r in _pick(records, "profile") if r.get("profiled") == name]
        if not rows:
            continue
        out += [f"## Where the time goes: {title}", "",
                "Each layer's forward + backward pass timed alone "
                f"(`python benchmarks/profile_layers.py --model {name}`); top 8 of "
                f"{len(rows)} layers.", "",
                "| layer | input | ms | share | GFLOP/s |", "|---|---|---:|---:|---:|"]
        for r in sorted(rows, key=lambda r: -r["seconds"])[:8]:
            rate = f"{r['gflops']:.0f}" if r.get("gflops") else ""
            out.append(f"| {r['model']}/{r['layer']} | "
                       f"{'x'.join(map(str, r['input_shape'][1:]))} | {1000 * r['seconds']:.1f} "
                       f"| {r['share']:.1%} | {rate} |")
        out.append("")
    return out


def _classifier(records) -> list[str]:
    rows = _pick(records, "classifier")
    if not rows:
        return []
    out = ["## Classifier training throughput (Fig. 7 model, batch 32, 224 px)", "",
           "`python benchmarks/bench_classifier.py --data DATA [--originals]`: a plain `fit` "
           "(`image_dataset_from_directory`, decoding every epoch) against ours (decode once, "
           "`PyDataset`), and the compiled step alone on a batch in memory.", "",
           "| files | plain fit images/s | ours images/s | compute only images/s | ours / "
           "plain | pipeline share, plain / ours | decode once ms/image | max input diff |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['files']} | {r['plain_images_per_s']:.1f} | "
                   f"{r['ours_images_per_s']:.1f} | {r['compute_images_per_s']:.1f} | "
                   f"{r['speedup']:.2f}x | {max(0, r['pipeline_share_plain']):.0%} / "
                   f"{max(0, r['pipeline_share_ours']):.0%} | "
                   f"{r['decode_once_ms_per_image']:.2f} | {r['max_input_difference']:.3f} |")
    return out + [""]


def _growth(records) -> list[str]:
    out = []
    fid = _pick(records, "fid")
    if fid:
        out += ["## Growth: FID against the number of images", "",
                "`python benchmarks/bench_fid_growth.py --n N`: random 224-px gray images held "
                "in memory as the folder reader holds them.", "",
                "| N | features s | images/s | statistics (2048-d) s | Fréchet 768 s | "
                "Fréchet 2048 s | KID s | peak RSS GiB |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in fid:
            out.append(f"| {r['n_images']} | {r['features_s']:.1f} | {r['images_per_s']:.1f} | "
                       f"{r['statistics_2048_s']:.3f} | {r['frechet_768_s']:.3f} | "
                       f"{r['frechet_2048_s']:.3f} | {r['kid_2048_s']:.2f} | "
                       f"{r['peak_rss_gib']:.2f} |")
        out += ["", "Features grow linearly in N; the statistics as N d^2; the Fréchet "
                "distance is independent of N (d^3: two eigendecompositions); KID is "
                "100 subsets of min(N, 1000), so it stops growing at N = 1000. FID speed "
                "against its usual alternatives (`scipy.linalg.sqrtm`, the TorchScript network "
                "under PyTorch): `benchmarks/RESULTS_fid.md`.", ""]
    gan = _pick(records, "gan")
    if gan:
        out += ["## Growth: GAN training against the batch size", "",
                "| preset | batch | s/step | s per generator image | peak RSS GiB |",
                "|---|---:|---:|---:|---:|"]
        for r in gan:
            out.append(f"| {r['preset']} | {r['batch_size']} | {r['step_s']:.3f} | "
                       f"{r['step_s'] / r['g_batch']:.4f} | {r['peak_rss_gib']:.2f} |")
        out.append("")
    return out


def _bf16(records) -> list[str]:
    rows = _pick(records, "bf16")
    if not rows:
        return []
    out = ["## bfloat16 mixed precision: speed and FID", "",
           "The `demo` preset trained on the real train/NORMAL images (official split, seed 0) "
           "in float32 and with `--mixed-precision`, then 1341 images generated (seed 0) and "
           "compared with train/NORMAL (`evaluate.py fid`, default pil-bilinear recipe). One "
           "seed each: the FID difference includes the run-to-run spread of GAN training.", "",
           "| compute | epochs | median s/epoch | FID-768 | FID-2048 | KID |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        fid = r["fid"]
        out.append(f"| {r['label']} | {r['epochs']} | {r['median_epoch_s']:.2f} | "
                   f"{fid['fid_768']:.3f} | {fid['fid_2048']:.1f} | {fid['kid_mean']:.4f} |")
    out += ["", f"Command: `{rows[0]['command']}` (`--mixed-precision` for bfloat16), then "
            "`train_gan.py generate` and `evaluate.py fid --run RUN`.", ""]
    return out


def _efficient(records) -> list[str]:
    found = _pick(records, "efficient-preset")
    if not found:
        return []
    where = found[0]["machine"]
    lines = [
        "## The `efficient` preset's size (issue #10)", "",
        "Budget: at least 5000 generator updates in at most 60 minutes, 0.72 s an update. "
        "128-px candidates of the `paper` design, `fit` over the project's batches, median of "
        "3 timings of 10 steps after 3 warm-up steps (`python benchmarks/bench_efficient.py`). "
        f"Machine: {where['cpu']} family {where['cpu_family']} model {where['cpu_model']}, "
        f"{where['cpus']} CPUs, load average at the start {where['load_average_at_start']}.", "",
        "| candidate | options | s / update | min for 5000 updates | fits |",
        "|---|---|---:|---:|---|",
    ]
    for r in found:
        lines.append(f"| {r['candidate']} | {r['options']} | {r['seconds_per_update']:.3f} | "
                     f"{r['minutes_for_5000_updates']:.0f} | {_met(r['fits_budget'])} |")
    return lines + [""]


def _fastgan(path: Path) -> list[str]:
    """The fastgan preset's candidates (bench_fastgan.py, measured in their own session)."""
    found = _pick(_load(path), "fastgan-preset") if path.is_file() else []
    if not found:
        return []
    where = found[0]["machine"]
    lines = [
        "## The `fastgan` preset's size (issue #24)", "",
        "Budget: the full run in at most 60 minutes of training. 128-px FastGAN candidates "
        "(hinge, spectral norm in D, DiffAugment colour + translation, EMA, L1 reconstruction "
        "unless said), `fit` over the project's batches, median of 3 timings of 10 steps after "
        "3 warm-up steps (`python benchmarks/bench_fastgan.py`, records in "
        f"`{_relative(path)}`). GFLOP: matrix products only (`cxr_gan.gan.flops`), the "
        "decoders' share on the real batch included. Machine: "
        f"{where['cpu']} family {where['cpu_family']} model {where['cpu_model']}, "
        f"{where['cpus']} CPUs, load average at the start {where['load_average_at_start']}; "
        f"FP32 GEMM {found[0]['gemm_gflops']:.0f} GFLOP/s in the same process.", "",
        "| candidate | s / update | GFLOP / step | GFLOP/s | of GEMM | updates in 60 min |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in found:
        lines.append(f"| {r['candidate']} | {r['seconds_per_update']:.3f} | "
                     f"{r['step_gflop']:.1f} | {r['achieved_gflops']:.1f} | "
                     f"{r['ratio_to_gemm']:.0%} | {r['updates_in_60_minutes']} |")
    efficient = _pick(_load(path), "efficient-preset")
    if efficient:
        lines += ["", "The `efficient` preset on the same machine (`python benchmarks/"
                  "bench_efficient.py --candidates \"1/4 widths, k5, batch 32\"`), for the "
                  "comparison under one budget (`results/gan-fastgan/`): "
                  + "; ".join(f"{r['options']} {r['seconds_per_update']:.3f} s an update"
                              for r in efficient) + "."]
    return lines + [""]


def _crash_soak(path: Path) -> list[str]:
    rounds = _load(path) if path.is_file() else []
    if not rounds:
        return []
    kills = [e for r in rounds for e in r["events"] if e["signal"]]
    by_signal = {name: sum(e["signal"] == name for e in kills) for name in ("SIGKILL", "SIGTERM")}
    equal = sum(r["bitwise_equal"] for r in rounds)
    delays = sorted(e["delay_s"] for e in kills)
    lines = [
        "## Crash soak (issue #12)", "",
        f"`python tools/crash_soak.py --kills 24` ({_relative(path)}): a run of "
        f"`train_gan.py {rounds[0]['command'].split('train_gan.py ')[-1]}` on the synthetic "
        f"phantoms (uninterrupted: {rounds[0]['reference_s']} s) killed at random moments "
        "(uniform from 0.2 s to that time after each start: start-up, data loading, "
        "compilation, training, checkpoint and model writes) and resumed with `--resume` each "
        "time until it finished; each finished round compared with the uninterrupted run "
        "(every checkpoint array, the generator's weights, every history value but seconds, "
        f"no temporary file left, the lock released). Machine: {rounds[0]['machine']}, "
        "shared with other jobs (alone, the uninterrupted run takes about 17 s). A first soak "
        "failed one round: a signal between an epoch's last step and the epoch's end saved a "
        "checkpoint whose history lacked that epoch; fixed and tested "
        "(`tests/test_gan_training.py::test_a_signal_at_the_end_of_an_epoch_keeps_that_epochs_row`)"
        " before the run below.", "",
        "| kills | SIGKILL | SIGTERM | delays (s) | rounds | rounds bitwise equal |",
        "|---:|---:|---:|---|---:|---:|",
        f"| {len(kills)} | {by_signal['SIGKILL']} | {by_signal['SIGTERM']} | "
        f"{delays[0]:.2f} - {delays[-1]:.2f} | {len(rounds)} | {equal} of {len(rounds)} |", "",
    ]
    return lines


def _fid_memory(path: Path) -> list[str]:
    found = _load(path) if path.is_file() else []
    if not found:
        return []
    lines = ["## FID on large images: memory (issue #12)", "",
             "`python benchmarks/bench_fid_memory.py` "
             f"({_relative(path)}): peak resident memory of `evaluate.py fid` with large gray "
             "PNGs as the generated side, measured in a watcher process. Files are decoded one "
             "at a time and only a batch of 299x299 network inputs is held (before this issue "
             "every decoded image was held: six 9400-px PNGs took 2.0 GB).", "",
             "| images | side (px) | peak RSS (GiB) | wall (s) |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['images']} | {r['side_px']} | {r['peak_rss_gib']:.2f} | {r['wall_s']:.0f} |"
              for r in found]
    return lines + [""]


def _data_parallel() -> list[str]:
    return [
        "## Several devices", "",
        "`train_gan.py --data-parallel` splits each batch over every visible GPU with the "
        "backend's own engine (`tf.distribute.MirroredStrategy`; "
        "`keras.distribution.DataParallel` under JAX). This 2-core CPU has no second device "
        "worth timing; `tests/test_distribute.py` runs both engines on the CPU split into two "
        "logical devices and checks the loss trajectory equals one device's (TensorFlow: "
        "relative 1e-4; JAX: 1e-5). See the README, 'Several GPUs'.", "",
    ]
