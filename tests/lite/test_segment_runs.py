"""SegmentRuns: every segment's COCO RLE and area from one pass, equal to encoding each mask."""
import numpy as np
import pytest
from hotcoco import mask as hotcoco_mask

from panfpn_lite.segment_runs import SegmentRuns


def _id_maps():
    rng = np.random.default_rng(0)
    yield np.full((3, 4), 7)  # one segment covering everything
    yield np.array([[5, 0, 0], [0, 0, 9]])  # ids in the first and the last pixel
    for _ in range(20):
        height, width = rng.integers(1, 40, 2)
        id_map = np.zeros((height, width), dtype=np.int32)
        for segment_id in rng.choice(np.arange(1, 1000), size=rng.integers(1, 12), replace=False):
            y, x = rng.integers(0, height), rng.integers(0, width)
            id_map[y:y + rng.integers(1, height + 1), x:x + rng.integers(1, width + 1)] = segment_id
        id_map[rng.random((height, width)) < 0.05] = rng.integers(1, 1000)  # scattered single pixels
        yield id_map


@pytest.mark.parametrize("id_map", list(_id_maps()))
def test_rle_and_area_equal_encoding_each_mask(id_map):
    runs = SegmentRuns(id_map)
    assert runs.ids.tolist() == np.unique(id_map).tolist()
    absent = int(id_map.max()) + 1
    queried = runs.ids.tolist() + [absent]
    for segment_id, rle in zip(queried, runs.rles(queried)):
        mask = np.asfortranarray((id_map == segment_id).astype(np.uint8))
        assert rle == hotcoco_mask.encode(mask), segment_id
        assert runs.area(segment_id) == int(mask.sum())
    assert runs.rles([]) == []


def test_an_empty_or_flat_map_is_an_error():
    with pytest.raises(ValueError, match=r"shape \(0, 5\)"):
        SegmentRuns(np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        SegmentRuns(np.zeros(5))
