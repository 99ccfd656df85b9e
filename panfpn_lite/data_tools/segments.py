"""Per-segment geometry of a segment-id map in one pass, and a process pool for per-image work."""
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, Iterable, List, Tuple

import numpy as np


def segment_geometry(id_map: np.ndarray) -> Dict[int, Tuple[int, List[int]]]:
    """id -> (area, COCO ``[x, y, width, height]``) of every id in a segment-id map (0 included).

    Works on the map's horizontal runs of equal id (a few per row and segment), where
    ``panoptic_format.segment_box`` per id would pass over all pixels once per segment.
    """
    height, width = id_map.shape
    starts_run = np.empty((height, width), dtype=bool)
    starts_run[:, 0] = True  # no run crosses a row's end
    np.not_equal(id_map[:, 1:], id_map[:, :-1], out=starts_run[:, 1:])
    starts = np.flatnonzero(starts_run)
    lengths = np.diff(np.append(starts, height * width))
    rows, first_columns = np.divmod(starts, width)
    ids, inverse = np.unique(id_map.ravel()[starts], return_inverse=True)
    areas = np.bincount(inverse, weights=lengths, minlength=len(ids)).astype(np.int64)
    y0, x0 = np.full(len(ids), height), np.full(len(ids), width)
    y1, x1 = np.full(len(ids), -1), np.full(len(ids), -1)
    np.minimum.at(y0, inverse, rows)
    np.maximum.at(y1, inverse, rows)
    np.minimum.at(x0, inverse, first_columns)
    np.maximum.at(x1, inverse, first_columns + lengths - 1)
    return {
        int(i): (int(a), [int(x), int(y), int(xe - x + 1), int(ye - y + 1)])
        for i, a, x, y, xe, ye in zip(ids, areas, x0, y0, x1, y1)
    }


def default_workers() -> int:
    return min(2, os.cpu_count() or 1)


def map_in_processes(function: Callable, items: Iterable, workers: int) -> Iterable:
    """``function`` over ``items`` in ``workers`` processes (in this one for 1), results in item order."""
    items = list(items)
    if workers <= 1 or len(items) < 2:
        return map(function, items)
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(function, items, chunksize=max(1, min(16, len(items) // (4 * workers)))))
