"""The reader study (#27): the page's draw and key, scoring by hand-made answers with known
answers, refused mismatches, and the page driven in headless Chromium (answers by key, a reload
mid-way, the CSV saved and scored)."""

import csv
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxr_gan.cli import UserError
from cxr_gan.realism.reader import (make_session, proportion, read_answers, score_answers,
                                    score_session)


def _folders(tmp_path, n_real=12, n_fake=12):
    rng = np.random.default_rng(0)
    for name, n, side in (("real", n_real, 224), ("fake", n_fake, 64)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(
                tmp_path / name / f"{name}{i:02d}.png")
    return tmp_path / "real", tmp_path / "fake"


def _answers(path, key, answer_of):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["session", "index", "answer", "confidence", "seconds"])
        for image in key["images"]:
            answer, confidence = answer_of(image)
            writer.writerow([key["session"], image["index"], answer, confidence, "1.0"])


def test_the_session_draws_n_of_each_at_the_generators_side_and_keeps_the_key_apart(tmp_path):
    real, fake = _folders(tmp_path)
    key = make_session(real, fake, 5, seed=3, out=tmp_path / "s")
    truths = [image["truth"] for image in key["images"]]
    assert truths.count("real") == 5 and truths.count("generated") == 5 and key["side"] == 64
    page = (tmp_path / "s" / "reader-study.html").read_text()
    assert page.count("data:image/png;base64,") == 10 and "generated" not in page.split(
        "const IMAGES")[1].split("];")[0]  # The images carry no label.
    import base64
    import hashlib
    import io
    import re

    shown = [base64.b64decode(d) for d in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)",
                                                      page)]
    assert [hashlib.sha256(b).hexdigest() for b in shown] == [i["sha256"] for i in key["images"]]
    for data in shown:  # Every shown image is a 64-px gray PNG, whatever its source (224 or 64).
        with Image.open(io.BytesIO(data)) as image:
            assert image.mode == "L" and image.size == (64, 64)
    again = make_session(real, fake, 5, seed=3, out=tmp_path / "t")
    assert again["images"] == key["images"] and again["session"] == key["session"]
    with pytest.raises(UserError, match="already holds a reader session"):
        make_session(real, fake, 5, seed=3, out=tmp_path / "s")
    with pytest.raises(UserError, match="holds 12 real images; the session needs 13"):
        make_session(real, fake, 13, seed=3, out=tmp_path / "u")


def test_known_answers_score_as_they_must(tmp_path):
    real, fake = _folders(tmp_path)
    key = make_session(real, fake, 6, seed=0, out=tmp_path / "s")
    _answers(tmp_path / "g.csv", key, lambda image: ("generated", 2))
    scores = score_answers(key, read_answers(tmp_path / "g.csv", key))
    assert scores["sensitivity"]["value"] == 1.0 and scores["specificity"]["value"] == 0.0
    assert scores["accuracy"]["value"] == 0.5 and scores["p_value_against_chance"] == 1.0
    assert scores["generated_called_real"] == []
    _answers(tmp_path / "right.csv", key, lambda image: (image["truth"], 3 if
                                                         image["truth"] == "real" else 1))
    scores = score_answers(key, read_answers(tmp_path / "right.csv", key))
    assert scores["accuracy"]["value"] == 1.0
    assert scores["p_value_against_chance"] == pytest.approx(2 / 2 ** 12)  # 12 of 12 right.
    assert scores["accuracy_by_confidence"]["3"]["n"] == 6
    assert scores["accuracy_by_confidence"]["2"]["n"] == 0
    _answers(tmp_path / "r.csv", key, lambda image: ("real", 1))
    out = tmp_path / "scored"
    scores = score_session(tmp_path / "s" / "key.json", tmp_path / "r.csv", out)
    assert len(scores["generated_called_real"]) == 6
    assert (out / "generated_called_real.png").stat().st_size > 0
    # Clopper-Pearson by hand: 0 of 6 -> [0, 1 - 0.025^(1/6)].
    assert proportion(0, 6)["high"] == pytest.approx(1 - 0.025 ** (1 / 6))


def test_answers_of_another_session_or_incomplete_ones_are_refused(tmp_path):
    real, fake = _folders(tmp_path)
    key = make_session(real, fake, 4, seed=0, out=tmp_path / "s")
    other = make_session(real, fake, 4, seed=1, out=tmp_path / "o")
    _answers(tmp_path / "other.csv", other, lambda image: ("real", 2))
    with pytest.raises(UserError, match=f"the key is of session {key['session']}"):
        read_answers(tmp_path / "other.csv", key)
    _answers(tmp_path / "part.csv", key, lambda image: ("real", 2))
    lines = (tmp_path / "part.csv").read_text().splitlines()
    (tmp_path / "part.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(UserError, match="answers 7 of the key's 8 images"):
        read_answers(tmp_path / "part.csv", key)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="not a reader-study answer file"):
        read_answers(tmp_path / "bad.csv", key)


def _browser(download_dir):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1100,1000",
                 f"--user-data-dir={download_dir.parent / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


@pytest.mark.slow
def test_the_page_in_a_real_browser_keeps_answers_across_a_reload_and_saves_them(tmp_path):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("CXR_GAN_REQUIRE_BROWSER"):
            pytest.fail("Chromium and ChromeDriver are needed (Debian: apt-get install chromium "
                        "chromium-driver); .ci/run installs them.")
        pytest.skip("no chromium/chromedriver here (Debian: apt-get install chromium "
                    "chromium-driver)")
    from selenium.webdriver.common.by import By

    real, fake = _folders(tmp_path, 20, 20)
    key = make_session(real, fake, 10, seed=0, out=tmp_path / "s")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    shots = Path(os.environ.get("CXR_GAN_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    driver = _browser(downloads)
    try:
        started = time.monotonic()
        driver.get((tmp_path / "s" / "reader-study.html").as_uri())
        assert time.monotonic() - started < 10  # Opens in a few seconds.
        driver.save_screenshot(str(shots / "reader-start.png"))
        body = driver.find_element(By.TAG_NAME, "body")
        driver.find_element(By.ID, "start").click()
        progress = driver.find_element(By.ID, "progress")
        assert progress.text == "1 of 20"
        for _ in range(7):
            body.send_keys("3")  # Sure,
            body.send_keys("g")  # generated.
        assert progress.text == "8 of 20"
        driver.refresh()  # Closed and reopened: the answers are still there.
        progress = driver.find_element(By.ID, "progress")
        assert progress.text == "8 of 20"
        driver.save_screenshot(str(shots / "reader-midway.png"))
        body = driver.find_element(By.TAG_NAME, "body")
        for _ in range(13):
            body.send_keys("g")
        assert progress.text == "20 of 20"
        assert driver.find_element(By.ID, "done").is_displayed()
        driver.save_screenshot(str(shots / "reader-end.png"))
        driver.find_element(By.ID, "save").click()
        saved = downloads / f"answers-{key['session']}.csv"
        deadline = time.monotonic() + 20
        while not saved.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        driver.quit()
    rows = read_answers(saved, key)
    assert [row["confidence"] for row in rows] == ["3"] * 7 + ["2"] * 13
    scores = score_answers(key, rows)  # Always G: sensitivity 1, specificity 0.
    assert scores["sensitivity"]["value"] == 1.0 and scores["specificity"]["value"] == 0.0
    assert scores["accuracy"]["value"] == 0.5
    assert json.loads((tmp_path / "s" / "key.json").read_text())["session"] == key["session"]


@pytest.mark.slow
def test_the_two_sample_test_gives_one_half_for_one_set_and_one_for_separable_sets(tmp_path):
    from cxr_gan.realism.two_sample import realism

    rng = np.random.default_rng(0)
    for name, mean in (("dark", 60), ("light", 190)):
        (tmp_path / name).mkdir()
        for i in range(60):
            image = np.clip(rng.normal(mean, 20, (32, 32)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(tmp_path / name / f"{i:02d}.png")
    same, halves, other = realism(tmp_path / "dark", tmp_path / "dark", tmp_path / "light",
                                  image_size=16, epochs=15)
    # One folder against itself: no critic can do better than chance.
    assert same.accuracy["low"] < 0.5 < same.accuracy["high"] and same.n_held_out == 36
    assert halves.accuracy["low"] < 0.5 < halves.accuracy["high"]
    assert other.accuracy["value"] == 1.0 and other.auc["value"] == 1.0 and other.p_value < 1e-3
