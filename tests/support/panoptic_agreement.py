"""How close two panoptic predictions are: the export tests and benchmarks/bench_export.py check an
export against the eager model with it."""
from typing import List, Tuple

import numpy as np

Panoptic = Tuple[np.ndarray, List[dict]]


def category_map(id_map: np.ndarray, segments: List[dict]) -> np.ndarray:
    """Each pixel's segment kind and category as one integer: 0 unassigned, thing category c
    -> -(c + 1), stuff category c -> c + 1."""
    lookup = np.zeros(max([0] + [s["id"] for s in segments]) + 1, dtype=np.int64)
    for s in segments:
        lookup[s["id"]] = -(s["category_id"] + 1) if s["isthing"] else s["category_id"] + 1
    return lookup[np.asarray(id_map)]


def category_agreement(expected: Panoptic, actual: Panoptic) -> float:
    """The fraction of pixels in a segment of the same category (and thing/stuff kind) in both."""
    return float(np.mean(category_map(*expected) == category_map(*actual)))
