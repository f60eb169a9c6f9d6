"""The resolution's ceiling: what a perfect generator of a given size could score.

A generator of ``S`` px can at best produce the training images as it saw them: gray, resized
to ``S x S`` by the run's filter. Against the training images as stored (the paper's protocol)
even such a generator loses some fidelity; the real-vs-real rows below measure how much, so
that a generator's figure can be read beside the figure of its own bottleneck.

Precision, recall, density and coverage use k-nearest-neighbour radii whose size depends on
how many images each set holds (more images, smaller radii), so rows are comparable only at
equal set sizes. The table therefore splits the training images once (seeded) into a
reference half A and a candidate half B, and scores every candidate set at B's size against
A:

- reference A as stored: B as stored (the sampling floor), B at S px (the ceiling), ``len(B)``
  generated images (a seeded sample);
- reference A at S px: B at S px (the ceiling of that protocol), the same generated images.

The generated rows here use fewer images than a headline figure (``len(B)``, not 2534), so
FID-d is biased upwards at such sizes alike for every row of the table; compare within it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from cxr_gan.fid.metrics import compute_all


@dataclasses.dataclass(frozen=True)
class CeilingRow:
    """One candidate set scored against one reference set."""

    reference: str
    candidate: str
    n_reference: int
    n_candidate: int
    scores: dict


def _take(features: dict, index) -> dict:
    return {key: value[index] for key, value in features.items()}


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``range(n)`` into a reference half (``n // 2``) and the rest."""
    order = np.random.default_rng([seed, n]).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def ceiling_rows(stored: dict, at_size: dict, generated: dict, size: int,
                 seed: int = 0) -> list[CeilingRow]:
    """The matched-size table (module docstring) from three feature sets.

    Args:
        stored: Features of the training images as stored.
        at_size: Features of the same images, in the same order, at ``size`` px.
        generated: Features of generated images (at least two).
        size: The generator's resolution, for the row names.
        seed: Seeds the halves and the generated sample.
    """
    n = len(stored["f2048"])
    if len(at_size["f2048"]) != n:
        raise ValueError("`stored` and `at_size` must hold the same images.")
    a, b = halves(n, seed)
    n_fake = len(generated["f2048"])
    pick = np.sort(np.random.default_rng([seed, n_fake]).permutation(n_fake)[: len(b)])
    fake = _take(generated, pick)
    rows = []
    references = (("half A as stored", _take(stored, a)),
                  (f"half A at {size} px", _take(at_size, a)))
    for reference_name, reference in references:
        candidates = [(f"half B at {size} px (the ceiling)", _take(at_size, b)),
                      (f"{len(pick)} generated", fake)]
        if reference_name.endswith("as stored"):
            candidates.insert(0, ("half B as stored (sampling floor)", _take(stored, b)))
        for candidate_name, candidate in candidates:
            rows.append(CeilingRow(reference_name, candidate_name, len(a),
                                   len(candidate["f2048"]), compute_all(reference, candidate)))
    return rows


def ceiling_table(extractor, train_files: Sequence[Path], generated: dict, size: int,
                  resize_filter: str, seed: int = 0) -> list[CeilingRow]:
    """``ceiling_rows`` of a run's training files (read as stored and at ``size`` px with
    ``resize_filter``, both cached) and generated features."""
    stored, meta = extractor.files_statistics(train_files, "training images")
    at_size, at_meta = extractor.files_statistics(train_files, f"training images at {size} px",
                                                  at_size=size, resize_filter=resize_filter)
    if meta["paths"] != at_meta["paths"]:
        raise ValueError("The training files read differently as stored and resized.")
    return ceiling_rows(stored, at_size, generated, size, seed)


def format_ceiling(rows: Sequence[CeilingRow]) -> str:
    """The table as Markdown."""
    from cxr_gan.io import markdown_table

    header = ["reference", "candidate", "n", "FID-768", "FID-2048", "KID", "precision",
              "recall", "density", "coverage"]
    body = [[r.reference, r.candidate, f"{r.n_reference} / {r.n_candidate}",
             f"{r.scores['fid_768']:.3f}", f"{r.scores['fid_2048']:.1f}",
             f"{r.scores['kid_mean']:.4f}", f"{r.scores['precision']:.3f}",
             f"{r.scores['recall']:.3f}", f"{r.scores['density']:.3f}",
             f"{r.scores['coverage']:.3f}"] for r in rows]
    return markdown_table(header, body, align="llrrrrrrrr")
