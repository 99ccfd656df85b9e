"""Training targets derived on the fly from a COCO-panoptic segment-id map.

``pan_seg`` is an integer (H, W) map of segment ids (R + 256·G + 256²·B of the panoptic PNG;
0 is void) and ``segments_info`` the dataset dict's list of segments, whose ``category_id`` is
already contiguous (thing 0..T-1, stuff 1..S; see docs/design.md).

Every pixel is resolved through one lookup (a sorted table of segment ids + ``np.searchsorted``),
so the cost is O(H·W·log K) whatever the number of segments K.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.structures import BitMasks, Boxes, Instances

from panfpn_lite.semantic_layout import SemanticLabelLayout

IGNORE_LABEL = 255


def _where(source: Optional[str]) -> str:
    return f"{source}: " if source else ""


def _segment_index_map(
    pan_seg: np.ndarray, segments_info: Sequence[dict], source: Optional[str]
) -> Tuple[np.ndarray, np.ndarray]:
    """For every pixel, the index of its segment in ``segments_info``.

    Returns ``(index, labelled)``: ``index`` (H, W) int64 is only meaningful where the boolean map
    ``labelled`` is True; unlabelled pixels are void (id 0). A non-zero id missing from
    ``segments_info`` is a data error, not void: it means the PNG and the JSON disagree.
    """
    pan_seg = np.asarray(pan_seg)
    if pan_seg.ndim != 2:
        raise ValueError(f"{_where(source)}panoptic id map must be 2-D (H, W), got shape {pan_seg.shape}")
    segment_ids = np.asarray([int(s["id"]) for s in segments_info], dtype=np.int64)
    order = np.argsort(segment_ids, kind="stable")
    sorted_ids = segment_ids[order]
    if len(sorted_ids) > 1 and (np.diff(sorted_ids) == 0).any():
        repeated = sorted(set(sorted_ids[1:][np.diff(sorted_ids) == 0].tolist()))
        raise ValueError(f"{_where(source)}segments_info lists segment id(s) {repeated} more than once")
    if len(sorted_ids) == 0:
        index = np.zeros(pan_seg.shape, dtype=np.int64)
        labelled = np.zeros(pan_seg.shape, dtype=bool)
    else:
        position = np.minimum(np.searchsorted(sorted_ids, pan_seg), len(sorted_ids) - 1)
        labelled = sorted_ids[position] == pan_seg
        index = order[position]
    void = pan_seg == 0
    unknown = ~labelled & ~void
    if unknown.any():
        missing = np.unique(pan_seg[unknown])
        raise ValueError(
            f"{_where(source)}panoptic PNG contains segment id(s) {missing[:20].tolist()} "
            f"({int(unknown.sum())} pixels) that are not in segments_info (listed ids: "
            f"{sorted_ids[:20].tolist()}{' ...' if len(sorted_ids) > 20 else ''})"
        )
    return index, labelled & ~void


def check_segments_present(pan_seg: np.ndarray, segments_info: Sequence[dict], source: Optional[str] = None):
    """Raise ValueError unless the PNG's ids and ``segments_info``'s ids are the same set (void aside).

    Only meaningful on the map as read from disk: after a crop, listed segments may legitimately
    fall outside the image, which is why the target functions below check only the PNG -> JSON way.
    """
    index, labelled = _segment_index_map(pan_seg, segments_info, source)
    pixel_counts = np.bincount(index[labelled], minlength=len(segments_info))
    absent = [int(s["id"]) for s, count in zip(segments_info, pixel_counts) if count == 0]
    if absent:
        raise ValueError(
            f"{_where(source)}segments_info lists segment id(s) {absent[:20]} that do not occur in the panoptic PNG"
        )


def semantic_target_from_panoptic(
    pan_seg: np.ndarray, segments_info: Sequence[dict], layout: SemanticLabelLayout, source: Optional[str] = None
) -> np.ndarray:
    """The semantic-branch target, (H, W) uint8, void -> 255: each pixel gets its segment's label in
    ``layout`` ("other": stuff -> its stuff contiguous id, every thing, crowd included, -> 0;
    "all": the index of its category in the dataset's category order)."""
    index, labelled = _segment_index_map(pan_seg, segments_info, source)
    segment_labels = np.empty(max(len(segments_info), 1), dtype=np.int64)
    for i, segment in enumerate(segments_info):
        segment_labels[i] = layout.segment_label(segment, source or "")
    if (segment_labels[: len(segments_info)] >= IGNORE_LABEL).any():
        raise ValueError(f"{_where(source)}more than {IGNORE_LABEL} semantic classes do not fit a uint8 target")
    return np.where(labelled, segment_labels[index], IGNORE_LABEL).astype(np.uint8)


def instances_from_panoptic(
    pan_seg: np.ndarray, segments_info: Sequence[dict], source: Optional[str] = None
) -> Instances:
    """detectron2 Instances (gt_boxes, gt_classes, gt_masks=BitMasks) of the non-crowd thing segments.

    Crowd segments are left out, as detectron2's DatasetMapper drops iscrowd annotations (COCO does
    not score them as instances). Segments with no pixel left in ``pan_seg`` (cropped away) are
    dropped too. Boxes are the masks' tight boxes, so they follow any transform of ``pan_seg``.
    """
    index, labelled = _segment_index_map(pan_seg, segments_info, source)
    height, width = index.shape
    candidates: List[int] = [
        i for i, s in enumerate(segments_info) if s["isthing"] and not s.get("iscrowd", 0)
    ]
    masks = np.zeros((len(candidates), height, width), dtype=bool)
    if candidates:
        segment_to_row = np.full(len(segments_info), -1, dtype=np.int64)
        segment_to_row[candidates] = np.arange(len(candidates))
        pixel_row = np.where(labelled, segment_to_row[index], -1)
        ys, xs = np.nonzero(pixel_row >= 0)
        masks[pixel_row[ys, xs], ys, xs] = True
    keep = masks.reshape(len(candidates), height * width).any(axis=1)
    masks = masks[keep]
    classes = [int(segments_info[i]["category_id"]) for i, k in zip(candidates, keep) if k]

    instances = Instances((height, width))
    bit_masks = BitMasks(torch.from_numpy(masks))
    instances.gt_masks = bit_masks
    instances.gt_boxes = bit_masks.get_bounding_boxes() if len(masks) else Boxes(torch.zeros((0, 4)))
    instances.gt_classes = torch.tensor(classes, dtype=torch.int64)
    return instances
