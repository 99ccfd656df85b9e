"""Why PQ is what it is: PQ by segment size, boundary PQ and an error breakdown, from the
segment-id maps of ground truth and prediction (numpy only; definitions in docs/diagnosing_pq.md).

Matching is panopticapi's: a non-crowd ground-truth segment and a prediction of its category match
when IoU > 0.5, the union leaving out the prediction's pixels on void; an unmatched prediction
lying more than half on void or on a crowd region of its category is ignored.
"""
import math
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

VOID = 0
MATCH_IOU = 0.5
# COCO's area ranges in pixels (cocoapi's COCOeval ``Params.areaRng``: small < 32², medium 32²–96²,
# large > 96²), half-open here so that every area falls in exactly one range.
COCO_SIZE_RANGES = (("small", 0, 32**2), ("medium", 32**2, 96**2), ("large", 96**2, math.inf))
# Boundary width: 2 % of the image diagonal, Boundary IoU's (Cheng et al., CVPR 2021) panoptic setting.
BOUNDARY_DILATION_RATIO = 0.02
# The causes of an unmatched segment, in the order they are tested; the last two take the rest.
CAUSES = ("wrong_class", "split_merged", "localization", "missed", "hallucinated")
LOCALIZATION_MIN_IOU = 0.1
GROUPS = ("All", "Things", "Stuff")
Image = Tuple[np.ndarray, Sequence[dict], np.ndarray, Sequence[dict]]


class Tally:
    """Per category: true positives, false positives, false negatives and the TPs' summed IoU."""

    def __init__(self):
        self.counts: Dict[int, List[float]] = defaultdict(lambda: [0, 0, 0, 0.0])

    def add(self, category_id: int, tp: int = 0, fp: int = 0, fn: int = 0, iou: float = 0.0):
        counts = self.counts[category_id]
        counts[0] += tp
        counts[1] += fp
        counts[2] += fn
        counts[3] += iou

    def plus(self, other: "Tally") -> "Tally":
        total = Tally()
        for tally in (self, other):
            for category_id, counts in tally.counts.items():
                total.add(category_id, *counts)
        return total

    def groups(self, categories: Sequence[dict]) -> dict:
        """panopticapi's ``All``/``Things``/``Stuff`` dicts: each the mean over the categories of
        the group with a segment on either side (``n`` of them; all 0.0 when there is none)."""
        result = {}
        for group in GROUPS:
            sums, n = [0.0, 0.0, 0.0], 0
            for category in categories:
                if group != "All" and bool(category["isthing"]) != (group == "Things"):
                    continue
                tp, fp, fn, iou = self.counts.get(int(category["id"]), (0, 0, 0, 0.0))
                if tp + fp + fn == 0:
                    continue
                n += 1
                denominator = tp + 0.5 * fp + 0.5 * fn
                sums[0] += iou / denominator
                sums[1] += iou / tp if tp else 0.0
                sums[2] += tp / denominator
            result[group] = {"pq": sums[0] / n, "sq": sums[1] / n, "rq": sums[2] / n, "n": n} if n else {
                "pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
        return result


def boundary_pixels(id_map: np.ndarray, width: int) -> np.ndarray:
    """Where a pixel lies within Chebyshev distance ``width`` of a pixel of another id or of the
    outside of the image: each segment's inner boundary, as eroding the segment's own mask
    ``width`` times with a 3×3 square after padding the image with one pixel of background
    (Boundary IoU's definition).

    Computed for every segment at once: such a pixel is within ``width - 1`` of an edge pixel
    (one with an 8-neighbour of another id, or on the image's border): walking from it towards
    the other pixel, the last pixel of its own id before the change is one.
    """
    edge = np.zeros(id_map.shape, dtype=bool)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    for here, there in (
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
        ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),
        ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))),
    ):
        differs = id_map[here] != id_map[there]
        edge[here] |= differs
        edge[there] |= differs
    return _dilate_rows(_dilate_rows(edge, width - 1).T, width - 1).T


def _dilate_rows(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` OR-ed over a window of ``2 * radius + 1`` rows, by doubling: after the loop row i
    holds the OR of ``span`` padded rows from i, and two such spans cover the window."""
    if radius == 0:
        return mask
    rows, window = mask.shape[0], 2 * radius + 1
    spans, span = np.pad(mask, ((radius, radius), (0, 0))), 1
    while 2 * span <= window:
        spans = spans[:-span] | spans[span:]
        span *= 2
    return spans[:rows] | spans[window - span:window - span + rows]


def boundary_width(height: int, width: int, dilation_ratio: float = BOUNDARY_DILATION_RATIO) -> int:
    """``dilation_ratio`` of the image diagonal, rounded (Python's round), at least 1 pixel."""
    return max(1, int(round(dilation_ratio * math.hypot(height, width))))


def _pair_counts(gt_map: np.ndarray, pred_map: np.ndarray, gt_boundary: np.ndarray, pred_boundary: np.ndarray):
    """Pixel counts of each (gt id, predicted id) pair: over all pixels, and over those on both
    boundaries (or, for void ground truth, on the prediction's boundary); each boundary's area by id.
    One sort of the pixels serves all four."""
    offset = int(max(gt_map.max(initial=0), pred_map.max(initial=0))) + 1
    keys = (gt_map.astype(np.int64) * offset + pred_map) * 4 + gt_boundary * 2 + pred_boundary
    pairs, boundary_pairs = defaultdict(int), defaultdict(int)
    gt_boundary_area, pred_boundary_area = defaultdict(int), defaultdict(int)
    for key, count in zip(*(array.tolist() for array in np.unique(keys, return_counts=True))):
        (g, p), on_gt, on_pred = divmod(key // 4, offset), key & 2, key & 1
        pairs[g, p] += count
        if on_gt:
            gt_boundary_area[g] += count
        if on_pred:
            pred_boundary_area[p] += count
            if on_gt or g == VOID:
                boundary_pairs[g, p] += count
    return dict(pairs), dict(boundary_pairs), gt_boundary_area, pred_boundary_area


def _size_name(area: float, size_ranges) -> str:
    return next(name for name, low, high in size_ranges if low <= area < high)


class PQBreakdown:
    """Accumulates images (``add``) into PQ by size, boundary PQ and the error breakdown (``result``)."""

    def __init__(self, categories: Sequence[dict], size_ranges: Optional[Sequence[tuple]] = None,
                 dilation_ratio: float = BOUNDARY_DILATION_RATIO):
        """``size_ranges``: (name, low, high) area ranges, half-open, from 0 to infinity (default COCO's)."""
        self.categories = list(categories)
        self.size_ranges = tuple((name, low, high) for name, low, high in size_ranges or COCO_SIZE_RANGES)
        bounds = [b for _, low, high in self.size_ranges for b in (low, high)]
        if not bounds or bounds[0] != 0 or bounds[-1] != math.inf or bounds[1:-1:2] != bounds[2:-1:2]:
            raise ValueError(f"size ranges must run from 0 to infinity without gaps: got {self.size_ranges}")
        self.dilation_ratio = dilation_ratio
        self.base = Tally()
        self.by_size = {name: Tally() for name, _, _ in self.size_ranges}
        self.boundary = Tally()
        self.fixes = {cause: Tally() for cause in CAUSES}
        self.cause_counts = {cause: {"fn": 0, "fp": 0} for cause in CAUSES}
        # For the report (panfpn_lite.pq_report), not in ``result()``: each image's PQ over the
        # categories with a segment in it (the ``All`` group), by image name; and the confusion
        # counts, (gt category, predicted category) -> pairs of segments with IoU > 0.5, None on
        # one side for a segment with no such partner (``confusion`` in docs/diagnosing_pq.md).
        self.image_pq: Dict[str, dict] = {}
        self.confusion: Counter = Counter()

    def add(self, gt_map: np.ndarray, gt_segments: Sequence[dict], pred_map: np.ndarray,
            pred_segments: Sequence[dict], image_name: str = ""):
        """One image: segment-id maps (0 void) and their segments_info (ground truth with
        ``iscrowd``; ``area`` taken from the ground truth's records where given, as panopticapi does)."""
        if gt_map.shape != pred_map.shape:
            raise ValueError(f"image {image_name}: ground truth {gt_map.shape} and prediction {pred_map.shape} differ in size")
        width = boundary_width(*gt_map.shape, self.dilation_ratio)
        pairs, *boundary_counts = _pair_counts(
            gt_map, pred_map, boundary_pixels(gt_map, width) & (gt_map != VOID),
            boundary_pixels(pred_map, width) & (pred_map != VOID),
        )
        gt_pixels = defaultdict(int)
        pred_area = defaultdict(int)
        for (g, p), n in pairs.items():
            gt_pixels[g] += n
            pred_area[p] += n
        gt = {int(s["id"]): s for s in gt_segments}
        pred = {int(s["id"]): s for s in pred_segments if pred_area[int(s["id"])] > 0}
        unlisted = sorted(p for p in pred_area if p != VOID and p not in pred)
        if unlisted:
            raise ValueError(f"image {image_name}: predicted segment id(s) {unlisted[:20]} are not in its segments_info")
        gt_area = {g: s.get("area", gt_pixels[g]) for g, s in gt.items()}
        category = {**{("g", g): s["category_id"] for g, s in gt.items()}, **{("p", p): s["category_id"] for p, s in pred.items()}}

        def iou(g, p, intersection):
            return intersection / (pred_area[p] + gt_area[g] - intersection - pairs.get((VOID, p), 0))

        candidates = [  # (g, p, mask IoU) of non-crowd ground truth and prediction of one category
            (g, p, iou(g, p, n)) for (g, p), n in pairs.items()
            if g in gt and p in pred and not gt[g].get("iscrowd", 0) and category["g", g] == category["p", p]
        ]
        matched = {(g, p): value for g, p, value in candidates if value > MATCH_IOU}
        matched_gt = {g for g, _ in matched}
        matched_pred = {p for _, p in matched}
        crowd = {s["category_id"]: g for g, s in gt.items() if s.get("iscrowd", 0)}
        ignored = {  # more than half on void or on a crowd region of its category
            p for p, s in pred.items()
            if (pairs.get((VOID, p), 0) + pairs.get((crowd.get(s["category_id"], -1), p), 0)) / pred_area[p] > 0.5
        }
        false_negatives = [g for g, s in gt.items() if not s.get("iscrowd", 0) and g not in matched_gt]
        false_positives = [p for p in pred if p not in matched_pred and p not in ignored]

        sizes, image = self.by_size, Tally()
        for (g, p), value in matched.items():
            for tally in (self.base, sizes[_size_name(gt_area[g], self.size_ranges)], image):
                tally.add(category["g", g], tp=1, iou=value)
        for g in false_negatives:
            for tally in (self.base, sizes[_size_name(gt_area[g], self.size_ranges)], image):
                tally.add(category["g", g], fn=1)
        for p in false_positives:
            for tally in (self.base, sizes[_size_name(pred_area[p], self.size_ranges)], image):
                tally.add(category["p", p], fp=1)
        self.image_pq[image_name] = image.groups(self.categories)["All"]
        self._add_confusion(pairs, gt, pred, category, iou, ignored)

        self._add_boundary(gt, pred, candidates, ignored, *boundary_counts)
        self._add_errors(pairs, gt, pred, category, iou, false_negatives, false_positives, gt_area, pred_area)

    def _add_confusion(self, pairs, gt, pred, category, iou, ignored):
        """Pairs a non-crowd ground-truth segment with the prediction it overlaps with IoU > 0.5,
        whatever the two categories (at most one: each holds more than half of the other), and
        counts (gt category, predicted category); None for the side of an unpaired segment
        (ignored predictions left out, as in PQ)."""
        paired_gt, paired_pred = set(), set()
        for (g, p), n in pairs.items():
            if g in gt and p in pred and not gt[g].get("iscrowd", 0) and iou(g, p, n) > MATCH_IOU:
                self.confusion[category["g", g], category["p", p]] += 1
                paired_gt.add(g)
                paired_pred.add(p)
        for g, s in gt.items():
            if not s.get("iscrowd", 0) and g not in paired_gt:
                self.confusion[s["category_id"], None] += 1
        for p, s in pred.items():
            if p not in paired_pred and p not in ignored:
                self.confusion[None, s["category_id"]] += 1

    def _add_boundary(self, gt, pred, candidates, ignored, boundary_pairs, gt_boundary_area, pred_boundary_area):
        """Boundary PQ: a pair's IoU is min(mask IoU, boundary IoU), for matching and for the sum
        alike (Boundary IoU's panoptic evaluation); the boundary IoU's union leaves out the
        prediction's boundary pixels on void, as the mask IoU's does. Segments left unmatched are
        FN and FP as in PQ (crowd regions and ignored predictions left out)."""
        matched_gt, matched_pred = set(), set()
        for g, p, mask_iou in candidates:
            intersection = boundary_pairs.get((g, p), 0)
            union = pred_boundary_area[p] + gt_boundary_area[g] - intersection - boundary_pairs.get((VOID, p), 0)
            value = min(mask_iou, intersection / union)
            if value > MATCH_IOU:
                self.boundary.add(gt[g]["category_id"], tp=1, iou=value)
                matched_gt.add(g)
                matched_pred.add(p)
        for g, s in gt.items():
            if not s.get("iscrowd", 0) and g not in matched_gt:
                self.boundary.add(s["category_id"], fn=1)
        for p, s in pred.items():
            if p not in matched_pred and p not in ignored:
                self.boundary.add(s["category_id"], fp=1)

    def _add_errors(self, pairs, gt, pred, category, iou, false_negatives, false_positives, gt_area, pred_area):
        """One cause per false negative and false positive, tested in CAUSES' order, and each
        cause's fix (see docs/diagnosing_pq.md)."""
        unmatched_gt, unmatched_pred = set(false_negatives), set(false_positives)
        overlaps_of_gt, overlaps_of_pred = defaultdict(list), defaultdict(list)
        for (g, p), n in pairs.items():
            if g in gt and p in pred and not gt[g].get("iscrowd", 0):
                overlaps_of_gt[g].append((p, n))
                overlaps_of_pred[p].append((g, n))

        # Split: two or more unmatched predictions of the category, each more than half inside the
        # ground truth segment, together overlapping it with IoU > 0.5; merged: the converse.
        split_parts, merged_parts = set(), set()
        split_gt, merged_pred = set(), set()
        for g in false_negatives:
            parts = [(p, n) for p, n in overlaps_of_gt[g]
                     if p in unmatched_pred and category["p", p] == category["g", g] and n > pred_area[p] / 2]
            if len(parts) >= 2 and self._group_iou(gt_area[g], parts, pred_area, pairs, pred_side=True) > MATCH_IOU:
                split_gt.add(g)
                split_parts.update(p for p, _ in parts)
        for p in false_positives:
            parts = [(g, n) for g, n in overlaps_of_pred[p]
                     if g in unmatched_gt and category["g", g] == category["p", p] and n > gt_area[g] / 2]
            if len(parts) >= 2 and self._group_iou(pred_area[p] - pairs.get((VOID, p), 0), parts, gt_area, pairs,
                                                   pred_side=False) > MATCH_IOU:
                merged_pred.add(p)
                merged_parts.update(g for g, _ in parts)

        for g in false_negatives:
            c = category["g", g]
            wrong = [value for value in (iou(g, p, n) for p, n in overlaps_of_gt[g]
                                         if p in unmatched_pred and category["p", p] != c) if value > MATCH_IOU]
            same_class = max((iou(g, p, n) for p, n in overlaps_of_gt[g] if category["p", p] == c), default=0.0)
            if wrong:
                self._count("wrong_class", "fn", c, tp=1, iou=wrong[0])
            elif g in split_gt or g in merged_parts:
                self._count("split_merged", "fn", c)
            elif LOCALIZATION_MIN_IOU <= same_class < MATCH_IOU:
                self._count("localization", "fn", c, tp=1, iou=1.0)
            else:
                self._count("missed", "fn", c)
        for p in false_positives:
            c = category["p", p]
            wrong = any(g in unmatched_gt and category["g", g] != c and iou(g, p, n) > MATCH_IOU for g, n in overlaps_of_pred[p])
            same_class = max((iou(g, p, n) for g, n in overlaps_of_pred[p] if category["g", g] == c), default=0.0)
            if wrong:
                cause = "wrong_class"
            elif p in merged_pred or p in split_parts:
                cause = "split_merged"
            elif LOCALIZATION_MIN_IOU <= same_class < MATCH_IOU:
                cause = "localization"
            else:
                cause = "hallucinated"
            self._count(cause, "fp", c)

    @staticmethod
    def _group_iou(own_area, parts, part_area, pairs, pred_side):
        """IoU of one segment with the union of ``parts`` ([(id, intersection)]); ``own_area`` of the
        segment (a prediction's without its void pixels), the parts' void pixels left out likewise."""
        intersection = sum(n for _, n in parts)
        parts_area = sum(part_area[i] - (pairs.get((VOID, i), 0) if pred_side else 0) for i, _ in parts)
        return intersection / (own_area + parts_area - intersection)

    def _count(self, cause: str, side: str, category_id: int, tp: int = 0, iou: float = 0.0):
        """Count one false negative or positive of ``cause`` and record its fix: the error goes
        (and, for a ground truth segment, becomes a TP of IoU ``iou`` where ``tp``)."""
        self.cause_counts[cause][side] += 1
        self.fixes[cause].add(category_id, tp=tp, iou=iou, **{side: -1})

    def result(self) -> dict:
        """``by_size``, ``boundary`` and ``errors`` (each a dict of panopticapi-shaped groups)."""
        return {
            "by_size": {name: tally.groups(self.categories) for name, tally in self.by_size.items()},
            "boundary": self.boundary.groups(self.categories),
            "errors": {
                "causes": list(CAUSES),
                "counts": {cause: dict(counts) for cause, counts in self.cause_counts.items()},
                "fixed": {cause: self.base.plus(fix).groups(self.categories) for cause, fix in self.fixes.items()},
            },
        }


def pq_breakdown(images: Iterable[Image], categories: Sequence[dict], size_ranges: Optional[Sequence[tuple]] = None,
                 dilation_ratio: float = BOUNDARY_DILATION_RATIO) -> dict:
    """``PQBreakdown(...).result()`` of ``images``: (gt id map, gt segments_info, predicted id map,
    predicted segments_info) each."""
    breakdown = PQBreakdown(categories, size_ranges, dilation_ratio)
    for image in images:
        breakdown.add(*image)
    return breakdown.result()


def breakdown_tables(result: dict) -> List[str]:
    """The printed form of ``by_size``, ``boundary`` and ``errors`` (percent)."""
    lines = ["{:18s}| {:>5s}  {:>5s}  {:>5s} {:>5s}".format("", "PQ", "SQ", "RQ", "N"), "-" * 46]
    rows = [(f"{size} {group}", groups[group]) for size, groups in result["by_size"].items() for group in GROUPS]
    rows += [(f"boundary {group}", result["boundary"][group]) for group in GROUPS]
    for name, r in rows:
        lines.append("{:18s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}".format(name, 100 * r["pq"], 100 * r["sq"], 100 * r["rq"], r["n"]))
    errors = result["errors"]
    lines += ["", "{:14s}| {:>5s} {:>5s} | {:>12s} {:>7s}".format("error", "FN", "FP", "PQ if fixed", "+PQ"), "-" * 50]
    for cause in errors["causes"]:
        fixed = errors["fixed"][cause]["All"]["pq"]
        counts = errors["counts"][cause]
        lines.append("{:14s}| {:5d} {:5d} | {:12.1f} {:+7.1f}".format(
            cause, counts["fn"], counts["fp"], 100 * fixed, 100 * (fixed - result["All"]["pq"])))
    return lines
