"""Segment-id maps -> COCO panoptic PNGs and per-segment COCO RLE.

A segment-id map is an integer (H, W) array; 0 is void. COCO panoptic PNGs store the id as
R + 256·G + 256²·B. The RLE here is COCO's (column-major runs, compressed ``counts`` bytes),
the format pycocotools, hotcoco and the COCO result files share. (Reading a PNG is
``panfpn_d2.data.dataset_mapper.read_panoptic_png``.)
"""
import numpy as np
from hotcoco import mask as hotcoco_mask
from PIL import Image


def write_panoptic_png(id_map: np.ndarray, path: str) -> None:
    """Write a segment-id map (ids < 256³) as a COCO panoptic PNG."""
    id_map = np.asarray(id_map, dtype=np.int64)
    if id_map.size and (id_map.min() < 0 or id_map.max() >= 256**3):
        raise ValueError(f"{path}: segment ids must lie in [0, 256**3), got [{id_map.min()}, {id_map.max()}]")
    rgb = np.stack([id_map % 256, id_map // 256 % 256, id_map // 65536], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)


class SegmentRuns:
    """A segment-id map cut into runs of equal id, in COCO's column-major pixel order.

    One pass over the pixels gives every segment's RLE and area; encoding one binary mask per
    segment instead would cost O(segments · pixels).
    """

    def __init__(self, id_map: np.ndarray):
        id_map = np.asarray(id_map)
        if id_map.ndim != 2 or id_map.size == 0:
            raise ValueError(f"a segment-id map must be a non-empty (H, W) array, got shape {id_map.shape}")
        self.height, self.width = id_map.shape
        flat = id_map.T.ravel()
        self._n_pixels = flat.size
        starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
        ends = np.concatenate((starts[1:], [self._n_pixels]))
        run_ids = flat[starts]
        # Grouped by id; the sort is stable, so each group stays in pixel order.
        order = np.argsort(run_ids, kind="stable")
        self._starts, self._ends, self._run_ids = starts[order], ends[order], run_ids[order]
        self.ids = np.unique(self._run_ids)
        """The ids that occur in the map, sorted (0, void, included if present)."""

    def _runs(self, segment_id: int):
        lo = np.searchsorted(self._run_ids, segment_id, "left")
        hi = np.searchsorted(self._run_ids, segment_id, "right")
        return self._starts[lo:hi], self._ends[lo:hi]

    def area(self, segment_id: int) -> int:
        starts, ends = self._runs(segment_id)
        return int((ends - starts).sum())

    def rle(self, segment_id: int) -> dict:
        """COCO RLE ``{"size": [h, w], "counts": bytes}`` of one id (empty mask if absent)."""
        starts, ends = self._runs(segment_id)
        # COCO counts alternate background / foreground lengths, starting with background.
        boundaries = np.empty(2 * len(starts) + 1, dtype=np.int64)
        boundaries[0:-1:2] = starts
        boundaries[1::2] = ends
        boundaries[-1] = self._n_pixels
        counts = np.diff(boundaries, prepend=0)
        if len(counts) > 1 and counts[-1] == 0:
            counts = counts[:-1]
        size = [self.height, self.width]
        return hotcoco_mask.frPyObjects({"size": size, "counts": counts.tolist()}, *size)
