"""The runtime's numpy merge follows the torch merge: the merge cases of test_panoptic_merge
(those within the runtime's options: one score threshold, one stuff area limit) run again here
with the numpy merge in place of the torch one, and random inputs give identical results."""
import json

import numpy as np
import pytest
import torch
from detectron2.modeling.meta_arch.panoptic_fpn import combine_semantic_and_instance_outputs as detectron2_merge

import tests.modeling.test_panoptic_merge as torch_merge_cases
from tests.modeling.test_panoptic_merge import (  # noqa: F401  (collected here again, on the numpy merge)
    random_case,
    test_empty_image,
    test_empty_mask_is_skipped_without_using_an_id,
    test_instances_win_over_stuff_and_stuff_area_counts_free_pixels,
    test_label_to_category_keeps_label_zero_and_discards_thing_labels,
    test_label_zero_is_discarded_by_default,
    test_mask_dtypes_are_cast_like_detectron2,
    test_nan_score_after_a_low_score_is_not_pasted_like_detectron2,
    test_no_instances_and_no_stuff,
    test_overlap_threshold_is_strict,
    test_random_inputs_match_detectron2,
    test_score_threshold_stops_at_first_low_score_and_is_inclusive,
    test_small_stuff_is_dropped_and_limit_is_inclusive,
    test_stuff_label_covered_by_instances_gives_empty_segment_without_area_limit,
)
from panfpn_d2.modeling.panoptic_merge import combine_semantic_and_instance_outputs, merge_outputs
from panfpn_lite.merge_settings import MergeSettings
from panfpn_lite.runtime.merge import merge_panoptic


def numpy_merge(instances, semantic, overlap_threshold, stuff_area_thresh, score_thresh, *,
                semantic_label_to_category=None):
    """The numpy merge behind the torch merge's signature, for the torch merge's test cases."""
    if semantic_label_to_category is not None:
        semantic_label_to_category = torch.as_tensor(semantic_label_to_category).tolist()
    panoptic, segments = merge_panoptic(
        instances.scores.numpy(),
        instances.pred_classes.numpy(),
        instances.pred_masks.numpy(),
        semantic.numpy(),
        MergeSettings(overlap_threshold, stuff_area_thresh, score_thresh),
        semantic_label_to_category,
    )
    return torch.from_numpy(panoptic), segments


@pytest.fixture(autouse=True)
def merge_is_the_numpy_merge(monkeypatch):
    monkeypatch.setattr(torch_merge_cases, "merge", numpy_merge)


@pytest.mark.parametrize("seed", range(100))
def test_random_inputs_with_label_map_match_torch_merge(seed):
    instances, semantic, overlap, area, score = random_case(seed)
    generator = np.random.default_rng(seed)
    num_labels = int(semantic.max()) + 1
    # A random layout: some labels discarded, the others on distinct categories.
    label_to_category = [
        int(c) if generator.random() < 0.7 else -1 for c in generator.permutation(num_labels + 3)[:num_labels]
    ]
    expected = combine_semantic_and_instance_outputs(
        instances, semantic, overlap, area, score, semantic_label_to_category=label_to_category
    )
    actual = numpy_merge(instances, semantic, overlap, area, score, semantic_label_to_category=label_to_category)
    assert torch.equal(actual[0], expected[0])
    assert actual[1] == expected[1]
    assert [list(s) for s in actual[1]] == [list(s) for s in expected[1]]


@pytest.mark.parametrize("seed", range(30))
def test_settings_carried_by_export_metadata_give_the_models_merge_and_detectron2s(seed):
    """The model's one merge call (merge_outputs, from logits) with its MergeSettings, the numpy merge
    with the settings read back from an export's JSON, and detectron2's function agree."""
    instances, semantic, overlap, area, score = random_case(seed)
    settings = MergeSettings(overlap, area, score)
    from_export = MergeSettings.from_metadata(json.loads(json.dumps(settings.to_metadata())), "panfpn_export.json")
    assert from_export == settings
    logits = torch.nn.functional.one_hot(semantic, int(semantic.max()) + 1).permute(2, 0, 1).float()
    model_map, model_segments = merge_outputs({"instances": instances, "sem_seg": logits}, settings)
    d2_map, d2_segments = detectron2_merge(instances, semantic, overlap, area, score)
    numpy_map, numpy_segments = merge_panoptic(
        instances.scores.numpy(), instances.pred_classes.numpy(), instances.pred_masks.numpy(), semantic.numpy(), from_export
    )
    assert torch.equal(model_map, d2_map) and np.array_equal(numpy_map, d2_map.numpy())
    assert model_segments == d2_segments == numpy_segments


def test_numpy_merge_refuses_per_category_settings():
    instances, semantic, *_ = random_case(1)
    with pytest.raises(ValueError, match=r"per-category \['instances_confidence_thresh'\]"):
        merge_panoptic(
            instances.scores.numpy(), instances.pred_classes.numpy(), instances.pred_masks.numpy(), semantic.numpy(),
            MergeSettings(instances_confidence_thresh=[0.5] * 4),
        )
