"""A blinded real-or-generated reader study (the paper's Section 7, "Forthcoming Research").

``make_session``: N real and N generated images drawn with a seed and shuffled, written as one
self-contained page (``cxr_gan.realism.page``) and a key kept apart from it. Real images are
passed through the generator's resolution first: read as 8-bit gray, resized (Pillow, bilinear
with antialiasing, as the GAN's training images were) to the generated images' side, and both
kinds are embedded as 8-bit gray PNGs of that side, which the browser scales up alike. So size,
sharpness from resolution and colour give nothing away; what is left is what the generator
learned.

``score_session``: the answers against the key: accuracy, sensitivity (generated called
generated) and specificity (real called real), each with an exact (Clopper-Pearson) 95 %
interval, the two-sided binomial p of the accuracy against 0.5 (a reader who cannot tell them
apart), accuracy by confidence level, and the generated images called real.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from cxr_gan.cli import UserError
from cxr_gan.io import atomic_write_text, list_images, read_json, write_json
from cxr_gan.realism.page import render_page

ANSWER_COLUMNS = ("session", "index", "answer", "confidence", "seconds")


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def generated_side(paths: Sequence[Path]) -> int:
    """The generated images' side: they must all be square and of one size.

    Raises:
        UserError: Names the first file that differs.
    """
    from PIL import Image

    sides = set()
    for path in paths:
        with Image.open(path) as image:
            if image.width != image.height:
                raise UserError(f"{path} is {image.width}x{image.height}: generated images "
                                "must be square, as train_gan.py generate writes them.")
            sides.add(image.width)
        if len(sides) > 1:
            raise UserError(f"{path} is {image.width} px, others are {min(sides)} px: give "
                            "one generator's images.")
    return sides.pop()


def _draw(folder: str | Path, n: int, rng: np.random.Generator, what: str) -> list[Path]:
    paths = list_images(folder)
    if len(paths) < n:
        raise UserError(f"{folder} holds {len(paths)} {what} images; the session needs {n}. "
                        "Give a smaller --n or a folder with more images.")
    return [paths[i] for i in sorted(rng.choice(len(paths), n, replace=False))]


def make_session(real: str | Path, fake: str | Path, n: int, seed: int, out: str | Path,
                 description: str = "a GAN") -> dict:
    """Writes ``out/reader-study.html`` and ``out/key.json``; returns the key.

    Raises:
        UserError: Too few images, generated images of several sizes, or ``out`` holding a
            session already.
    """
    from cxr_gan.data.images import read_grayscale

    out = Path(out)
    if (out / "key.json").exists() or (out / "reader-study.html").exists():
        raise UserError(f"{out} already holds a reader session: choose a new --out (a key "
                        "must never be overwritten).")
    rng = np.random.default_rng(seed)
    real_paths, fake_paths = _draw(real, n, rng, "real"), _draw(fake, n, rng, "generated")
    side = generated_side(fake_paths)
    items = [("real", p, read_grayscale(p, side, "bilinear")) for p in real_paths]
    items += [("generated", p, read_grayscale(p, side, "bilinear")) for p in fake_paths]
    order = rng.permutation(len(items))
    shown = [items[i] for i in order]
    pngs = [_png(array) for _, _, array in shown]
    digests = [hashlib.sha256(data).hexdigest() for data in pngs]
    session = hashlib.sha256("".join(digests).encode()).hexdigest()[:12]
    key = {"session": session, "seed": seed, "n_real": n, "n_generated": n, "side": side,
           "real": str(real), "fake": str(fake), "description": description,
           "preparation": f"8-bit gray, resized to {side} px (Pillow bilinear, antialiased), "
                          "PNG; shown scaled alike by the browser",
           "images": [{"index": i, "truth": truth, "source": str(path), "sha256": digest}
                      for i, ((truth, path, _), digest) in enumerate(zip(shown, digests))]}
    uris = ["data:image/png;base64," + base64.b64encode(data).decode() for data in pngs]
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "key.json", key)
    atomic_write_text(out / "reader-study.html",
                      render_page(session, uris, description))
    return key


def read_answers(path: str | Path, key: dict) -> list[dict]:
    """The answer rows of ``path``, checked against ``key``.

    Raises:
        UserError: The file is not an answer file, belongs to another session, or does not
            answer each of the key's images once.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            header = rows and list(rows[0])
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path} cannot be read as an answer CSV ({error}).") from None
    if not rows or header != list(ANSWER_COLUMNS):
        raise UserError(f"{path} is not a reader-study answer file (columns "
                        f"{', '.join(ANSWER_COLUMNS)}).")
    sessions = {row["session"] for row in rows}
    if sessions != {key["session"]}:
        raise UserError(f"{path} answers session {', '.join(sorted(sessions))}; the key is of "
                        f"session {key['session']}. Give the key and answers of one session.")
    indices = [int(row["index"]) for row in rows]
    if sorted(indices) != list(range(len(key["images"]))):
        raise UserError(f"{path} answers {len(set(indices))} of the key's "
                        f"{len(key['images'])} images: it is incomplete or answers some twice.")
    for row in rows:
        if row["answer"] not in ("real", "generated") or row["confidence"] not in "123":
            raise UserError(f"{path}: row {row['index']} has answer {row['answer']!r} and "
                            f"confidence {row['confidence']!r} (expected real or generated, "
                            "and 1, 2 or 3).")
    return sorted(rows, key=lambda row: int(row["index"]))


def proportion(successes: int, trials: int) -> dict:
    """A proportion with its exact (Clopper-Pearson) 95 % interval."""
    from scipy import stats

    if trials == 0:
        return {"value": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    interval = stats.binomtest(successes, trials).proportion_ci(0.95, method="exact")
    return {"value": successes / trials, "low": float(interval.low),
            "high": float(interval.high), "n": trials}


def score_answers(key: dict, rows: Sequence[dict]) -> dict:
    """The scores of one reader's answers (``read_answers``'s rows) against ``key``."""
    from scipy import stats

    truth = np.array([image["truth"] == "generated" for image in key["images"]])
    said = np.array([row["answer"] == "generated" for row in rows])
    confidence = np.array([int(row["confidence"]) for row in rows])
    right = truth == said
    by_confidence = {str(level): proportion(int(right[confidence == level].sum()),
                                            int((confidence == level).sum()))
                     for level in (1, 2, 3)}
    fooled = [image["source"] for image, called_generated in zip(key["images"], said)
              if image["truth"] == "generated" and not called_generated]
    return {
        "session": key["session"], "images": len(rows),
        "accuracy": proportion(int(right.sum()), len(right)),
        "sensitivity": proportion(int((said & truth).sum()), int(truth.sum())),
        "specificity": proportion(int((~said & ~truth).sum()), int((~truth).sum())),
        "p_value_against_chance": float(stats.binomtest(int(right.sum()), len(right),
                                                        0.5).pvalue),
        "accuracy_by_confidence": by_confidence,
        "generated_called_real": fooled,
    }


def format_scores(scores: dict) -> str:
    def cell(name):
        p = scores[name]
        return f"{100 * p['value']:.1f} % [{100 * p['low']:.1f}, {100 * p['high']:.1f}] (n {p['n']})"

    lines = [f"Reader study, session {scores['session']}: {scores['images']} images",
             f"  accuracy    {cell('accuracy')}; p = {scores['p_value_against_chance']:.3g} "
             "against 0.5 (two-sided binomial)",
             f"  sensitivity {cell('sensitivity')} (generated called generated)",
             f"  specificity {cell('specificity')} (real called real)"]
    for level, p in scores["accuracy_by_confidence"].items():
        if p["n"]:
            lines.append(f"  confidence {level}: accuracy {100 * p['value']:.1f} % "
                         f"[{100 * p['low']:.1f}, {100 * p['high']:.1f}] (n {p['n']})")
    lines.append(f"  generated images called real: {len(scores['generated_called_real'])}")
    return "\n".join(lines)


def score_session(key_path: str | Path, answers: str | Path, out: str | Path | None) -> dict:
    """Scores an answer file against its key; with ``out``, writes ``scores.json`` and a
    figure of the generated images called real (generated images only)."""
    key = read_json(key_path)
    if not isinstance(key, dict) or "images" not in key or "session" not in key:
        raise UserError(f"{key_path} is not a reader-study key (made by reader-study make).")
    scores = score_answers(key, read_answers(answers, key))
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "scores.json", scores)
        fooled = scores["generated_called_real"]
        if fooled:
            from cxr_gan.data.images import read_grayscale
            from cxr_gan.plots import plot_generated

            images = np.stack([read_grayscale(p, key["side"], "bilinear")
                               for p in fooled[:64]])
            plot_generated(images, f"Generated images called real ({len(fooled)} of "
                           f"{key['n_generated']})",
                           f"reader session {key['session']} | generated: {key['fake']} | "
                           f"seed {key['seed']}", out / "generated_called_real.png")
    return scores
