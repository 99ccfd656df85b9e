"""The COCO panoptic codec: ids <-> RGB and PNGs, segment geometry, category and image ids."""
import numpy as np
import pytest

from panfpn_lite.panoptic_format import (
    DatasetCategoryIds,
    id_to_rgb,
    read_panoptic_png,
    rgb_to_id,
    segment_areas,
    segment_box,
    segment_info,
    write_panoptic_png,
)


def test_ids_survive_rgb_and_a_png(tmp_path):
    id_map = np.array([[0, 1, 255], [256, 65536, 256**3 - 1]], dtype=np.int64)
    assert np.array_equal(rgb_to_id(id_to_rgb(id_map)), id_map)
    write_panoptic_png(id_map, str(tmp_path / "a.png"))
    assert np.array_equal(read_panoptic_png(str(tmp_path / "a.png")), id_map)


def test_out_of_range_ids_and_missing_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="b.png"):
        write_panoptic_png(np.array([[256**3]]), str(tmp_path / "b.png"))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_panoptic_png(str(tmp_path / "missing.png"))


def test_segment_geometry_and_record():
    id_map = np.zeros((4, 5), dtype=np.int64)
    id_map[1:3, 2:5] = 7
    assert segment_box(id_map == 7) == [2, 1, 3, 2]
    assert segment_box(id_map == 8) == [0, 0, 0, 0]
    assert segment_areas(id_map, [7, 8]) == {7: 6, 8: 0}
    assert segment_info(7, 3, 6, bbox=[2, 1, 3, 2], score=0.5) == {
        "id": 7, "category_id": 3, "iscrowd": 0, "area": 6, "bbox": [2, 1, 3, 2], "score": 0.5
    }


def test_contiguous_category_ids_map_back_to_the_dataset_ids():
    ids = DatasetCategoryIds({7: 0, 3: 1}, {50: 1, 9: 2}, "toy")
    assert ids.of_segment({"id": 1, "category_id": 1, "isthing": True}, image_id=5) == 3
    assert ids.of_segment({"id": 2, "category_id": 1, "isthing": False}, image_id=5) == 50
    with pytest.raises(KeyError, match="image_id 5: predicted segment 4 has stuff contiguous category_id 3"):
        ids.of_segment({"id": 4, "category_id": 3, "isthing": False}, image_id=5)
