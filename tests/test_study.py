"""The study command (#26): its plan and commands, the protocol it keeps, the time estimate,
the run-lock probe, the report's arithmetic on hand-made runs, and a killed study that resumes
without redoing its finished runs."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cxr_gan.study.plan import (GAN_UPDATES, Protocol, Run, Size, check_protocol, command,
                                gan_epochs, make_plan, parse_size)


def test_the_plan_orders_sizes_and_puts_each_generator_first():
    sizes = [parse_size("all"), parse_size("NORMAL=100"), parse_size("250")]
    plan = make_plan(sizes, ["gan", "none"], [0, 1])
    assert [r.label() for r in plan[:5]] == [
        "size-250 generator", "size-250 none seed 0", "size-250 gan seed 0",
        "size-250 none seed 1", "size-250 gan seed 1"]
    assert [r.size.name for r in plan[::5]] == ["size-250", "size-all", "cap-NORMAL-100"]
    assert len(plan) == 3 * (1 + 2 * 2)
    assert plan[2].needs() == Run(parse_size("250")) and plan[1].needs() is None
    assert make_plan([parse_size("250")], ["none", "flip"], [0])[0].method == "none"  # No GAN.
    assert str(parse_size("NORMAL=100")) == "NORMAL=100" and str(parse_size("all")) == "all"


def test_each_run_is_one_script_call_with_its_size(tmp_path):
    protocol = Protocol(data="D", split="pooled", epochs=8, image_size=224)
    size = parse_size("250")
    gan = command(Run(size), protocol, tmp_path, [0, 1, 2], epochs=99)
    assert gan[1].endswith("train_gan.py")
    assert gan[gan.index("--train-size") + 1] == "250"
    assert gan[gan.index("--exclude-validation") + 1] == "0,1,2"
    assert gan[gan.index("--epochs") + 1] == "99"
    assert gan[gan.index("--out") + 1] == str(tmp_path / "size-250" / "gan")
    cls = command(Run(size, "gan", 1), protocol, tmp_path, [0, 1, 2])
    assert cls[1].endswith("train_classifier.py")
    assert cls[cls.index("--generator") + 1] == str(tmp_path / "size-250" / "gan" /
                                                    "generator.keras")
    assert cls[cls.index("--out") + 1] == str(tmp_path / "size-250" / "gan-s1")
    capped = command(Run(parse_size("NORMAL=100"), "none", 0), protocol, tmp_path, [0])
    assert capped[capped.index("--cap") + 1] == "NORMAL=100" and "--generator" not in capped
    # The committed budget: 5191 updates, 1 epoch more when the batches do not divide it.
    assert gan_epochs(protocol, 64, 32) == GAN_UPDATES // 2 + 1
    assert gan_epochs(protocol, 1139, 32) == 149  # 35 updates an epoch: 148.3 -> 149.
    assert gan_epochs(Protocol(data="D", gan_epochs=7), 64, 32) == 7


def test_a_study_folder_keeps_its_protocol(tmp_path):
    from cxr_gan.cli import UserError

    check_protocol(tmp_path, Protocol(data="D", epochs=8))
    check_protocol(tmp_path, Protocol(data="D", epochs=8))  # The same: accepted.
    with pytest.raises(UserError, match="epochs = 8; this command asks for 20"):
        check_protocol(tmp_path, Protocol(data="D", epochs=20))


def test_the_generator_options_may_change_until_a_generator_starts(tmp_path):
    import json

    from cxr_gan.cli import UserError

    check_protocol(tmp_path, Protocol(data="D", gan_preset="efficient"))
    (tmp_path / "size-250" / "none-s0").mkdir(parents=True)  # A classifier run: no generator.
    with pytest.raises(UserError, match="positive = None; this command asks for 'NORMAL'"):
        # The refused field is named, not the generator's field that may change.
        check_protocol(tmp_path, Protocol(data="D", gan_preset="fastgan-lecam", positive="NORMAL"))
    check_protocol(tmp_path, Protocol(data="D", gan_preset="fastgan-lecam", gan_epochs=9))
    stored = json.loads((tmp_path / "study.json").read_text())
    assert (stored["gan_preset"], stored["gan_epochs"], stored["epochs"]) == (
        "fastgan-lecam", 9, 8)
    check_protocol(tmp_path, Protocol(data="D", gan_preset="efficient"), create=False)
    assert json.loads((tmp_path / "study.json").read_text()) == stored  # --list writes nothing.
    (tmp_path / "size-250" / "gan").mkdir()
    with pytest.raises(UserError, match="a generator has started"):
        check_protocol(tmp_path, Protocol(data="D", gan_preset="efficient", gan_epochs=9))
    with pytest.raises(UserError, match="epochs = 8; this command asks for 20"):
        check_protocol(tmp_path, Protocol(data="D", epochs=20, gan_preset="fastgan-lecam",
                                          gan_epochs=9))


def test_the_time_left_is_the_median_of_finished_runs_of_its_kind():
    from cxr_gan.study.runner import estimate_seconds, remaining_estimate

    records = [{"kind": "classifier", "size": "size-250", "seconds": s, "images": 250,
                "returncode": 0} for s in (60, 100, 80)]
    records.append({"kind": "classifier", "size": "size-250", "seconds": 1, "images": 250,
                    "returncode": 2})  # A failed run is not a timing.
    small, large = Run(Size(250), "none", 0), Run(Size(1000), "none", 0)
    by_epochs = Protocol(data="D", min_updates=None)  # 8 epochs: cost in proportion to images.
    assert estimate_seconds(small, records, 250, by_epochs) == 80
    assert estimate_seconds(large, records, 1000, by_epochs) == pytest.approx(320)
    assert estimate_seconds(Run(Size(250)), records, 64, by_epochs) is None  # No generator yet.
    counts = {"size-250": {"train": 250, "gan": 64}, "size-1000": {"train": 1000, "gan": 256}}
    assert remaining_estimate([small, large], records, counts, 2, by_epochs) == "about 3 min left"
    assert "not yet timed" in remaining_estimate([small, Run(Size(250))], records, counts, 1,
                                                 by_epochs)


def test_the_time_left_follows_the_update_floor_not_the_image_count():
    """With ``min_updates`` 1056 batches of 32 (33,792 images) and 8 epochs, 250 and 1000
    images cost the same floor, 5000 images 40,000: 80 s * 40,000 / 33,792. A generator of a
    fixed update count costs the same at any size but for the last epoch's rounding: 64
    images in batches of 16 are 4 steps, 1298 epochs, 5192 updates; 256 are 16 steps, 325
    epochs, 5200 updates."""
    from cxr_gan.study.plan import GAN_UPDATES
    from cxr_gan.study.runner import estimate_seconds

    assert GAN_UPDATES == 5191
    protocol = Protocol(data="D", min_updates=1056, epochs=8, batch_size=32, gan_batch_size=16)
    records = [{"kind": "classifier", "size": "size-250", "seconds": 80.0, "images": 250,
                "returncode": 0},
               {"kind": "gan", "size": "size-250", "seconds": 1000.0, "images": 64,
                "returncode": 0}]
    assert estimate_seconds(Run(Size(1000), "flip", 0), records, 1000, protocol) == 80.0
    assert estimate_seconds(Run(Size(5000), "flip", 0), records, 5000, protocol) == (
        pytest.approx(80 * 40000 / 33792))
    assert estimate_seconds(Run(Size(1000)), records, 256, protocol) == (
        pytest.approx(1000 * 5200 / 5192))


def test_the_lock_probe_names_a_live_holder_and_creates_nothing(tmp_path):
    from cxr_gan.rundir import lock_holder, run_lock

    assert lock_holder(tmp_path / "none") is None and not (tmp_path / "none").exists()
    with run_lock(tmp_path / "run"):
        (tmp_path / "run" / "partial.txt").write_text("a run's file")
        # flock locks belong to an open file: the probe's own open conflicts with it.
        assert lock_holder(tmp_path / "run")["pid"] == os.getpid()
    assert lock_holder(tmp_path / "run") is None  # Released: free.


def _write_run(folder, method, seed, labels, probabilities, machine=None):
    from cxr_gan.evaluation.metrics import classification_metrics

    folder.mkdir(parents=True)
    paths = [f"test/x{i}.png" for i in range(len(labels))]
    with open(folder / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "prob_pneumonia"])
        for path, label, p in zip(paths, labels, probabilities):
            writer.writerow([path, ["NORMAL", "PNEUMONIA"][label], repr(float(p))])
    (folder / "metrics.json").write_text(json.dumps(classification_metrics(labels,
                                                                           probabilities)))
    (folder / "config.json").write_text(json.dumps({
        "method": method, "seed": seed, "split": "pooled", "split_seed": 0, "data": "D",
        "synthetic": False, "image_size": 32, "epochs": 1, "classes": ["NORMAL", "PNEUMONIA"],
        "train_counts": {"NORMAL": 30, "PNEUMONIA": 60}, "validation_images": 10,
        "test_images": len(labels), **({"versions": {"machine": machine}} if machine else {})}))


def test_the_reports_provenance_names_every_machine_with_its_runs(tmp_path):
    from cxr_gan.study.report import load_study, provenance

    labels, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.6, 0.9])
    _write_run(tmp_path / "size-4" / "none-s0", "none", 0, labels, p, machine="Zen 1")
    assert provenance(load_study(tmp_path)).endswith("| machine: Zen 1")
    _write_run(tmp_path / "size-4" / "none-s1", "none", 1, labels, p, machine="Zen 4")
    _write_run(tmp_path / "size-4" / "flip-s0", "flip", 0, labels, p, machine="Zen 4")
    assert provenance(load_study(tmp_path)).endswith("| machines: Zen 4 (2 runs); Zen 1 (1 run)")


def test_the_sizes_come_in_order_of_training_images_not_of_folder_names(tmp_path):
    from cxr_gan.study.report import load_study

    labels, p = np.array([0, 1]), np.array([0.2, 0.8])
    for size, normal in (("size-1000", 270), ("size-250", 68), ("size-all", 1266)):
        _write_run(tmp_path / size / "none-s0", "none", 0, labels, p)
        config = json.loads((tmp_path / size / "none-s0" / "config.json").read_text())
        config["train_counts"] = {"NORMAL": normal, "PNEUMONIA": 3 * normal}
        (tmp_path / size / "none-s0" / "config.json").write_text(json.dumps(config))
    assert list(load_study(tmp_path)) == ["size-250", "size-1000", "size-all"]


def test_the_report_of_a_hand_made_study(tmp_path):
    from cxr_gan.study.report import write_study_report

    labels = np.array([0] * 20 + [1] * 20)
    right = np.where(labels == 1, 0.9, 0.1)  # Every image right.
    half = np.where(np.arange(40) % 2 == 0, right, 1 - right)  # Every other image wrong.
    for seed in (0, 1):
        _write_run(tmp_path / "size-100" / f"none-s{seed}", "none", seed, labels, half)
        _write_run(tmp_path / "size-100" / f"gan-s{seed}", "gan", seed, labels, right)
    # A seed only none has: left out of the comparison (over all seeds gan would be +33.3).
    _write_run(tmp_path / "size-100" / "none-s2", "none", 2, labels, right)
    text = write_study_report(tmp_path).read_text()
    assert "| size-100 | 100 | gan | 2 | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] |" in text
    assert "| size-100 | 100 | none | 3 | 66.7 [" in text
    # gan is right on the 20 images none gets wrong (b = 20, c = 0): p = 2 / 2^20.
    assert "| s0 1.91e-06, s1 1.91e-06 |" in text
    assert "- size-100: gan beats none (the best arm without a generator) on balanced " \
           "accuracy: +50.0 points [" in text and "], seeds 0, 1 of both." in text
    rows = list(csv.DictReader(open(tmp_path / "report" / "study.csv")))
    assert [(r["method"], round(float(r["accuracy"]), 4)) for r in rows] == [
        ("gan", 1.0), ("none", 0.6667)]
    assert (tmp_path / "report" / "learning_curve.png").stat().st_size > 0


def test_a_study_of_a_class_cap_alone_reports_its_rows_and_draws_no_empty_curve(tmp_path):
    from cxr_gan.study.report import write_study_report

    labels, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.6, 0.9])  # 3 of 4 right.
    _write_run(tmp_path / "cap-NORMAL-2" / "none-s0", "none", 0, labels, p)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "learning_curve.png").write_bytes(b"an earlier report's figure")
    text = write_study_report(tmp_path).read_text()
    assert "| cap-NORMAL-2 | 100 | none | 1 | 75.0 [" in text  # 30 + 60 + 10 validation.
    assert "No figure: a learning curve needs a `size-*` point" in text
    assert "Figure: learning_curve.png." not in text
    assert not (tmp_path / "report" / "learning_curve.png").exists()


def test_the_reports_run_table_names_the_kept_epoch_and_the_cpu_seconds(tmp_path):
    from cxr_gan.study.report import RUN_HEADER, write_study_report

    labels, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.6, 0.9])  # 3 of 4 right.
    run = tmp_path / "size-4" / "none-s0"
    _write_run(run, "none", 0, labels, p, machine="Zen 5")
    config = json.loads((run / "config.json").read_text())
    config.update(epochs_run=5, epoch_budget={"epochs": 9, "patience": 2, "start_from_epoch": 2},
                  train_counts={"NORMAL": 2, "PNEUMONIA": 3, "NORMAL_added": 1})
    (run / "config.json").write_text(json.dumps(config))
    # Epoch 1 has the lowest loss, but early stopping judges from epoch 2: it keeps epoch 3.
    (run / "history.csv").write_text("epoch,val_loss\n0,0.9\n1,0.1\n2,0.5\n3,0.3\n4,0.3\n")
    _write_run(tmp_path / "size-4" / "flip-s0", "flip", 0, labels, p)  # No history, no record.
    (tmp_path / "progress.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"run": "size-4 none seed 0", "kind": "classifier", "size": "size-4", "method": "none",
         "cpu_seconds": 12.5, "returncode": 1},
        {"run": "size-4 none seed 0", "kind": "classifier", "size": "size-4", "method": "none",
         "cpu_seconds": 40.4, "returncode": 0},
        {"run": "size-4 flip seed 0", "kind": "classifier", "size": "size-4", "method": "flip",
         "cpu_seconds": 3.0, "returncode": 0, "reused": True}]) + "\n")
    text = write_study_report(tmp_path).read_text()
    # 6 images an epoch (2 + 3 + 1 added), 5 epochs: 40.4 / 30 CPU s = 1347 ms an image-epoch.
    assert "| size-4 | none | 0 | 75.0 | 75.0 | 100.0 | 5 of 9 | 3 | 6 | 40 | 1347 | Zen 5 |" \
        in text
    assert "| size-4 | flip | 0 | 75.0 | 75.0 | 100.0 |  |  | 90 |  |  |  |" in text
    # The CPU table: the failed and the finished process of none (12.5 + 40.4), not the copy.
    assert "| size-4 | classifier | not recorded | 2 | 1 | 53 | 0.01 |" in text
    rows = list(csv.DictReader(open(tmp_path / "report" / "runs.csv")))
    assert tuple(rows[0]) == RUN_HEADER and [r["method"] for r in rows] == ["flip", "none"]
    assert (rows[1]["kept_epoch"], rows[1]["cpu_seconds"], rows[0]["cpu_seconds"]) == (
        "3", "40.4", "")
    assert float(rows[1]["cpu_seconds_per_image_epoch"]) == pytest.approx(40.4 / 30)
    (run / "history.csv").write_bytes(b"epoch,val_loss\n\xff\xfe\n")  # Damaged: one message.
    from cxr_gan.cli import UserError
    with pytest.raises(UserError, match="history.csv cannot be read"):
        write_study_report(tmp_path)


def test_the_report_names_each_generator_and_its_scores_where_scored(tmp_path):
    from cxr_gan.study.report import gan_note, load_study

    labels, p = np.array([0, 1]), np.array([0.2, 0.8])
    for size in ("size-4", "size-8"):
        _write_run(tmp_path / size / "none-s0", "none", 0, labels, p)
        (tmp_path / size / "gan").mkdir()
        (tmp_path / size / "gan" / "config.json").write_text(json.dumps(
            {"preset": {"name": "fastgan-lecam"}, "epochs": 7, "label": "NORMAL", "seed": 0}))
    (tmp_path / "size-8" / "gan" / "scores").mkdir()
    (tmp_path / "size-8" / "gan" / "scores" / "fid.json").write_text(json.dumps(
        {"n_fake": 100, "n_real": 6, "fid_768": 1.23456, "kid_mean": 0.2, "precision": 0.01,
         "recall": 0.0, "copies": 0, "near_copies": 3}))
    assert gan_note(tmp_path, load_study(tmp_path)) == (
        "Generators (each size its own, trained on that size's images of its class): "
        "size-4: fastgan-lecam, 7 epochs, class NORMAL, seed 0 (not scored); "
        "size-8: fastgan-lecam, 7 epochs, class NORMAL, seed 0 (`evaluate.py score`, 100 "
        "generated images against its 6 training images: FID-768 1.235, KID 0.200, precision "
        "0.010, recall 0.000; memorisation check: 0 copies, 3 near-copies)")


@pytest.mark.slow
def test_a_killed_study_resumes_without_redoing_its_finished_runs(tmp_path):
    out = tmp_path / "study"
    line = [sys.executable, "evaluate.py", "study", "--sizes", "120", "--methods",
            "none", "gan", "--seeds", "0", "--epochs", "1", "--min-updates", "4",
            "--image-size", "32", "--gan-epochs", "1", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(out)]
    first = subprocess.Popen(line, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT)
    progress = out / "progress.jsonl"
    deadline = time.monotonic() + 600
    while not (progress.is_file() and progress.read_text().count("\n") >= 1):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # The study and its running run, at once.
    first.wait()
    finished = json.loads(progress.read_text().splitlines()[0])
    assert finished["run"] == "size-120 generator" and finished["returncode"] == 0
    generator = out / "size-120" / "gan" / "generator.keras"
    kept = generator.stat().st_mtime_ns
    again = subprocess.run(line, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 done, 2 to run" in again.stdout
    assert generator.stat().st_mtime_ns == kept  # Not trained again.
    runs = [json.loads(x)["run"] for x in progress.read_text().splitlines()]
    assert runs.count("size-120 generator") == 1 and len(set(runs)) == 3
    gan_run = json.loads((out / "size-120" / "gan-s0" / "config.json").read_text())
    assert gan_run["train_size"] == 120 and gan_run["generator"]["overlap_with_test"] == 0
    gan = json.loads((out / "size-120" / "gan" / "config.json").read_text())
    assert gan["train_size"] == 120 and gan["validation_seeds"] == [0]
    report = (out / "report" / "study.md").read_text()
    assert "SYNTHETIC PHANTOM DATA" in report and "## Verdicts" in report


def test_the_sizes_are_counted_from_the_file_table_and_a_too_small_generator_refused(
        tiny_phantoms):
    from cxr_gan.cli import UserError
    from cxr_gan.study.runner import check_generator_sizes, size_counts

    protocol = Protocol(data=str(tiny_phantoms), split="official", gan_preset="phantoms")
    counts = size_counts(protocol, [parse_size("40"), parse_size("all")], [0, 1])
    # 54 training images (24 NORMAL); 40 of them: 18 NORMAL, less two seeds' shares (2 each).
    assert counts["size-all"] == {"train": 54, "gan": counts["size-all"]["gan"],
                                  "label": "NORMAL"}
    assert counts["size-40"]["train"] == 40 and 14 <= counts["size-40"]["gan"] <= 16
    with pytest.raises(UserError, match="size-40: its generator would learn"):
        check_generator_sizes(protocol, counts)  # The phantoms preset's real batch is 16.


def test_the_time_left_between_and_beyond_timed_sizes_follows_their_line():
    """Classifier medians 80 s at 250 images and 110 s at 1000: 0.04 s an image more. 500
    images: 90 s; 5000: 110 + 0.04 * 4000 = 270 s; 100, below both and on the update floor:
    80 s."""
    from cxr_gan.study.runner import estimate_seconds

    protocol = Protocol(data="D", min_updates=1056, epochs=8, batch_size=32)
    records = [{"kind": "classifier", "size": size, "seconds": seconds, "images": images,
                "returncode": 0}
               for size, images, runs in (("size-250", 250, (70, 80, 90)),
                                          ("size-1000", 1000, (110, 100, 120)))
               for seconds in runs]
    assert estimate_seconds(Run(Size(500), "flip", 0), records, 500, protocol) == 90
    assert estimate_seconds(Run(Size(5000), "flip", 0), records, 5000, protocol) == 270
    assert estimate_seconds(Run(Size(100), "flip", 0), records, 100, protocol) == 80
    # A generator's updates are fixed: the nearest size (256 images, 1100 s) scaled from its
    # 16 steps x 325 epochs to 1024 images' 64 steps x 82 epochs, in batches of 16.
    records += [{"kind": "gan", "size": size, "seconds": seconds, "images": images,
                 "returncode": 0} for size, images, seconds in (("size-250", 64, 1000.0),
                                                                ("size-1000", 256, 1100.0))]
    gan_protocol = Protocol(data="D", gan_batch_size=16)
    assert estimate_seconds(Run(Size(4000)), records, 1024, gan_protocol) == (
        pytest.approx(1100 * 5248 / 5200))


def test_a_study_passes_its_reuse_folders_and_a_copied_run_is_no_timing(tmp_path):
    from cxr_gan.study.runner import _record, estimate_seconds, read_progress

    other = tmp_path / "other-study"
    (other / "size-250").mkdir(parents=True)
    protocol = Protocol(data="D", reuse=("results/cpu-classifier/pooled", str(other)))
    line = command(Run(Size(250), "none", 0), protocol, tmp_path / "out", [0])
    at = line.index("--reuse")
    assert line[at + 1:at + 4] == ["results/cpu-classifier/pooled", str(other),
                                   str(other / "size-250")]
    assert "--reuse" not in command(Run(Size(250)), protocol, tmp_path / "out", [0])
    assert "--reuse" not in command(Run(Size(250), "none", 0), Protocol(data="D"), tmp_path, [0])
    check_protocol(tmp_path / "out", protocol)  # Reuse is not part of the protocol:
    check_protocol(tmp_path / "out", Protocol(data="D"))  # accepted without it.
    counts = {"size-250": {"train": 250, "gan": 64}}
    copied, trained = Run(Size(250), "none", 0), Run(Size(250), "none", 1)
    for run, config in ((copied, {"reused_from": "x"}), (trained, {})):
        run.folder(tmp_path / "out").mkdir(parents=True)
        (run.folder(tmp_path / "out") / "config.json").write_text(json.dumps(config))
    _record(tmp_path / "out", copied, 3.0, 2.0, counts, 0)
    _record(tmp_path / "out", trained, 600.0, 1100.0, counts, 0)
    records = read_progress(tmp_path / "out")
    assert [r.get("reused", False) for r in records] == [True, False]
    assert estimate_seconds(Run(Size(250), "none", 2), records, 250, protocol) == 600.0


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_publishing_a_study_copies_its_results_by_name_and_no_weights_or_real_images(tmp_path):
    import gzip
    import hashlib

    from cxr_gan.checkpoints import saved_weights_digest
    from cxr_gan.gan.models import build_generator
    from cxr_gan.study.publish import publish_study
    from tests.conftest import TINY_PAPER

    out, dest = tmp_path / "out", tmp_path / "published"
    run, gan = out / "size-250" / "none-s0", out / "size-250" / "gan"
    unfinished = out / "size-250" / "flip-s0"
    for name, text in {"study.json": "{}", "progress.jsonl": '{"run": "a"}\n{"run": "b"}\n',
                       "size-250/none-s0/config.json": "{}", "size-250/none-s0/metrics.json":
                       "{}", "size-250/none-s0/history.csv": "epoch\n0\n",
                       "size-250/none-s0/predictions.csv": "path,label\na,NORMAL\n",
                       "size-250/none-s0/classifier.keras": "weights",
                       "size-250/none-s0/manifest.csv": "path\n",
                       "size-250/flip-s0/history.csv": "epoch\n",  # Not finished.
                       "size-250/gan/config.json": "{}",
                       "size-250/gan/history.csv": "epoch\n0\n",
                       "size-250/gan/figures/loss_accuracy.png": "png",
                       "size-250/gan/figures/samples_epoch_0001.png": "real beside fake",
                       "size-250/gan/checkpoints/ckpt-1.weights.h5": "state",
                       "size-250/gan/scores/fid.json": "{}",
                       "size-250/gan/scores/memorization/closest_pairs.png": "real",
                       "size-250/gan/scores/memorization/memorization.csv": "a,b\n"}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    build_generator(TINY_PAPER, seed=0).save(out / "size-250/gan/generator.keras")
    before = {name: (out / name).read_bytes() for name in _files(out)}
    (dest).mkdir()
    (dest / "progress.jsonl").write_text('{"run": "a"}\n')
    counts = publish_study(out, dest)
    assert _files(dest) == [
        "progress.jsonl", "size-250/gan/config.json", "size-250/gan/figures/loss_accuracy.png",
        "size-250/gan/generator.sha256", "size-250/gan/generator.weights.sha256",
        "size-250/gan/history.csv.gz",
        "size-250/gan/scores/fid.json", "size-250/gan/scores/memorization/memorization.csv.gz",
        "size-250/none-s0/config.json", "size-250/none-s0/history.csv",
        "size-250/none-s0/metrics.json", "size-250/none-s0/predictions.csv.gz", "study.json"]
    assert counts == {"runs": 1, "generators": 1, "files": 12, "progress_records": 1}
    assert gzip.decompress((dest / "size-250/none-s0/predictions.csv.gz").read_bytes()) == \
        b"path,label\na,NORMAL\n"
    assert (dest / "size-250/gan/generator.sha256").read_text() == \
        f"{hashlib.sha256((gan / 'generator.keras').read_bytes()).hexdigest()}  generator.keras\n"
    assert (dest / "size-250/gan/generator.weights.sha256").read_text() == \
        f"{saved_weights_digest(gan / 'generator.keras')}  generator.keras\n"
    assert (dest / "progress.jsonl").read_text() == '{"run": "a"}\n{"run": "b"}\n'
    assert {name: (out / name).read_bytes() for name in _files(out)} == before  # Only read.
    assert unfinished.is_dir() and run.is_dir() and gan.is_dir()
    (dest / "size-250/none-s0/metrics.json").write_text('{"kept": true}')
    assert publish_study(out, dest) == {"runs": 0, "generators": 0, "files": 0,
                                        "progress_records": 0}
    assert (dest / "size-250/none-s0/metrics.json").read_text() == '{"kept": true}'
    packed = out / "size-250" / "class-weight-s0"  # A source already gzipped: as it is.
    packed.mkdir()
    for name in ("config.json", "history.csv", "metrics.json"):
        (packed / name).write_text("{}")
    (packed / "predictions.csv.gz").write_bytes(gzip.compress(b"p\n", mtime=0))
    assert publish_study(out, dest)["files"] == 4
    assert (dest / "size-250/class-weight-s0/predictions.csv.gz").read_bytes() == \
        (packed / "predictions.csv.gz").read_bytes()


def test_the_cpu_table_sums_each_point_kind_and_machine_and_leaves_out_copied_runs():
    from cxr_gan.study.report import cpu_rows

    records = [
        {"size": "size-8", "kind": "classifier", "cpu_seconds": 100.0, "returncode": 0,
         "machine": "Zen 4"},
        {"size": "size-8", "kind": "classifier", "cpu_seconds": 20.0, "returncode": 1,
         "machine": "Zen 4"},  # Failed: its CPU was spent, so it counts.
        {"size": "size-8", "kind": "classifier", "cpu_seconds": 9.0, "returncode": 0,
         "machine": "Zen 4", "reused": True},  # Copied by --reuse: no training.
        {"size": "size-8", "kind": "gan", "cpu_seconds": 3600.0, "returncode": 0,
         "machine": "Zen 5"},
        {"size": "size-8", "kind": "gan", "cpu_seconds": 1800.0, "returncode": 0,
         "machine": "Zen 5"},  # Retrained: counts twice.
        {"size": "size-4", "kind": "classifier", "cpu_seconds": 30.0, "returncode": 0,
         "machine": "Zen 4"},
        {"size": "cap-X-1", "kind": "classifier", "cpu_seconds": 7.0, "returncode": 0}]
    rows = cpu_rows(records, ["size-4", "size-8"])
    assert [(r["point"], r["kind"], r["machine"], r["processes"], r["failed"], r["cpu_seconds"])
            for r in rows] == [
        ("size-4", "classifier", "Zen 4", 1, 0, 30.0),
        ("size-8", "classifier", "Zen 4", 2, 1, 120.0),
        ("size-8", "generator", "Zen 5", 2, 0, 5400.0),
        ("cap-X-1", "classifier", "not recorded", 1, 0, 7.0),
        ("all points", "classifier", "Zen 4", 3, 1, 150.0),
        ("all points", "generator", "Zen 5", 2, 0, 5400.0),
        ("all points", "classifier", "not recorded", 1, 0, 7.0)]
    assert rows[2]["cpu_hours"] == 1.5


def test_the_gan_arms_meet_the_duplicate_control_too_unless_it_is_the_best_arm(tmp_path):
    from cxr_gan.study.report import write_study_report

    labels = np.array([0] * 20 + [1] * 20)
    right = np.where(labels == 1, 0.9, 0.1)
    half = np.where(np.arange(40) % 2 == 0, right, 1 - right)  # 20 of 40 right.
    most = np.where(np.arange(40) % 4 == 0, 1 - right, right)  # 30 of 40 right.
    for seed in (0, 1):
        _write_run(tmp_path / "size-100" / f"none-s{seed}", "none", seed, labels, most)
        _write_run(tmp_path / "size-100" / f"duplicate-s{seed}", "duplicate", seed, labels, half)
        _write_run(tmp_path / "size-100" / f"gan-s{seed}", "gan", seed, labels, right)
    text = write_study_report(tmp_path).read_text()
    section = text.split("## GAN arms against the count-matched copies (`duplicate`)")[1]
    # gan right on every image, duplicate on 20 of 40: +50 points; b = 20, c = 0 per seed.
    row = next(line for line in section.splitlines() if line.startswith("| size-100 | gan"))
    assert row.startswith("| size-100 | gan | duplicate | +50.0 [")
    assert row.endswith("| s0 1.91e-06, s1 1.91e-06 |")
    assert "| size-100 | gan | none | +25.0 [" in text.split("## Verdicts")[0]
    assert text.count("- size-100: gan") == 1  # The verdict is against the best arm only.
    for seed in (0, 1):  # duplicate becomes the best arm: its table would repeat the first.
        shutil.rmtree(tmp_path / "size-100" / f"duplicate-s{seed}")
        _write_run(tmp_path / "size-100" / f"duplicate-s{seed}", "duplicate", seed, labels,
                   right * 0.99 + 0.005)
    assert "count-matched copies" not in write_study_report(tmp_path).read_text()
