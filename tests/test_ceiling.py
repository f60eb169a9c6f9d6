"""The resolution's ceiling table (cxr_gan.fid.ceiling): halves, equal set sizes, rows."""

import numpy as np
import pytest

from cxr_gan.fid.ceiling import ceiling_rows, format_ceiling, halves


def _features(rng, n, shift=0.0):
    return {"f768": rng.standard_normal((n, 8)) + shift,
            "f2048": rng.standard_normal((n, 16)) + shift}


def test_halves_are_a_seeded_partition():
    a, b = halves(11, seed=3)
    assert len(a) == 5 and len(b) == 6
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(11))
    np.testing.assert_array_equal(halves(11, seed=3)[0], a)
    assert not np.array_equal(halves(11, seed=4)[0], a)


def test_every_row_has_the_candidate_half_size_and_an_unchanged_resize_is_the_floor():
    rng = np.random.default_rng(0)
    stored = _features(rng, 41)
    generated = _features(rng, 60, shift=3.0)
    rows = ceiling_rows(stored, stored, generated, size=128)
    assert [(r.reference, r.candidate) for r in rows] == [
        ("half A as stored", "half B as stored (sampling floor)"),
        ("half A as stored", "half B at 128 px (the ceiling)"),
        ("half A as stored", "21 generated"),
        ("half A at 128 px", "half B at 128 px (the ceiling)"),
        ("half A at 128 px", "21 generated")]
    assert {(r.n_reference, r.n_candidate) for r in rows} == {(20, 21)}
    # With the "resized" features equal to the stored ones the ceiling is the floor.
    assert rows[1].scores == rows[0].scores
    # Generated images far from the real ones score worse than the floor on every metric.
    assert rows[2].scores["fid_768"] > rows[0].scores["fid_768"]
    assert rows[2].scores["precision"] < rows[0].scores["precision"]
    table = format_ceiling(rows)
    assert table.count("\n") == 6 and "| half A as stored | 21 generated | 20 / 21 |" in table


def test_sets_of_different_images_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same images"):
        ceiling_rows(_features(rng, 10), _features(rng, 9), _features(rng, 10), size=64)


def test_fid_against_a_run_reads_its_manifest_files_not_the_class_folder(tmp_path, monkeypatch):
    import json

    from PIL import Image

    from cxr_gan.fid import report

    folder = tmp_path / "data" / "train" / "NORMAL"
    folder.mkdir(parents=True)
    for i in range(5):
        Image.new("L", (8, 8), i).save(folder / f"im{i}.png")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"data": str(tmp_path / "data"),
                                                 "label": "NORMAL", "split": "official"}))
    rows = ["path,label,status"] + [f"train/NORMAL/im{i}.png,NORMAL,used" for i in (0, 2, 4)] + [
        "train/NORMAL/im1.png,NORMAL,held out"]
    (run / "manifest.csv").write_text("\n".join(rows) + "\n")
    seen = {}

    def fake_scores(extractor, files, fake, name):
        seen["files"], seen["name"] = [p.name for p in files], name
        return {}

    monkeypatch.setattr(report, "FeatureExtractor", lambda *args: None)
    monkeypatch.setattr(report, "score_against_files", fake_scores)
    report.fid_against_run(run, tmp_path / "fake")
    assert seen["files"] == ["im0.png", "im2.png", "im4.png"]
    assert "its 3 training files" in seen["name"]


def test_the_ceiling_needs_a_run(tmp_path, capsys):
    import evaluate
    from cxr_gan import cli

    code = cli.run_script(evaluate.main, ["fid", "--real", str(tmp_path), "--fake",
                                          str(tmp_path), "--ceiling"])
    assert code == cli.EXIT_USER_ERROR
    assert "--ceiling needs --run" in capsys.readouterr().err
