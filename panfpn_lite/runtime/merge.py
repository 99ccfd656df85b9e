"""The panoptic merge of Panoptic FPN in numpy, with the rules of the torch merge
(``panfpn_d2.modeling.panoptic_merge.combine_semantic_and_instance_outputs``) for a single
confidence threshold and a single stuff area limit."""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..merge_settings import MergeSettings


def merge_panoptic(
    scores: np.ndarray,
    classes: np.ndarray,
    masks: np.ndarray,
    semantic: np.ndarray,
    settings: MergeSettings,
    semantic_label_to_category: Optional[Sequence[int]] = None,
) -> Tuple[np.ndarray, List[dict]]:
    """(panoptic id map (H, W) int32, segments_info), as the torch merge returns them.

    Instances by decreasing score, stopping at the first below ``instances_confidence_thresh``; an
    empty mask is skipped without an id; an instance whose already-claimed share of its mask is
    greater than ``overlap_thresh`` is skipped, otherwise it claims its free pixels. Then one
    stuff segment per semantic label present, in label order, from its unclaimed pixels, kept
    when that area is at least ``stuff_area_limit`` and the label maps to a category (-1
    discards it; None means label 0 discarded, identity otherwise).
    """
    per_category = settings.per_category_fields()
    if per_category:
        raise ValueError(f"the numpy merge takes one number for each setting, got per-category {list(per_category)}")
    panoptic = np.zeros(semantic.shape, dtype=np.int32)
    if semantic.size == 0:
        return panoptic, []
    masks = masks.astype(bool, copy=False)
    # Python floats of the float32 scores, as the torch merge compares and reports them.
    score_list = [float(s) for s in scores]
    segments = []
    for instance in np.argsort(-np.asarray(scores), kind="stable"):
        if score_list[instance] < settings.instances_confidence_thresh:
            break
        mask = masks[instance]
        mask_area = int(np.count_nonzero(mask))
        if mask_area == 0:
            continue
        free = mask & (panoptic == 0)
        free_area = int(np.count_nonzero(free))
        if (mask_area - free_area) / mask_area > settings.overlap_thresh:
            continue
        segment_id = len(segments) + 1
        panoptic[free] = segment_id
        segments.append(
            {
                "id": segment_id,
                "isthing": True,
                "score": score_list[instance],
                "category_id": int(classes[instance]),
                "instance_id": int(instance),
            }
        )

    labels = semantic.astype(np.int64, copy=False)
    num_labels = int(labels.max()) + 1
    categories = (
        [-1] + list(range(1, num_labels))
        if semantic_label_to_category is None
        else [int(c) for c in semantic_label_to_category[:num_labels]]
    )
    if len(categories) < num_labels:
        raise ValueError(
            f"semantic_label_to_category has {len(categories)} entries but the semantic map "
            f"contains label {num_labels - 1}"
        )
    unclaimed = panoptic == 0
    present = np.bincount(labels.ravel(), minlength=num_labels) > 0
    unclaimed_areas = np.bincount(labels[unclaimed], minlength=num_labels)
    for label in np.flatnonzero(present):
        area = int(unclaimed_areas[label])
        if categories[label] < 0 or area < settings.stuff_area_limit:
            continue
        segment_id = len(segments) + 1
        panoptic[unclaimed & (labels == label)] = segment_id
        segments.append({"id": segment_id, "isthing": False, "category_id": categories[label], "area": area})
    return panoptic, segments
