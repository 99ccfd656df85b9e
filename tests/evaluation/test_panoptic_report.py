"""The evaluator's PQ report (TEST.PQ_REPORT): panfpn-pq --report's page, over the input images."""
import pytest
from detectron2.config import get_cfg

from panfpn_d2.config import add_panfpn_config, validate_config
from panfpn_d2.evaluation import PanFPNPanopticEvaluator, build_evaluator
from tests.evaluation.test_panoptic_evaluator import edited_predictions
from tests.lite.test_pq_report import page_links
from tests.support.paths import COCO_SAMPLE


def test_config_key_writes_the_report_in_the_output_folder(sample_gt, sample_metadata, tmp_path):
    cfg = add_panfpn_config(get_cfg())
    cfg.TEST.PQ_REPORT = True
    cfg.OUTPUT_DIR = str(tmp_path)
    evaluator = build_evaluator(cfg, sample_metadata.name)
    [panoptic] = [e for e in evaluator._evaluators if isinstance(e, PanFPNPanopticEvaluator)]
    panoptic._distributed = False
    panoptic.reset()
    for _, model_input, output in edited_predictions(sample_gt, sample_metadata):
        model_input = dict(model_input, file_name=str(COCO_SAMPLE / "input_images" / f"{model_input['image_id']:012d}.jpg"))
        panoptic.process([model_input], [output])
    results = panoptic.evaluate()["panoptic_seg"]

    index = tmp_path / "inference" / sample_metadata.name / "pq_report" / "index.html"
    links = page_links(index)
    assert links.images == ["per_category.png", "by_size.png", "errors.png", "confusion.png", "worst_1.png", "worst_2.png"]
    assert all((index.parent / name).stat().st_size > 0 for name in links.images)
    assert "not found" not in index.read_text()  # drawn over the input images
    assert f"<td>All</td><td>{results['PQ']:.1f}</td>" in index.read_text()
    # the report alone adds no metric (TEST.PQ_BREAKDOWN does)
    assert not any(key.startswith(("PQ_small", "PQ_boundary", "PQ_fixed")) for key in results)


def test_report_needs_the_panoptic_output():
    cfg = add_panfpn_config(get_cfg())
    cfg.TEST.PQ_REPORT = True
    cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED = False
    with pytest.raises(ValueError, match="TEST.PQ_REPORT"):
        validate_config(cfg)
