"""Segment-id maps -> per-segment COCO RLE and areas.

A segment-id map is an integer (H, W) array; 0 is void. The RLE here is COCO's (column-major runs,
compressed ``counts`` bytes), the format pycocotools, hotcoco and the COCO result files share.
"""
import numpy as np
from hotcoco import mask as hotcoco_mask


class SegmentRuns:
    """A segment-id map cut into runs of equal id, in COCO's column-major pixel order.

    One pass over the pixels gives every segment's RLE counts and area, with no per-segment pass
    over the pixels (encoding one binary mask per segment would cost O(segments · pixels)).
    """

    def __init__(self, id_map: np.ndarray):
        id_map = np.asarray(id_map)
        if id_map.ndim != 2 or id_map.size == 0:
            raise ValueError(f"a segment-id map must be a non-empty (H, W) array, got shape {id_map.shape}")
        self.height, self.width = id_map.shape
        flat = id_map.T.ravel()
        self._n_pixels = flat.size
        changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], changes))
        ends = np.concatenate((changes, [self._n_pixels]))
        run_ids = flat[starts]
        # Grouped by id; the sort is stable, so each group stays in pixel order.
        order = np.argsort(run_ids, kind="stable")
        starts, ends, run_ids = starts[order], ends[order], run_ids[order]
        ids, first_run, runs_per_id = np.unique(run_ids, return_index=True, return_counts=True)
        self.ids = ids
        """The ids that occur in the map, sorted (0, void, included if present)."""
        lengths = ends - starts
        # COCO counts alternate background / foreground lengths, starting with background: the
        # gap before each run is its start minus the end of the id's previous run (0 for the first).
        previous_end = np.concatenate(([0], ends[:-1]))
        previous_end[first_run] = 0
        self._counts = np.empty(2 * len(starts), dtype=np.int64)
        self._counts[0::2] = starts - previous_end
        self._counts[1::2] = lengths
        last_run = first_run + runs_per_id - 1
        # id -> (its slice of _counts, the background length after its last run)
        self._spans = dict(zip(ids.tolist(), zip(
            (2 * first_run).tolist(), (2 * last_run + 2).tolist(), (self._n_pixels - ends[last_run]).tolist()
        )))
        self._areas = dict(zip(ids.tolist(), np.add.reduceat(lengths, first_run).tolist()))

    def area(self, segment_id: int) -> int:
        return self._areas.get(segment_id, 0)

    def _counts_of(self, segment_id: int) -> list:
        if segment_id not in self._spans:
            return [self._n_pixels]
        begin, end, tail = self._spans[segment_id]
        return self._counts[begin:end].tolist() + ([tail] if tail else [])

    def rles(self, segment_ids) -> list:
        """COCO RLEs ``{"size": [h, w], "counts": bytes}`` of ``segment_ids`` (an empty mask for an absent id)."""
        size = [self.height, self.width]
        uncompressed = [{"size": size, "counts": self._counts_of(int(i))} for i in segment_ids]
        return hotcoco_mask.frPyObjects(uncompressed, *size) if uncompressed else []
