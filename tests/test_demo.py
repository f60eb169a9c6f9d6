"""The main job's path, smaller: the GAN trains a few epochs and generates, the classifier arms
train on the phantoms, and each must rank them (never one class for every image again)."""

import json

import pytest

from cxr_gan.demo import QUICK, closing_lines, run_demo


@pytest.mark.slow
def test_the_main_jobs_classifier_arms_rank_the_phantoms(tmp_path, capsys):
    figures = run_demo(tmp_path / "demo", QUICK, cache=str(tmp_path / "cache"), verbose=0,
                       score=False)
    for method, metrics in figures["classifier"].items():
        n = metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"]
        majority = max(metrics["tn"] + metrics["fp"], metrics["fn"] + metrics["tp"]) / n
        assert metrics["tn"] > 0 and metrics["tp"] > 0, (method, metrics)  # Both classes called.
        assert metrics["accuracy"] > majority, (method, metrics)
        assert metrics["auc"] >= 0.85, (method, metrics)
    out = capsys.readouterr().out
    assert "SYNTHETIC PHANTOMS" in out and "report.md" in out and "Stage times:" in out
    saved = json.loads((tmp_path / "demo" / "demo_config.json").read_text())
    assert saved["methods"] == list(QUICK.methods)
    assert (tmp_path / "demo" / "report" / "report.md").is_file()
    assert json.loads((tmp_path / "demo" / "gan" / "generated" / "provenance.json").read_text())[
        "files_sha256"]


def test_the_closing_lines_name_the_files_and_the_majority_baseline(tmp_path):
    figures = {"times_s": {"GAN training (train_gan.py)": 10.0, "report": 1.0},
               "gan": {"fid_768": 0.5, "kid_mean": 0.1, "precision": 0.2, "recall": 0.1,
                       "copies": 0},
               "classifier": {"none": {"accuracy": 0.9, "auc": 0.95, "tn": 30, "fp": 10,
                                       "fn": 1, "tp": 65}}}
    text = closing_lines(tmp_path, tmp_path / "phantoms", figures, scored=True)
    assert "total 11 s" in text and "precision 0.200" in text
    assert "majority class scores accuracy 0.623" in text  # 66 of 106.
    assert str(tmp_path / "report" / "report.md") in text


def test_the_main_job_refuses_a_folder_that_holds_files(tmp_path):
    from cxr_gan.cli import UserError

    (tmp_path / "old.txt").write_text("mine")
    with pytest.raises(UserError, match="is not empty"):
        run_demo(tmp_path, QUICK)
    assert (tmp_path / "old.txt").read_text() == "mine"
