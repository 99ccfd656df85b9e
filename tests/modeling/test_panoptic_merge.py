import pytest
import torch
from detectron2.modeling.meta_arch.panoptic_fpn import (
    combine_semantic_and_instance_outputs as detectron2_merge,
)
from detectron2.structures import Instances

from panfpn_d2.modeling.panoptic_merge import combine_semantic_and_instance_outputs as merge


def make_instances(masks, scores, classes=None):
    """Instances over the image of `masks` (N, H, W); classes default to 0..N-1."""
    masks = torch.as_tensor(masks)
    instances = Instances(tuple(masks.shape[1:]))
    instances.scores = torch.as_tensor(scores, dtype=torch.float32)
    instances.pred_classes = (
        torch.arange(len(masks)) if classes is None else torch.as_tensor(classes)
    )
    instances.pred_masks = masks
    return instances


def rect_mask(shape, y0, y1, x0, x1):
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask


SHAPE = (4, 10)
ALL_STUFF = torch.ones(SHAPE, dtype=torch.long)  # a single stuff label, 1, everywhere


def two_overlapping_instances(overlap_columns):
    """A (score 0.9) covers columns 0-4; B (score 0.8) the 5 columns from 5 - overlap.

    Both are 4x5 = 20 pixels, so B's overlap ratio is overlap_columns / 5.
    """
    first = rect_mask(SHAPE, 0, 4, 0, 5)
    second = rect_mask(SHAPE, 0, 4, 5 - overlap_columns, 10 - overlap_columns)
    return make_instances(torch.stack([first, second]), [0.9, 0.8], [3, 7])


def thing_ids(segments_info):
    return [segment["instance_id"] for segment in segments_info if segment["isthing"]]


@pytest.mark.parametrize(
    "overlap_threshold, second_kept",
    [(0.4 - 1e-9, False), (0.4, True), (0.4 + 1e-9, True)],
    ids=["just-below", "exactly-at", "just-above"],
)
def test_overlap_threshold_is_strict(overlap_threshold, second_kept):
    # B overlaps A on 2 of its 5 columns: ratio 0.4. Skipped only when 0.4 > threshold.
    instances = two_overlapping_instances(overlap_columns=2)
    panoptic, segments = merge(instances, ALL_STUFF, overlap_threshold, 0, 0.5)
    assert (panoptic[:, :5] == 1).all()
    if second_kept:
        assert thing_ids(segments) == [0, 1]
        # B keeps only its free pixels; the overlap stays A's.
        assert (panoptic[:, 5:8] == 2).all() and (panoptic[:, 8:] == 3).all()
        assert segments[1:] == [
            {"id": 2, "isthing": True, "score": torch.tensor(0.8).item(), "category_id": 7,
             "instance_id": 1},
            {"id": 3, "isthing": False, "category_id": 1, "area": 8},
        ]
    else:
        assert thing_ids(segments) == [0]
        # B's pixels become stuff, numbered right after A.
        assert (panoptic[:, 5:] == 2).all()
        assert segments[1:] == [{"id": 2, "isthing": False, "category_id": 1, "area": 20}]


def test_score_threshold_stops_at_first_low_score_and_is_inclusive():
    masks = torch.stack([rect_mask(SHAPE, 0, 1, 0, 10), rect_mask(SHAPE, 1, 2, 0, 10),
                         rect_mask(SHAPE, 2, 3, 0, 10)])
    instances = make_instances(masks, [0.5, 0.49, 0.7])
    panoptic, segments = merge(instances, torch.zeros(SHAPE, dtype=torch.long), 0.5, 0, 0.5)
    # Visited by score: 2 (0.7), 0 (0.5, equal to the threshold: kept), 1 (below).
    assert thing_ids(segments) == [2, 0]
    assert segments[0]["score"] == torch.tensor(0.7).item()
    assert panoptic.tolist() == [[2] * 10, [0] * 10, [1] * 10, [0] * 10]


def test_nan_score_after_a_low_score_is_not_pasted_like_detectron2():
    # argsort puts NaN last; detectron2 stops at 0.2 before reaching it.
    masks = torch.stack([rect_mask(SHAPE, 0, 1, 0, 10), rect_mask(SHAPE, 1, 2, 0, 10),
                         rect_mask(SHAPE, 2, 3, 0, 10)])
    instances = make_instances(masks, [0.9, float("nan"), 0.2])
    ours = merge(instances, ALL_STUFF, 0.5, 0, 0.5)
    theirs = detectron2_merge(instances, ALL_STUFF, 0.5, 0, 0.5)
    assert thing_ids(ours[1]) == [0]
    assert torch.equal(ours[0], theirs[0]) and ours[1] == theirs[1]


def test_empty_mask_is_skipped_without_using_an_id():
    masks = torch.stack([torch.zeros(SHAPE, dtype=torch.bool), rect_mask(SHAPE, 0, 2, 0, 2)])
    panoptic, segments = merge(make_instances(masks, [0.9, 0.8]), ALL_STUFF, 0.5, 0, 0.5)
    assert thing_ids(segments) == [1]
    assert segments[0]["id"] == 1
    assert (panoptic[:2, :2] == 1).all()


def test_instances_win_over_stuff_and_stuff_area_counts_free_pixels():
    masks = rect_mask(SHAPE, 0, 4, 0, 3)[None]
    panoptic, segments = merge(make_instances(masks, [0.9]), ALL_STUFF, 0.5, 0, 0.5)
    assert (panoptic[:, :3] == 1).all() and (panoptic[:, 3:] == 2).all()
    assert segments[1] == {"id": 2, "isthing": False, "category_id": 1, "area": 28}


def test_stuff_label_covered_by_instances_gives_empty_segment_without_area_limit():
    # As detectron2: every label present in the map is considered, so with a limit of 0
    # a label whose pixels all went to instances still gets a (zero-area) segment.
    semantic = torch.ones(SHAPE, dtype=torch.long)
    semantic[0, :2] = 2
    instances = make_instances(rect_mask(SHAPE, 0, 1, 0, 3)[None], [0.9])
    ours = merge(instances, semantic, 0.5, 0, 0.5)
    theirs = detectron2_merge(instances, semantic, 0.5, 0, 0.5)
    assert ours[1][1:] == [
        {"id": 2, "isthing": False, "category_id": 1, "area": 37},
        {"id": 3, "isthing": False, "category_id": 2, "area": 0},
    ]
    assert torch.equal(ours[0], theirs[0]) and ours[1] == theirs[1]


def test_small_stuff_is_dropped_and_limit_is_inclusive():
    semantic = torch.ones(SHAPE, dtype=torch.long)
    semantic[0, :3] = 2  # 3 pixels
    semantic[1, :4] = 3  # 4 pixels
    no_instances = make_instances(torch.zeros(0, *SHAPE, dtype=torch.bool), [])
    panoptic, segments = merge(no_instances, semantic, 0.5, 4, 0.5)
    assert [(s["category_id"], s["area"]) for s in segments] == [(1, 33), (3, 4)]
    assert [s["id"] for s in segments] == [1, 2]
    assert (panoptic[0, :3] == 0).all()  # the dropped label's pixels stay unassigned
    assert (panoptic[1, :4] == 2).all()


def test_label_zero_is_discarded_by_default():
    semantic = torch.zeros(SHAPE, dtype=torch.long)
    semantic[:, 5:] = 2
    panoptic, segments = merge(make_instances(torch.zeros(0, *SHAPE), []), semantic, 0.5, 0, 0.5)
    assert segments == [{"id": 1, "isthing": False, "category_id": 2, "area": 20}]
    assert (panoptic[:, :5] == 0).all() and (panoptic[:, 5:] == 1).all()


def test_label_to_category_keeps_label_zero_and_discards_thing_labels():
    # A Cityscapes-like "all" layout: label 0 is road (stuff), label 1 a thing class.
    semantic = torch.zeros(SHAPE, dtype=torch.long)
    semantic[:, 4:7] = 1
    semantic[:, 7:] = 2
    label_to_category = torch.tensor([5, -1, 2])
    masks = rect_mask(SHAPE, 0, 2, 0, 2)[None]
    panoptic, segments = merge(
        make_instances(masks, [0.9]), semantic, 0.5, 0, 0.5,
        semantic_label_to_category=label_to_category,
    )
    assert segments[1:] == [
        {"id": 2, "isthing": False, "category_id": 5, "area": 12},
        {"id": 3, "isthing": False, "category_id": 2, "area": 12},
    ]
    assert (panoptic[:, 4:7] == 0).all()
    assert (panoptic[2:, :4] == 2).all() and (panoptic[:, 7:] == 3).all()
    # A plain sequence works the same.
    assert merge(make_instances(masks, [0.9]), semantic, 0.5, 0, 0.5,
                 semantic_label_to_category=[5, -1, 2])[1] == segments


def test_per_class_score_thresholds_skip_rather_than_stop():
    masks = torch.stack([rect_mask(SHAPE, 0, 1, 0, 10), rect_mask(SHAPE, 1, 2, 0, 10),
                         rect_mask(SHAPE, 2, 3, 0, 10)])
    instances = make_instances(masks, [0.8, 0.6, 0.3], classes=[0, 1, 2])
    thresholds = torch.tensor([0.9, 0.5, 0.3])  # class 0 rejected, then 1 and 2 kept
    _, segments = merge(instances, torch.zeros(SHAPE, dtype=torch.long), 0.5, 0, thresholds)
    assert thing_ids(segments) == [1, 2]
    assert [s["id"] for s in segments] == [1, 2]


def test_per_category_stuff_area_limits():
    semantic = torch.ones(SHAPE, dtype=torch.long)
    semantic[0] = 2  # 10 pixels
    semantic[1] = 3  # 10 pixels
    no_instances = make_instances(torch.zeros(0, *SHAPE), [])
    limits = torch.tensor([0, 0, 11, 10])  # category 2 needs 11 pixels, 3 needs 10
    _, segments = merge(no_instances, semantic, 0.5, limits, 0.5)
    assert [s["category_id"] for s in segments] == [1, 3]
    # The limits are indexed by category, not by label.
    _, segments = merge(no_instances, semantic, 0.5, limits, 0.5,
                        semantic_label_to_category=[-1, 3, 2, 1])
    assert [s["category_id"] for s in segments] == [3, 1]


def test_no_instances_and_no_stuff():
    no_instances = make_instances(torch.zeros(0, *SHAPE, dtype=torch.bool), [])
    panoptic, segments = merge(no_instances, torch.zeros(SHAPE, dtype=torch.long), 0.5, 0, 0.5)
    assert segments == [] and panoptic.dtype == torch.int32 and not panoptic.any()
    # Stuff all under the area limit: only the instance remains.
    masks = rect_mask(SHAPE, 0, 1, 0, 1)[None]
    panoptic, segments = merge(make_instances(masks, [0.9]), ALL_STUFF, 0.5, 100, 0.5)
    assert thing_ids(segments) == [0] and len(segments) == 1
    assert panoptic.sum() == 1


def test_mask_dtypes_are_cast_like_detectron2():
    semantic = torch.randint(0, 3, SHAPE, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(2, *SHAPE)
    masks[0, :2, :6] = 0.3  # nonzero: foreground for .to(torch.bool)
    masks[1, 1:, 4:] = 1.0
    for dtype in (torch.float32, torch.uint8, torch.bool):
        instances = make_instances(masks.to(dtype), [0.9, 0.8])
        ours = merge(instances, semantic, 0.5, 0, 0.5)
        theirs = detectron2_merge(instances, semantic, 0.5, 0, 0.5)
        assert torch.equal(ours[0], theirs[0]) and ours[1] == theirs[1]


def test_empty_image():
    instances = make_instances(torch.zeros(2, 0, 5, dtype=torch.bool), [0.9, 0.8])
    panoptic, segments = merge(instances, torch.zeros(0, 5, dtype=torch.long), 0.5, 0, 0.5)
    assert panoptic.shape == (0, 5) and panoptic.dtype == torch.int32 and segments == []


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(masks=torch.zeros(1, 4, 9, dtype=torch.bool)), "pred_masks must have shape"),
        (dict(semantic=torch.zeros(4, 10)), "integer labels"),
        (dict(semantic=torch.zeros(1, 4, 10, dtype=torch.long)), r"\(H, W\) tensor"),
        (dict(semantic=torch.full(SHAPE, -1)), "negative label"),
        (dict(label_to_category=[0, 1]), "has 2 entries but the semantic map contains label 2"),
        (dict(label_to_category=[-1, 4, 4]), "same stuff category"),
        (dict(label_to_category=[-2, 1, 2]), "or -1"),
        (dict(label_to_category=[0.0, 1.0, 2.0]), "integers"),
        (dict(score_thresh=torch.tensor([0.5] * 3)), "pred_classes contains class 3"),
        (dict(area_thresh=torch.tensor([0, 0])), "stuff category 2 is present"),
        (dict(area_thresh=torch.zeros(2, 2)), "stuff_area_thresh must be a number"),
    ],
)
def test_invalid_inputs_raise_clear_errors(change, message):
    semantic = torch.zeros(SHAPE, dtype=torch.long)
    semantic[0] = 2
    semantic[1] = 1
    masks = change.get("masks", rect_mask(SHAPE, 0, 1, 0, 1)[None])
    instances = make_instances(masks, [0.9], classes=[3])
    with pytest.raises(ValueError, match=message):
        merge(
            instances,
            change.get("semantic", semantic),
            0.5,
            change.get("area_thresh", 0),
            change.get("score_thresh", 0.5),
            semantic_label_to_category=change.get("label_to_category"),
        )


def test_missing_instance_field_raises():
    instances = Instances(
        SHAPE, scores=torch.ones(1), pred_classes=torch.zeros(1, dtype=torch.long)
    )
    with pytest.raises(ValueError, match="no field 'pred_masks'"):
        merge(instances, ALL_STUFF, 0.5, 0, 0.5)


def random_case(seed):
    """Small random inputs with overlapping rectangles-with-holes, tied scores and
    thresholds that hit exact overlap fractions and exact stuff areas."""
    generator = torch.Generator().manual_seed(seed)

    def randint(low, high):
        return int(torch.randint(low, high, (), generator=generator))

    height, width = randint(1, 24), randint(1, 32)
    num_instances = randint(0, 12) if seed % 5 else 0
    masks = torch.zeros(num_instances, height, width, dtype=torch.bool)
    for mask in masks:
        y0, x0 = randint(0, height), randint(0, width)
        y1, x1 = randint(y0, height + 1), randint(x0, width + 1)  # may be empty
        mask[y0:y1, x0:x1] = torch.rand(y1 - y0, x1 - x0, generator=generator) > 0.2
    # Few distinct score values, so ties are common.
    scores = torch.randint(0, 5, (num_instances,), generator=generator) / 4
    classes = torch.randint(0, 4, (num_instances,), generator=generator)
    semantic = torch.randint(0, randint(1, 8), (height, width), generator=generator)
    overlap_threshold = [0.0, 0.25, 1 / 3, 0.5, 0.75, 1.0][randint(0, 6)]
    stuff_area_thresh = [0, 1, 3, 8, 4096][randint(0, 5)]
    score_thresh = [0.0, 0.25, 0.5, 0.75][randint(0, 4)]
    mask_dtype = [torch.bool, torch.uint8, torch.float32][randint(0, 3)]
    instances = make_instances(masks.to(mask_dtype), scores, classes)
    return instances, semantic, overlap_threshold, stuff_area_thresh, score_thresh


@pytest.mark.parametrize("seed", range(300))
def test_random_inputs_match_detectron2(seed):
    args = random_case(seed)
    panoptic, segments = merge(*args)
    expected_panoptic, expected_segments = detectron2_merge(*args)
    assert panoptic.dtype == torch.int32
    assert torch.equal(panoptic, expected_panoptic)
    assert segments == expected_segments
    # Same keys in the same order too (dict equality ignores order).
    assert [list(s) for s in segments] == [list(s) for s in expected_segments]
