"""The panoptic merge of Panoptic FPN (Kirillov et al., CVPR 2019, section 3.2).

:func:`merge_outputs` merges one image's model outputs with a model's :class:`MergeSettings`;
:func:`combine_semantic_and_instance_outputs`, what it calls, is a drop-in, faster equivalent of
detectron2's ``detectron2.modeling.meta_arch.panoptic_fpn.combine_semantic_and_instance_outputs``
(same parameters) with keyword options for what that function cannot express.
"""
from numbers import Integral, Real
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from detectron2.structures import Instances

from panfpn_lite.merge_settings import MergeSettings

__all__ = ["combine_semantic_and_instance_outputs", "confident_instances", "merge_outputs"]

Threshold = Union[Real, torch.Tensor, Sequence[Real]]


def merge_outputs(
    result: Dict[str, object],
    settings: MergeSettings,
    semantic_label_to_category=None,
    instance_ids: Optional[List[int]] = None,
) -> Tuple[torch.Tensor, List[dict]]:
    """The "panoptic_seg" of one image's outputs: the paper's merge of ``result["instances"]`` and
    ``result["sem_seg"]`` (logits) at the output size. With only one of them, the same merge with
    the other side empty: Mask R-CNN alone gives a panoptic map of things only, Semantic FPN alone
    one of stuff only (Table 2's lambda = 0 rows are scored on those: PQ of things, PQ of stuff).

    ``semantic_label_to_category``: see :func:`combine_semantic_and_instance_outputs`.
    ``instance_ids``, when given, are what the thing segments' "instance_id" (indices into
    ``result["instances"]``) become.
    """
    sem_seg, instances = result.get("sem_seg"), result.get("instances")
    if sem_seg is None and instances is None:
        raise ValueError("merge_outputs needs 'instances' or 'sem_seg' in the result")
    if sem_seg is not None:
        semantic = sem_seg.argmax(dim=0)
    else:
        # one label, discarded: no stuff segment
        semantic = torch.zeros(instances.image_size, dtype=torch.long, device=instances.pred_masks.device)
        semantic_label_to_category = [-1]
    if instances is None:
        instances = Instances(
            tuple(semantic.shape),
            scores=torch.zeros(0, device=semantic.device),
            pred_classes=torch.zeros(0, dtype=torch.long, device=semantic.device),
            pred_masks=torch.zeros((0, *semantic.shape), dtype=torch.bool, device=semantic.device),
        )
    panoptic_seg, segments_info = combine_semantic_and_instance_outputs(
        instances,
        semantic,
        settings.overlap_thresh,
        settings.stuff_area_limit,
        settings.instances_confidence_thresh,
        semantic_label_to_category=semantic_label_to_category,
    )
    if instance_ids is not None:
        for segment in segments_info:
            if segment["isthing"]:
                segment["instance_id"] = instance_ids[segment["instance_id"]]
    return panoptic_seg, segments_info


def combine_semantic_and_instance_outputs(
    instance_results,
    semantic_results: torch.Tensor,
    overlap_threshold: float,
    stuff_area_thresh: Threshold,
    instances_score_thresh: Threshold,
    *,
    semantic_label_to_category: Optional[Union[torch.Tensor, Sequence[int]]] = None,
) -> Tuple[torch.Tensor, List[dict]]:
    """Merge instance and semantic predictions into one panoptic segmentation.

    Instances are pasted in order of decreasing score (the order of
    ``torch.argsort(-scores)``, ties included); an instance is skipped when its mask
    is empty or when more than ``overlap_threshold`` of its mask (strictly greater)
    is already covered by higher-scored instances, and otherwise claims its still
    free pixels. The free pixels left over then go to stuff: one segment per
    semantic label present in the map, in increasing label order, made of that
    label's unclaimed pixels, dropped when it has fewer than the stuff area limit.

    Called with only the five positional arguments, the result is identical to
    detectron2's function of the same name (same map, same segment ids, order, keys
    and values), where semantic label 0 is the 'other' (things) class and discarded.

    Args:
        instance_results: detectron2 ``Instances`` with ``scores`` (N,), ``pred_classes``
            (N,) and ``pred_masks`` (N, H, W) of any dtype; like detectron2, a mask
            pixel is foreground when it is nonzero (``.to(torch.bool)``).
        semantic_results: (H, W) integer tensor of non-negative semantic labels.
        overlap_threshold: an instance whose overlap with the already pasted instances,
            as a fraction of its mask area, is greater than this is skipped.
        stuff_area_thresh: stuff segments with fewer pixels than this are dropped.
            Either a number, or a 1-D tensor (or sequence) indexed by stuff category id
            (the category given to the segment, see ``semantic_label_to_category``)
            holding one limit per category.
        instances_score_thresh: minimum instance score. A number: as in detectron2,
            pasting stops at the first (highest-scored) instance below it. Or a 1-D
            tensor (or sequence) indexed by thing class (``pred_classes``): each
            instance is compared with its class's threshold and skipped when below it.
        semantic_label_to_category: one entry per semantic label: the stuff category id
            given to that label's segment, or -1 to discard the label (its pixels stay 0,
            unassigned). Non-negative entries must be distinct, so that each stuff
            category gets at most one segment. ``None`` means detectron2's layout:
            identity, with label 0 (the 'other' class) discarded. Pass it explicitly for
            any other layout, e.g. a semantic head predicting every category
            (Cityscapes trainIds: road = 0 is stuff, the thing labels map to -1).

    Returns:
        panoptic_seg: (H, W) int32 tensor on the device of ``semantic_results``; 0 is
            unassigned, otherwise the id of the segment owning the pixel.
        segments_info: one dict per segment, ids 1, 2, ... in order: things
            ``{"id", "isthing": True, "score", "category_id", "instance_id"}`` (the
            instance's index in ``instance_results``), then stuff
            ``{"id", "isthing": False, "category_id", "area"}``.

    Raises:
        ValueError: on malformed inputs (wrong shapes or dtypes, negative labels, a
            label map or per-class threshold too short for a label or class present).

    The work is done inside each instance's mask extent and stuff areas come from one
    ``bincount``, so it is much faster than detectron2's full-image loop. CUDA inputs
    stay on the device: the host waits on the device a fixed number of times, never
    once per instance.
    """
    semantic = _checked_semantic_map(semantic_results)
    scores, classes, masks = _checked_instances(instance_results, semantic)
    panoptic_seg = torch.zeros_like(semantic, dtype=torch.int32)
    if semantic.numel() == 0:
        return panoptic_seg, []

    things_info = _paste_instances(
        panoptic_seg, scores, classes, masks, overlap_threshold, instances_score_thresh
    )
    stuff_info = _paste_stuff(
        panoptic_seg,
        semantic,
        _label_to_category_list(semantic_label_to_category, semantic),
        stuff_area_thresh,
        first_segment_id=len(things_info) + 1,
    )
    return panoptic_seg, things_info + stuff_info


def _checked_semantic_map(semantic_results) -> torch.Tensor:
    if not isinstance(semantic_results, torch.Tensor) or semantic_results.dim() != 2:
        raise ValueError(
            "semantic_results must be an (H, W) tensor of semantic labels, got "
            f"{_describe(semantic_results)}"
        )
    if semantic_results.is_floating_point() or semantic_results.is_complex() or (
        semantic_results.dtype == torch.bool
    ):
        raise ValueError(
            f"semantic_results must hold integer labels, got dtype {semantic_results.dtype}"
        )
    return semantic_results


def _checked_instances(instance_results, semantic: torch.Tensor):
    for field in ("scores", "pred_classes", "pred_masks"):
        if not instance_results.has(field):
            raise ValueError(f"instance_results has no field '{field}'")
    scores = instance_results.scores
    classes = instance_results.pred_classes
    masks = instance_results.pred_masks
    num_instances = len(instance_results)
    if scores.shape != (num_instances,) or classes.shape != (num_instances,):
        raise ValueError(
            f"scores and pred_classes must have shape ({num_instances},), got "
            f"{tuple(scores.shape)} and {tuple(classes.shape)}"
        )
    if masks.shape != (num_instances, *semantic.shape):
        raise ValueError(
            f"pred_masks must have shape (N, H, W) = ({num_instances}, "
            f"{semantic.shape[0]}, {semantic.shape[1]}) to match the semantic map, "
            f"got {tuple(masks.shape)}"
        )
    return scores, classes, masks.to(dtype=torch.bool, device=semantic.device)


def _paste_instances(
    panoptic_seg: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    masks: torch.Tensor,
    overlap_threshold: float,
    instances_score_thresh: Threshold,
) -> List[dict]:
    """Paste the instances into ``panoptic_seg`` (ids 1..K); return their segments."""
    # The very call detectron2 makes, so that tied scores are visited in its order.
    order = torch.argsort(-scores).tolist()
    score_list = scores.tolist()
    class_list = classes.tolist()
    candidates = _instances_passing_score(order, scores, classes, instances_score_thresh)
    if not candidates:
        return []

    extents = _mask_extents(masks, candidates)
    segment_id = torch.zeros((), dtype=torch.int32, device=panoptic_seg.device)
    pasted_instances, kept_flags = [], []
    for instance, extent in zip(candidates, extents):
        if extent is None:  # empty mask: detectron2 skips it without a segment id
            continue
        y0, y1, x0, x1 = extent
        mask = masks[instance, y0:y1, x0:x1]
        region = panoptic_seg[y0:y1, x0:x1]
        free_pixels = mask & (region == 0)
        mask_area = mask.sum()
        intersect_area = mask_area - free_pixels.sum()
        # Decided on the device (float64 division, as detectron2's Python float) so
        # that a CUDA run does not wait for each instance.
        keep = ~(intersect_area.double() / mask_area > overlap_threshold)
        segment_id = segment_id + keep
        # A skipped instance writes 0 over its free pixels, i.e. leaves them unchanged.
        region.copy_(torch.where(free_pixels, segment_id * keep, region))
        pasted_instances.append(instance)
        kept_flags.append(keep)
    if not kept_flags:
        return []

    kept_instances = [
        instance
        for instance, kept in zip(pasted_instances, torch.stack(kept_flags).tolist())
        if kept
    ]
    return [
        {
            "id": segment_id,
            "isthing": True,
            "score": score_list[instance],
            "category_id": class_list[instance],
            "instance_id": instance,
        }
        for segment_id, instance in enumerate(kept_instances, start=1)
    ]


def _instances_passing_score(
    order: List[int],
    scores: torch.Tensor,
    classes: torch.Tensor,
    instances_score_thresh: Threshold,
) -> List[int]:
    """Instances (indices, in pasting order) whose score reaches its threshold."""
    passing = confident_instances(scores, classes, instances_score_thresh).tolist()
    if isinstance(_threshold_value(instances_score_thresh, "instances_score_thresh"), list):
        return [instance for instance in order if passing[instance]]
    # The scores are sorted, so stopping at the first low one (as detectron2's `break`) equals
    # skipping every low one, except for NaN scores sorted last.
    stop = next((position for position, instance in enumerate(order) if not passing[instance]), len(order))
    return order[:stop]


def confident_instances(scores: torch.Tensor, classes: torch.Tensor, instances_score_thresh: Threshold) -> torch.Tensor:
    """(N,) bool: which instances are not below their confidence threshold (a number, or one per
    thing class indexed by ``classes``); a NaN score is not below any. Compared in float64, as
    detectron2 compares a score's Python float with the threshold."""
    threshold = _threshold_value(instances_score_thresh, "instances_score_thresh")
    if isinstance(threshold, list):
        class_list = classes.tolist()
        if class_list and min(class_list) < 0:
            raise ValueError(f"pred_classes contains negative class {min(class_list)}")
        if class_list and max(class_list) >= len(threshold):
            raise ValueError(
                f"instances_score_thresh has {len(threshold)} per-class entries but "
                f"pred_classes contains class {max(class_list)}"
            )
    threshold = torch.as_tensor(threshold, dtype=torch.float64, device=scores.device)
    if threshold.dim() == 1:
        threshold = threshold[classes.long()]
    return ~(scores.double() < threshold)


def _mask_extents(
    masks: torch.Tensor, instances: List[int]
) -> List[Optional[Tuple[int, int, int, int]]]:
    """The extent (y0, y1, x0, x1), ends exclusive, of each listed mask; None if empty.

    The extent of the mask itself rather than pred_boxes: masks pasted by
    detector_postprocess can reach a pixel or so past their box.
    """
    # max over uint8 is several times faster than any() over bool on the CPU.
    as_bytes = masks.view(torch.uint8)
    # Rows of every mask in one pass (a contiguous reduction, the cheap direction)...
    row_extents = _occupied_span(as_bytes.amax(dim=2)[instances]).tolist()
    nonempty = [k for k, (y0, y1) in enumerate(row_extents) if y0 < y1]
    extents: List[Optional[Tuple[int, int, int, int]]] = [None] * len(instances)
    if nonempty:
        # ...then columns only within each mask's band of rows.
        bands = [as_bytes[instances[k], slice(*row_extents[k])] for k in nonempty]
        columns = torch.stack([band.amax(dim=0) for band in bands])
        for k, (x0, x1) in zip(nonempty, _occupied_span(columns).tolist()):
            extents[k] = (*row_extents[k], x0, x1)
    return extents


def _occupied_span(occupied: torch.Tensor) -> torch.Tensor:
    """(K, 2): first and one past the last nonzero index of each row of a (K, L) tensor.

    An all-zero row gives the empty span (0, 0).
    """
    length = occupied.shape[1]
    occupied = occupied.to(torch.int32)
    # argmax returns the first maximal index.
    first = occupied.argmax(dim=1)
    end = length - occupied.flip(1).argmax(dim=1)
    empty = occupied.amax(dim=1) == 0
    return torch.stack([torch.where(empty, 0, first), torch.where(empty, 0, end)], dim=1)


def _label_to_category_list(
    semantic_label_to_category, semantic: torch.Tensor
) -> List[int]:
    """The stuff category (or -1) of each semantic label 0..max label in the map."""
    min_label, max_label = torch.stack(torch.aminmax(semantic)).tolist()
    if min_label < 0:
        raise ValueError(f"semantic_results contains negative label {min_label}")
    if semantic_label_to_category is None:
        # detectron2's layout: label 0 is the 'other' class of all thing pixels.
        return [-1] + list(range(1, max_label + 1))

    if isinstance(semantic_label_to_category, torch.Tensor):
        if semantic_label_to_category.dim() != 1:
            raise ValueError("semantic_label_to_category must be 1-D")
        categories = semantic_label_to_category.tolist()
    else:
        categories = list(semantic_label_to_category)
    if any(isinstance(c, bool) or not isinstance(c, Integral) for c in categories):
        raise ValueError("semantic_label_to_category must hold integers")
    if len(categories) <= max_label:
        raise ValueError(
            f"semantic_label_to_category has {len(categories)} entries but the "
            f"semantic map contains label {max_label}"
        )
    if min(categories) < -1:
        raise ValueError(
            "semantic_label_to_category entries must be stuff category ids (>= 0) or -1, "
            f"got {min(categories)}"
        )
    kept_categories = [c for c in categories if c >= 0]
    if len(set(kept_categories)) != len(kept_categories):
        raise ValueError(
            "semantic_label_to_category maps several labels to the same stuff category"
        )
    return categories[: max_label + 1]


def _paste_stuff(
    panoptic_seg: torch.Tensor,
    semantic: torch.Tensor,
    label_categories: List[int],
    stuff_area_thresh: Threshold,
    first_segment_id: int,
) -> List[dict]:
    """Give the unclaimed pixels to stuff segments; return those segments."""
    num_labels = len(label_categories)
    # Each pixel's histogram bin: its label if unclaimed, its label + num_labels if an
    # instance claimed it. One bincount then gives each label's unclaimed area (first
    # half) and whether it is present at all (detectron2 considers every present label).
    claimed = panoptic_seg != 0
    labels = semantic.long()
    bins = torch.where(claimed, labels + num_labels, labels)
    counts = torch.bincount(bins.flatten(), minlength=2 * num_labels)
    unclaimed_areas, claimed_areas = counts.view(2, num_labels).tolist()

    threshold = _threshold_value(stuff_area_thresh, "stuff_area_thresh")
    segments_info = []
    label_segment_ids = [0] * num_labels
    for label, category in enumerate(label_categories):
        if unclaimed_areas[label] + claimed_areas[label] == 0 or category < 0:
            continue
        if not isinstance(threshold, list):
            area_thresh = threshold
        elif category < len(threshold):
            area_thresh = threshold[category]
        else:
            raise ValueError(
                f"stuff_area_thresh has {len(threshold)} per-category entries but "
                f"stuff category {category} is present"
            )
        area = unclaimed_areas[label]
        if area < area_thresh:
            continue
        segment_id = first_segment_id + len(segments_info)
        label_segment_ids[label] = segment_id
        segments_info.append(
            {"id": segment_id, "isthing": False, "category_id": category, "area": area}
        )

    if segments_info:
        # Segment id by bin: the label's stuff segment (0 if dropped) for unclaimed
        # pixels, 0 for claimed ones; adding it to the map fills the unclaimed pixels.
        segment_id_of_bin = torch.tensor(
            label_segment_ids + [0] * num_labels, dtype=torch.int32, device=panoptic_seg.device
        )
        panoptic_seg.add_(segment_id_of_bin[bins])
    return segments_info


def _threshold_value(threshold: Threshold, name: str) -> Union[Real, List[Real]]:
    """A single threshold as a number, or per-class thresholds as a list."""
    if isinstance(threshold, torch.Tensor) and threshold.dim() <= 1:
        threshold = threshold.tolist()
    if isinstance(threshold, Real) and not isinstance(threshold, bool):
        return threshold
    if isinstance(threshold, (list, tuple)) and all(
        isinstance(value, Real) and not isinstance(value, bool) for value in threshold
    ):
        return list(threshold)
    raise ValueError(
        f"{name} must be a number or a 1-D tensor or sequence of per-class numbers, "
        f"got {_describe(threshold)}"
    )


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return repr(value)
