"""The semantic label layout of both thing modes, built from a dataset's metadata."""
from types import SimpleNamespace

import pytest

from panfpn_lite.semantic_layout import THING_MODES, SemanticLabelLayout

# Dataset ids deliberately out of order and sparse: things 7 and 3, stuff 50 and 9.
METADATA = SimpleNamespace(
    name="toy",
    category_dataset_ids=[7, 50, 3, 9],
    thing_dataset_id_to_contiguous_id={7: 0, 3: 1},
    stuff_dataset_id_to_contiguous_id={50: 1, 9: 2},
    thing_classes=["seven", "three"],
    thing_colors=[[1, 1, 1], [3, 3, 3]],
    stuff_classes=["things", "fifty", "nine"],
    stuff_colors=[[0, 0, 0], [50, 50, 50], [9, 9, 9]],
)


def test_other_mode_is_the_stuff_contiguous_ids():
    layout = SemanticLabelLayout.from_metadata(METADATA, "other")
    assert layout.num_classes == 3
    assert layout.class_names == ["things", "fifty", "nine"]
    assert layout.dataset_ids == [None, 50, 9]
    assert layout.stuff_contiguous_ids == [-1, 1, 2]
    assert layout.segment_label({"id": 1, "category_id": 1, "isthing": 1}) == 0
    assert layout.segment_label({"id": 2, "category_id": 2, "isthing": 0}) == 2


def test_all_mode_follows_the_dataset_category_order():
    layout = SemanticLabelLayout.from_metadata(METADATA, "all")
    assert layout.class_names == ["seven", "fifty", "three", "nine"]
    assert layout.colors == [[1, 1, 1], [50, 50, 50], [3, 3, 3], [9, 9, 9]]
    assert layout.dataset_ids == [7, 50, 3, 9]
    assert layout.stuff_contiguous_ids == [-1, 1, -1, 2]
    assert layout.segment_label({"id": 1, "category_id": 1, "isthing": 1}) == 2
    with pytest.raises(ValueError, match="a.png: segment 3 has stuff contiguous category_id 5"):
        layout.segment_label({"id": 3, "category_id": 5, "isthing": 0}, "a.png")


def test_bad_thing_mode_and_missing_category_order():
    assert THING_MODES == ("other", "all")
    with pytest.raises(ValueError, match="thing_mode"):
        SemanticLabelLayout.from_metadata(METADATA, "things")
    without_order = SimpleNamespace(**{k: v for k, v in vars(METADATA).items() if k != "category_dataset_ids"})
    with pytest.raises(ValueError, match="category_dataset_ids"):
        SemanticLabelLayout.from_metadata(without_order, "all")
