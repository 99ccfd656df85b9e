"""The PQ report in a real browser: headless Chromium shows every plot and image and logs no
error (``make test-browser`` installs Debian's chromium and runs these; ``make test`` leaves them out)."""
import pytest

from tests.lite.test_pq_report import report_of_the_sample
from tests.support.browser import open_page
from tests.support.paths import COCO_SAMPLE

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_report_shows_every_plot_and_image_without_console_errors(sample_gt, tmp_path):
    index = report_of_the_sample(sample_gt, tmp_path, "--images", str(COCO_SAMPLE / "input_images"))
    check = open_page(index)
    assert [src for src, _ in check.images] == [
        "per_category.png", "by_size.png", "errors.png", "confusion.png", "worst_1.png", "worst_2.png"]
    assert all(loaded for _, loaded in check.images), check.images
    assert check.console_errors == []
    assert check.screenshot.startswith(PNG_SIGNATURE)


def test_the_check_sees_a_missing_image_and_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="missing.png"><script>console.error("bad")</script></body></html>')
    check = open_page(page)
    assert check.images == [["missing.png", False]]
    assert "bad" in check.console_errors
    assert any("missing.png" in error for error in check.console_errors)  # the failed load, logged
