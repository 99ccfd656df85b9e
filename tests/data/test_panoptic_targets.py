"""Targets derived from a panoptic id map: semantic labels in both thing modes, instances, errors."""
from types import SimpleNamespace

import numpy as np
import pytest

from panfpn_d2.data.panoptic_targets import (
    check_segments_present,
    instances_from_panoptic,
    semantic_target_from_panoptic,
)
from panfpn_lite.semantic_layout import SemanticLabelLayout

# Dataset ids deliberately out of order and sparse: things 7 and 3, stuff 50 and 9.
METADATA = SimpleNamespace(
    category_dataset_ids=[7, 50, 3, 9],
    thing_dataset_id_to_contiguous_id={7: 0, 3: 1},
    stuff_dataset_id_to_contiguous_id={50: 1, 9: 2},
    thing_classes=["seven", "three"],
    stuff_classes=["things", "fifty", "nine"],
)
SEGMENTS = [
    {"id": 300, "category_id": 2, "isthing": 0, "iscrowd": 0},  # stuff 9
    {"id": 11, "category_id": 0, "isthing": 1, "iscrowd": 0},  # thing 7
    {"id": 12, "category_id": 1, "isthing": 1, "iscrowd": 0},  # thing 3
    {"id": 13, "category_id": 1, "isthing": 1, "iscrowd": 1},  # thing 3, crowd
    {"id": 70000, "category_id": 1, "isthing": 0, "iscrowd": 0},  # stuff 50
]


def make_pan_seg():
    pan = np.full((6, 8), 300, dtype=np.int32)
    pan[0, :] = 0  # void row
    pan[1:3, 1:4] = 11
    pan[4, 6] = 12  # a one-pixel instance
    pan[3:6, 0:2] = 13
    pan[5, 3:8] = 70000
    return pan


def test_semantic_other_mode():
    pan = make_pan_seg()
    sem = semantic_target_from_panoptic(pan, SEGMENTS, SemanticLabelLayout.from_metadata(METADATA, "other"))
    expected = np.full(pan.shape, 2, dtype=np.uint8)
    expected[pan == 0] = 255
    expected[np.isin(pan, [11, 12, 13])] = 0
    expected[pan == 70000] = 1
    assert sem.dtype == np.uint8
    np.testing.assert_array_equal(sem, expected)


def test_semantic_all_mode_uses_category_order():
    pan = make_pan_seg()
    sem = semantic_target_from_panoptic(pan, SEGMENTS, SemanticLabelLayout.from_metadata(METADATA, "all"))
    expected = np.full(pan.shape, 3, dtype=np.uint8)  # stuff 9 is 4th in category_dataset_ids
    expected[pan == 0] = 255
    expected[pan == 11] = 0
    expected[np.isin(pan, [12, 13])] = 2
    expected[pan == 70000] = 1
    np.testing.assert_array_equal(sem, expected)


def test_instances_skip_crowd_and_stuff():
    pan = make_pan_seg()
    inst = instances_from_panoptic(pan, SEGMENTS)
    assert inst.image_size == (6, 8)
    assert inst.gt_classes.tolist() == [0, 1]
    np.testing.assert_array_equal(inst.gt_masks.tensor[0].numpy(), pan == 11)
    np.testing.assert_array_equal(inst.gt_masks.tensor[1].numpy(), pan == 12)
    assert inst.gt_boxes.tensor.tolist() == [[1, 1, 4, 3], [6, 4, 7, 5]]


def test_segments_cropped_away_are_dropped_and_empty_is_valid():
    pan = np.full((4, 4), 300, dtype=np.int32)
    inst = instances_from_panoptic(pan, SEGMENTS)  # listed things absent: fine after a crop
    assert len(inst) == 0
    assert tuple(inst.gt_masks.tensor.shape) == (0, 4, 4)
    assert tuple(inst.gt_boxes.tensor.shape) == (0, 4)
    void = semantic_target_from_panoptic(np.zeros((3, 3), np.int32), [], SemanticLabelLayout.from_metadata(METADATA, "other"))
    assert (void == 255).all()


def test_unknown_png_segment_names_source():
    pan = make_pan_seg()
    pan[0, 0] = 999
    for fn in (
        lambda: semantic_target_from_panoptic(pan, SEGMENTS, SemanticLabelLayout.from_metadata(METADATA, "other"), source="a/b.png"),
        lambda: instances_from_panoptic(pan, SEGMENTS, source="a/b.png"),
    ):
        with pytest.raises(ValueError, match=r"a/b\.png.*\[999\].*not in segments_info"):
            fn()


def test_listed_segment_absent_from_png():
    pan = make_pan_seg()
    check_segments_present(pan, SEGMENTS, source="x.png")
    pan[pan == 12] = 300
    with pytest.raises(ValueError, match=r"x\.png.*\[12\].*do not occur"):
        check_segments_present(pan, SEGMENTS, source="x.png")


def test_bad_thing_mode_and_duplicate_ids():
    with pytest.raises(ValueError, match="thing_mode"):
        semantic_target_from_panoptic(make_pan_seg(), SEGMENTS, SemanticLabelLayout.from_metadata(METADATA, "things"))
    with pytest.raises(ValueError, match=r"\[11\] more than once"):
        instances_from_panoptic(make_pan_seg(), SEGMENTS + [dict(SEGMENTS[1])], source="y.png")
