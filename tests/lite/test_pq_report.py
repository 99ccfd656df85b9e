"""The PQ report (panfpn_lite.pq_report, ``panfpn-pq --report``): its per-image PQ and confusion
counts worked out by hand, and the page with every plot and image it links."""
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from panfpn_lite.pq import main as pq_main
from panfpn_lite.pq import pq_compute
from panfpn_lite.pq_breakdown import PQBreakdown
from panfpn_lite.pq_report import confusion_table, kind_confusion, worst_images
from tests.lite.test_pq import edited_sample_files
from tests.support.paths import COCO_SAMPLE, SAMPLE_JSON, SAMPLE_PNG_DIR

# 1 and 3 things, 2 stuff
CATEGORIES = [
    {"id": 1, "name": "cat", "isthing": 1},
    {"id": 2, "name": "grass", "isthing": 0},
    {"id": 3, "name": "dog", "isthing": 1},
]


def hand_made_breakdown() -> PQBreakdown:
    """Three 20×20 images.

    a: a 10×10 cat on grass, predicted as a dog of the same mask, the grass right: cat FN, dog FP,
       grass TP of IoU 1 -> image PQ (0 + 0 + 1) / 3; pairs (cat, dog), (grass, grass).
    b: all grass, predicted all void: grass FN -> PQ 0 over 1 category; pair (grass, none).
    c: all grass, predicted grass but for a 5×5 cat: grass TP of IoU 375/400, cat FP (IoU 25/400
       with the grass) -> PQ (375/400 + 0) / 2; pairs (grass, grass), (none, cat).
    """
    breakdown = PQBreakdown(CATEGORIES)
    gt = np.full((20, 20), 2)
    gt[:10, :10] = 1
    breakdown.add(gt, [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}],
                  gt.copy(), [{"id": 1, "category_id": 3}, {"id": 2, "category_id": 2}], "a")
    breakdown.add(np.ones((20, 20), int), [{"id": 1, "category_id": 2}], np.zeros((20, 20), int), [], "b")
    pred = np.ones((20, 20), int)
    pred[:5, :5] = 2
    breakdown.add(np.ones((20, 20), int), [{"id": 1, "category_id": 2}],
                  pred, [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 1}], "c")
    return breakdown


def test_per_image_pq_and_confusion_counts_by_hand():
    breakdown = hand_made_breakdown()
    assert {name: (r["pq"], r["n"]) for name, r in breakdown.image_pq.items()} == {
        "a": (pytest.approx(1 / 3), 3), "b": (0.0, 1), "c": (pytest.approx(375 / 400 / 2), 2)}
    assert dict(breakdown.confusion) == {(1, 3): 1, (2, 2): 2, (2, None): 1, (None, 1): 1}
    assert [name for name, _ in worst_images(breakdown.image_pq, 2)] == ["b", "a"]

    axis, matrix = confusion_table(breakdown.confusion, CATEGORIES)
    assert axis == [1, 3, 2, None]  # things by name (cat, dog), stuff, none
    assert matrix.tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 2, 1], [1, 0, 0, 0]]
    assert kind_confusion(breakdown.confusion, CATEGORIES) == {
        ("thing", "thing"): 1, ("stuff", "stuff"): 2, ("stuff", None): 1, (None, "thing"): 1}


def test_the_breakdown_result_is_unchanged_by_the_report_data():
    assert set(hand_made_breakdown().result()) == {"by_size", "boundary", "errors"}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self._in_heading = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_heading = tag == "h2"

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


def page_links(index: Path) -> _Links:
    links = _Links()
    links.feed(index.read_text())
    return links


def report_of_the_sample(sample_gt, tmp_path, *extra):
    """``panfpn-pq --report`` of the sample against its ``all_four`` edit; the page's path."""
    pred_json, _ = edited_sample_files(sample_gt, tmp_path / "pred", "all_four")
    pq_main(["--gt_json_file", str(SAMPLE_JSON), "--pred_json_file", pred_json, "--gt_folder", str(SAMPLE_PNG_DIR),
             "--output-json", str(tmp_path / "pq.json"), "--report", str(tmp_path / "report"), *extra])
    return tmp_path / "report" / "index.html"


def test_report_links_every_plot_and_image_beside_the_page(sample_gt, tmp_path):
    index = report_of_the_sample(sample_gt, tmp_path, "--images", str(COCO_SAMPLE / "input_images"), "--worst", "1")
    links = page_links(index)
    assert links.images == ["per_category.png", "by_size.png", "errors.png", "confusion.png", "worst_1.png"]
    for name in links.images:
        assert (index.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert links.headings == ["PQ per category", "PQ by segment size, and boundary PQ", "Errors", "Confusion",
                              "The 1 images of lowest PQ"]
    # --report implies the breakdown, and the page's numbers are the dict's
    results = json.loads((tmp_path / "pq.json").read_text())
    assert {"by_size", "boundary", "errors"} <= set(results)
    assert f"<td>All</td><td>{100 * results['All']['pq']:.1f}</td>" in index.read_text()


def test_worst_images_without_their_files_are_drawn_from_the_maps_and_say_so(sample_gt, tmp_path):
    index = report_of_the_sample(sample_gt, tmp_path, "--images", str(tmp_path / "nowhere"))
    assert page_links(index).images[-2:] == ["worst_1.png", "worst_2.png"]  # the sample's two images
    assert index.read_text().count("not found: segment maps alone") == 2


def test_images_without_report_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pq_main(["--gt_json_file", str(SAMPLE_JSON), "--pred_json_file", str(SAMPLE_JSON), "--images", str(tmp_path)])
    assert "--images and --worst go with --report" in capsys.readouterr().err


def test_without_matplotlib_the_report_names_the_extra_before_evaluating(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # an import of it raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'panfpn_d2\[report\]'"):
        pq_compute(str(SAMPLE_JSON), str(SAMPLE_JSON), str(SAMPLE_PNG_DIR), str(SAMPLE_PNG_DIR), report=str(tmp_path))


def test_plain_command_and_package_import_leave_matplotlib_out():
    code = (
        "import sys, panfpn_lite, panfpn_lite.pq\n"
        f"panfpn_lite.pq.main(['--gt_json_file', {str(SAMPLE_JSON)!r}, '--pred_json_file', {str(SAMPLE_JSON)!r}, "
        f"'--gt_folder', {str(SAMPLE_PNG_DIR)!r}, '--pred_folder', {str(SAMPLE_PNG_DIR)!r}, '--breakdown'])\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
