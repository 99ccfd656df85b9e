"""MergeSettings: one spelling of the merge's thresholds, checked, and carried by the export metadata."""
import pytest

from panfpn_lite.merge_settings import MergeSettings


def test_defaults_are_detectron2s_combine_defaults():
    from detectron2.config import get_cfg

    combine = get_cfg().MODEL.PANOPTIC_FPN.COMBINE
    assert MergeSettings() == MergeSettings(
        combine.OVERLAP_THRESH, combine.STUFF_AREA_LIMIT, combine.INSTANCES_CONFIDENCE_THRESH
    )


def test_metadata_round_trip_keeps_every_field():
    settings = MergeSettings(overlap_thresh=0.25, stuff_area_limit=64, instances_confidence_thresh=0.4)
    assert settings.to_metadata() == {"overlap_thresh": 0.25, "stuff_area_limit": 64, "instances_confidence_thresh": 0.4}
    assert MergeSettings.from_metadata(settings.to_metadata(), "x.json") == settings


def test_old_metadata_key_is_named():
    old = {"overlap_thresh": 0.5, "stuff_area_limit": 4096, "instances_score_thresh": 0.5}
    with pytest.raises(ValueError, match=r"x\.json: \"merge\" lacks \['instances_confidence_thresh'\]"):
        MergeSettings.from_metadata(old, "x.json")


def test_per_category_thresholds_are_tuples_and_reported():
    settings = MergeSettings(stuff_area_limit=[1, 2, 3])
    assert settings.stuff_area_limit == (1, 2, 3)
    assert settings.per_category_fields() == ("stuff_area_limit",)
    assert MergeSettings().per_category_fields() == ()


@pytest.mark.parametrize(
    "field, value", [("overlap_thresh", "0.5"), ("overlap_thresh", True), ("stuff_area_limit", [1, "a"]),
                     ("instances_confidence_thresh", None)]
)
def test_bad_values_are_named(field, value):
    with pytest.raises(ValueError, match=f"MergeSettings.{field}"):
        MergeSettings(**{field: value})
