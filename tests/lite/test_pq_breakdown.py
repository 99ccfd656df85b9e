"""PQ's diagnostics: per-category counts against panopticapi, and PQ by size, boundary PQ and the
error breakdown on hand-made cases whose numbers are worked out in the comments."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from panfpn_lite.pq import breakdown_images, pq_compute, size_ranges_from_edges
from panfpn_lite.pq_breakdown import PQBreakdown, boundary_pixels, boundary_width
from tests.lite.test_pq import _sample_with_ids, edited_sample_files
from tests.support.panoptic_files import TOY_CATEGORIES, assert_same_pq, panopticapi_pq, write_panoptic_files
from tests.support.paths import SAMPLE_JSON, SAMPLE_PNG_DIR

PERSON, CAR, SKY, GRASS = 1, 2, 7, 9


def box(id_map, rows, cols, value):
    id_map[rows[0]:rows[1], cols[0]:cols[1]] = value
    return id_map


def random_case(rng, size=64):
    """Random rectangles of the toy categories over a grass background, some void, one crowd."""
    gt = np.full((size, size), 1, dtype=np.int64)
    gt_info = [{"id": 1, "category_id": GRASS, "iscrowd": 0}]
    for segment_id in range(2, 9):
        y, x, h, w = rng.integers(0, size - 8, 2).tolist() + rng.integers(4, 24, 2).tolist()
        gt[y:y + h, x:x + w] = segment_id
        category = int(rng.choice([PERSON, CAR, SKY]))
        gt_info.append({"id": segment_id, "category_id": category, "iscrowd": int(segment_id == 2)})
    gt[:, :2] = 0
    pred = np.roll(gt, tuple(rng.integers(-3, 4, 2)), axis=(0, 1)) * 10
    pred[rng.random(pred.shape) < 0.02] = 0
    pred_info = [{"id": 10 * s["id"], "category_id": s["category_id"] if rng.random() > 0.2 else PERSON} for s in gt_info]
    gt_info = [s for s in gt_info if (gt == s["id"]).any()]
    pred_info = [s for s in pred_info if (pred == s["id"]).any()]
    return (gt, gt_info), (pred, pred_info)


@pytest.mark.parametrize("case", ["sample", "generated"])
def test_per_class_counts_and_the_breakdowns_matching_agree_with_panopticapi(case, sample_gt, tmp_path):
    if case == "sample":
        gt_json, gt_folder, categories = str(SAMPLE_JSON), str(SAMPLE_PNG_DIR), sample_gt[0]["categories"]
        pred_json, pred_folder = edited_sample_files(sample_gt, tmp_path, "all_four")
    else:
        rng = np.random.default_rng(3)
        pairs = [random_case(rng) for _ in range(6)]
        gt_json, gt_folder = write_panoptic_files(tmp_path, "gt", [(i, *p[0]) for i, p in enumerate(pairs)], TOY_CATEGORIES)
        pred_json, pred_folder = write_panoptic_files(tmp_path, "pred", [(i, *p[1]) for i, p in enumerate(pairs)], TOY_CATEGORIES)
        categories = TOY_CATEGORIES
    expected = panopticapi_pq(gt_json, pred_json, gt_folder, pred_folder)
    actual = pq_compute(gt_json, pred_json, gt_folder, pred_folder, breakdown=True)
    assert_same_pq(actual, expected, tol=1e-9)
    # The breakdown's own pass matches as hotcoco does: the same counts per category, the same PQ.
    breakdown = PQBreakdown(categories)
    for image in breakdown_images(json.load(open(gt_json)), json.load(open(pred_json)), gt_folder, pred_folder):
        breakdown.add(*image)
    for category_id, r in actual["per_class"].items():
        tp, fp, fn, iou = breakdown.base.counts.get(category_id, (0, 0, 0, 0.0))
        assert (tp, fp, fn) == (r["tp"], r["fp"], r["fn"]), category_id
        if tp:
            assert iou / tp == pytest.approx(expected["per_class"][category_id]["sq"], abs=1e-9)
    assert_same_pq({**breakdown.base.groups(categories), "per_class": actual["per_class"]}, expected, tol=1e-9)
    assert sum(r["tp"] + r["fp"] + r["fn"] for r in actual["per_class"].values()) > 0
    # Every false negative and false positive has exactly one cause.
    counts = actual["errors"]["counts"]
    assert sum(c["fn"] for c in counts.values()) == sum(r["fn"] for r in actual["per_class"].values())
    assert sum(c["fp"] for c in counts.values()) == sum(r["fp"] for r in actual["per_class"].values())


def eroded_boundary(mask: np.ndarray, width: int) -> np.ndarray:
    """The reference: Boundary IoU's rule spelled out - pad with one background pixel, erode
    ``width`` times with a 3x3 square, the boundary is the mask minus its erosion."""
    eroded = np.pad(mask, 1)
    for _ in range(width):
        padded = np.pad(eroded, 1, constant_values=True)  # beyond the one-pixel pad nothing erodes
        eroded = np.logical_and.reduce(
            [padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        )
    return mask & ~eroded[1:-1, 1:-1]


def test_boundary_pixels_by_hand():
    # A 4x4 segment inside void: with width 1 its ring of 12 pixels is boundary, the 2x2 inside
    # is not; every void pixel touches the segment or the image's edge.
    id_map = box(np.zeros((6, 7), dtype=np.int64), (1, 5), (1, 5), 1)
    expected = np.ones((6, 7), dtype=bool)
    expected[2:4, 2:4] = False
    np.testing.assert_array_equal(boundary_pixels(id_map, 1), expected)
    # Width 2: the 4x4 segment is boundary throughout.
    assert boundary_pixels(id_map, 2)[1:5, 1:5].all()
    # A segment filling the image: the image's edge is its contour (16 of 25 pixels at width 1,
    # the centre pixel only inside at width 2... and nothing inside at width 3).
    full = np.ones((5, 5), dtype=np.int64)
    assert boundary_pixels(full, 1).sum() == 16
    assert boundary_pixels(full, 2).sum() == 24
    assert boundary_pixels(full, 3).all()


def test_boundary_pixels_equal_per_segment_erosion():
    rng = np.random.default_rng(0)
    id_map = rng.integers(0, 4, (9, 11)).repeat(3, axis=0).repeat(2, axis=1)
    for width in (1, 2, 3, 5, 8):
        joint = boundary_pixels(id_map, width)
        for segment_id in np.unique(id_map):
            mask = id_map == segment_id
            np.testing.assert_array_equal(joint & mask, eroded_boundary(mask, width), err_msg=f"{segment_id}, {width}")


def test_boundary_width_is_two_percent_of_the_diagonal():
    assert boundary_width(480, 640) == 16  # diagonal 800 -> 16
    assert boundary_width(1024, 2048) == 46  # 2289.7 * 0.02 = 45.8
    assert boundary_width(10, 10) == 1  # 0.28 rounds to 0: at least one pixel


def test_boundary_pq_by_hand():
    """10x10 image, boundary width 1. Ground truth: a 6x6 person at rows 2-7, cols 2-7, sky around
    it. Prediction: the person shifted one column right (cols 3-8), sky around it.

    person: mask IoU = 30 / 42 (6x5 overlap) = 0.714; each boundary is its 20-pixel ring, the rings
    share rows 2 and 7 over cols 3-7 = 10 pixels: boundary IoU 10 / 30 = 1/3 -> min 1/3, no match:
    boundary PQ 0 (a FN and a FP).
    sky: 64 pixels each side; mask IoU 58 / 70 (100 - 42 outside both persons). Ground-truth sky is
    boundary throughout (the image's edge ring, 36, and the ring around the person, 28); predicted
    sky is boundary but for col 1 rows 1-8 (8 pixels two away from the edge and from the person):
    56. Intersection 58 - 8 = 50, union 64 + 56 - 50 = 70: boundary IoU 50/70 < 58/70, matched.
    """
    gt = box(np.full((10, 10), 1, dtype=np.int64), (2, 8), (2, 8), 2)
    pred = box(np.full((10, 10), 1, dtype=np.int64), (2, 8), (3, 9), 2)
    info = [{"id": 1, "category_id": SKY, "iscrowd": 0}, {"id": 2, "category_id": PERSON, "iscrowd": 0}]
    breakdown = PQBreakdown(TOY_CATEGORIES)
    breakdown.add(gt, info, pred, info)
    assert dict(breakdown.base.counts) == {PERSON: [1, 0, 0, pytest.approx(30 / 42)], SKY: [1, 0, 0, pytest.approx(58 / 70)]}
    assert dict(breakdown.boundary.counts) == {PERSON: [0, 1, 1, 0.0], SKY: [1, 0, 0, pytest.approx(50 / 70)]}
    result = breakdown.result()["boundary"]
    assert result["All"] == {"pq": pytest.approx(25 / 70), "sq": pytest.approx(25 / 70), "rq": pytest.approx(0.5), "n": 2}
    assert result["Things"]["pq"] == 0.0
    assert result["Stuff"]["pq"] == pytest.approx(50 / 70)


def test_pq_by_size_by_hand():
    """200x200, grass (id 1) around: a small person (100 px) matched exactly; a medium car (80x80 =
    6400 px) predicted as a 100x100 (10000 px, large) box around it: IoU 0.64, binned medium by the
    ground truth's area; a small car (400 px) missed (grass predicted there); a large sky (10000 px)
    with a 20x20 person predicted inside it: a small FP (by its own area) and sky IoU 9600/10000.

    small: person TP 1 + FP -> PQ 1/1.5 = 2/3; car FN -> 0: Things (and All) (2/3 + 0) / 2 = 1/3.
    medium: car PQ 0.64. large: sky 0.96 and grass (its own IoU) -> Stuff only, the mean of both.
    """
    gt = np.ones((200, 200), dtype=np.int64)
    box(gt, (0, 10), (120, 130), 2)  # person, 100 px
    box(gt, (10, 90), (10, 90), 3)  # car, 6400 px
    box(gt, (0, 20), (150, 170), 4)  # car, 400 px
    box(gt, (100, 200), (100, 200), 5)  # sky, 10000 px
    gt_info = [{"id": 1, "category_id": GRASS}, {"id": 2, "category_id": PERSON}, {"id": 3, "category_id": CAR},
               {"id": 4, "category_id": CAR}, {"id": 5, "category_id": SKY}]
    pred = np.ones((200, 200), dtype=np.int64)
    box(pred, (0, 10), (120, 130), 2)
    box(pred, (0, 100), (0, 100), 3)
    box(pred, (100, 200), (100, 200), 5)
    box(pred, (150, 170), (150, 170), 6)
    pred_info = gt_info[:3] + [{"id": 5, "category_id": SKY}, {"id": 6, "category_id": PERSON}]
    # grass: ground truth 40000 - 100 - 6400 - 400 - 10000 = 23100 px, predicted 40000 - 100 -
    # 10000 - 10000 = 19900 px, overlapping on 19900 - 400 (the missed car) = 19500.
    grass_iou = 19500 / (23100 + 19900 - 19500)
    breakdown = PQBreakdown(TOY_CATEGORIES)
    breakdown.add(gt, gt_info, pred, pred_info)
    by_size = breakdown.result()["by_size"]
    assert by_size["small"]["Things"] == {"pq": pytest.approx(1 / 3), "sq": pytest.approx(0.5), "rq": pytest.approx(1 / 3), "n": 2}
    assert by_size["small"]["All"] == by_size["small"]["Things"]
    assert by_size["small"]["Stuff"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
    assert by_size["medium"]["All"] == {"pq": pytest.approx(0.64), "sq": pytest.approx(0.64), "rq": 1.0, "n": 1}
    assert by_size["large"]["Stuff"]["pq"] == pytest.approx((0.96 + grass_iou) / 2)
    assert by_size["large"]["Things"]["n"] == 0
    assert breakdown.cause_counts["missed"] == {"fn": 1, "fp": 0}  # the small car: only grass on it
    assert breakdown.cause_counts["hallucinated"] == {"fn": 0, "fp": 1}  # the person in the sky
    # Other ranges: one edge at 500 px puts the 400-px car and person with the 100-px person.
    ranges = size_ranges_from_edges([500])
    assert [name for name, _, _ in ranges] == ["[0, 500)", "[500, inf)"]
    other = PQBreakdown(TOY_CATEGORIES, ranges)
    other.add(gt, gt_info, pred, pred_info)
    assert other.result()["by_size"]["[0, 500)"]["Things"]["n"] == 2


def error_case(gt_things, pred_things):
    """100x100 grass (id 1) with things drawn over it: [(rows, cols, category)] each side."""
    maps, infos = [], []
    for things in (gt_things, pred_things):
        id_map = np.ones((100, 100), dtype=np.int64)
        info = [{"id": 1, "category_id": GRASS, "iscrowd": 0}]
        for number, (rows, cols, category) in enumerate(things, start=2):
            box(id_map, rows, cols, number)
            info.append({"id": number, "category_id": category, "iscrowd": 0})
        maps.append(id_map)
        infos.append(info)
    breakdown = PQBreakdown(TOY_CATEGORIES)
    breakdown.add(maps[0], infos[0], maps[1], infos[1])
    return breakdown


def causes(breakdown):
    return {cause: counts for cause, counts in breakdown.cause_counts.items() if counts != {"fn": 0, "fp": 0}}


def fixed(breakdown, cause, category_id):
    """[tp, fp, fn, summed IoU] of a category with ``cause``'s errors fixed."""
    return breakdown.base.plus(breakdown.fixes[cause]).counts[category_id]


SQUARE = ((0, 20), (0, 20))  # a 20x20 square, 400 px


def test_wrong_class():
    # A car predicted exactly where the person is: IoU 1 across categories. Fixed: the person is a
    # TP of IoU 1 and the car FP goes.
    breakdown = error_case([(*SQUARE, PERSON)], [(*SQUARE, CAR)])
    assert causes(breakdown) == {"wrong_class": {"fn": 1, "fp": 1}}
    assert fixed(breakdown, "wrong_class", PERSON) == [1, 0, 0, 1.0]
    assert fixed(breakdown, "wrong_class", CAR) == [0, 0, 0, 0.0]
    # PQ: before, person 0 (FN), car 0 (FP), grass 1 -> 1/3; fixed: person 1, grass 1 -> 1.
    result = breakdown.result()
    assert result["errors"]["fixed"]["wrong_class"]["All"]["pq"] == pytest.approx(1.0)
    assert breakdown.base.groups(TOY_CATEGORIES)["All"]["pq"] == pytest.approx(1 / 3)


def test_split_and_merged():
    # Split: the person predicted as two halves (200 px each, IoU 0.5 each: no match; together IoU
    # 1). The FN and both FPs are split/merged; fixed, they go.
    halves = [((0, 20), (0, 10), PERSON), ((0, 20), (10, 20), PERSON)]
    split = error_case([(*SQUARE, PERSON)], halves)
    assert causes(split) == {"split_merged": {"fn": 1, "fp": 2}}
    assert fixed(split, "split_merged", PERSON) == [0, 0, 0, 0.0]
    # Merged: the converse.
    merged = error_case(halves, [(*SQUARE, PERSON)])
    assert causes(merged) == {"split_merged": {"fn": 2, "fp": 1}}


def test_localization_missed_and_hallucinated():
    # The person predicted 12 columns off: overlap 20x8 = 160, union 640, IoU 0.25 in [0.1, 0.5).
    # Fixed: a TP of IoU 1 (TIDE's perfect localization), the FP gone.
    off = error_case([(*SQUARE, PERSON)], [((0, 20), (12, 32), PERSON)])
    assert causes(off) == {"localization": {"fn": 1, "fp": 1}}
    assert fixed(off, "localization", PERSON) == [1, 0, 0, 1.0]
    # 17 columns off: overlap 60, union 740, IoU 0.08 < 0.1: missed and hallucinated.
    far = error_case([(*SQUARE, PERSON)], [((0, 20), (17, 37), PERSON)])
    assert causes(far) == {"missed": {"fn": 1, "fp": 0}, "hallucinated": {"fn": 0, "fp": 1}}
    assert fixed(far, "missed", PERSON) == [0, 1, 0, 0.0]
    assert fixed(far, "hallucinated", PERSON) == [0, 0, 1, 0.0]


def test_wrong_class_is_tested_before_localization():
    # A car on the person and a person prediction drawn over the car's right part: the car keeps
    # cols 0-11 (IoU 240/400 = 0.6 with the person), the person prediction overlaps the person with
    # IoU 0.25. The ground truth's cause is wrong class (tested first); the person FP localization.
    breakdown = error_case([(*SQUARE, PERSON)], [(*SQUARE, CAR), ((0, 20), (12, 32), PERSON)])
    assert causes(breakdown) == {"wrong_class": {"fn": 1, "fp": 1}, "localization": {"fn": 0, "fp": 1}}


def test_command_line_writes_breakdown_json_and_csv(sample_gt, tmp_path):
    pred_json, pred_folder = edited_sample_files(sample_gt, tmp_path, "all_four")
    output, table = tmp_path / "pq.json", tmp_path / "per_category.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "panfpn_lite.pq", "--gt_json_file", str(SAMPLE_JSON), "--pred_json_file", pred_json,
         "--gt_folder", str(SAMPLE_PNG_DIR), "--pred_folder", pred_folder, "--output-json", str(output),
         "--csv", str(table), "--breakdown"],
        capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Per category, by PQ:" in completed.stdout and "boundary All" in completed.stdout
    written = json.loads(output.read_text())
    assert set(written) == {"All", "Things", "Stuff", "per_class", "by_size", "boundary", "errors"}
    assert set(written["by_size"]) == {"small", "medium", "large"}
    for groups in [written["boundary"], *written["by_size"].values()] + list(written["errors"]["fixed"].values()):
        assert set(groups) == {"All", "Things", "Stuff"} and set(groups["All"]) == {"pq", "sq", "rq", "n"}
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == len(sample_gt[0]["categories"])
    scored = [float(r["pq"]) for r in rows if r["pq"]]
    assert scored == sorted(scored, reverse=True) and len(scored) == written["All"]["n"]
    for row in rows:
        counts = written["per_class"][row["category_id"]]
        assert [int(row[k]) for k in ("tp", "fp", "fn")] == [counts[k] for k in ("tp", "fp", "fn")]


def test_bad_size_ranges_are_named(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "panfpn_lite.pq", "--gt_json_file", "g.json", "--pred_json_file", "p.json",
         "--breakdown", "--size-ranges", "9216", "1024"], capture_output=True, text=True,
    )
    assert completed.returncode == 2 and "--size-ranges" in completed.stderr


def test_per_class_table_is_printed_sorted_by_pq(sample_gt, tmp_path, capsys):
    pred_json, pred_folder = edited_sample_files(sample_gt, tmp_path, "all_four")
    results = pq_compute(str(SAMPLE_JSON), pred_json, str(SAMPLE_PNG_DIR), pred_folder, per_class_table=True)
    lines = capsys.readouterr().out.split("Per category, by PQ:\n")[1].splitlines()
    rows = [line for line in lines[2:] if "|" in line]
    assert len(rows) == results["All"]["n"]
    printed = [float(row.split("|")[1].split()[0]) for row in rows]
    assert printed == sorted(printed, reverse=True)
    assert printed[0] == pytest.approx(100 * max(r["pq"] for r in results["per_class"].values()), abs=0.05)
    assert "categories with no segment on either side left out" in lines[len(rows) + 2]


def test_breakdown_takes_string_image_ids(sample_gt, tmp_path):
    """Cityscapes' image ids are strings: the breakdown pairs images by id as given, with the same
    numbers as under integer ids."""
    results = []
    for name, image_id_of in (("integer", int), ("string", lambda i: f"frankfurt_{i:06d}_000019")):
        gt_images, pred_images, categories = _sample_with_ids(sample_gt, image_id_of)
        gt = write_panoptic_files(tmp_path / name, "gt", gt_images, categories)
        pred = write_panoptic_files(tmp_path / name, "pred", pred_images, categories)
        results.append(pq_compute(gt[0], pred[0], gt[1], pred[1], breakdown=True))
    assert results[0]["errors"]["counts"] == results[1]["errors"]["counts"]
    for key in ("by_size", "boundary"):
        assert results[0][key] == results[1][key]
    assert sum(c["fn"] for c in results[1]["errors"]["counts"].values()) > 0
