"""The evaluator's PQ breakdown (TEST.PQ_BREAKDOWN) is panfpn-pq's: same numbers on the same predictions."""
import pytest
from detectron2.config import get_cfg

from panfpn_d2.config import add_panfpn_config
from panfpn_d2.evaluation import PanFPNPanopticEvaluator, build_evaluator
from panfpn_lite.pq import pq_compute
from panfpn_lite.pq_breakdown import CAUSES
from tests.evaluation.test_panoptic_evaluator import edited_predictions
from tests.support.panoptic_files import write_panoptic_files
from tests.support.paths import SAMPLE_JSON, SAMPLE_PNG_DIR


def test_breakdown_equals_the_command_line(sample_gt, sample_metadata, tmp_path):
    examples = edited_predictions(sample_gt, sample_metadata)
    pred_json, pred_folder = write_panoptic_files(tmp_path, "pred", [e[0] for e in examples], sample_gt[0]["categories"])
    expected = pq_compute(str(SAMPLE_JSON), pred_json, str(SAMPLE_PNG_DIR), pred_folder, breakdown=True)

    evaluator = PanFPNPanopticEvaluator(sample_metadata.name, distributed=False, pq_breakdown=True)
    evaluator.reset()
    for _, model_input, output in examples:
        evaluator.process([model_input], [output])
    results = evaluator.evaluate()["panoptic_seg"]

    for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        for size in ("small", "medium", "large"):
            assert results[f"PQ_{size}{suffix}"] == pytest.approx(100 * expected["by_size"][size][group]["pq"], abs=1e-9)
        assert results[f"PQ_boundary{suffix}"] == pytest.approx(100 * expected["boundary"][group]["pq"], abs=1e-9)
        for cause in CAUSES:
            fixed = expected["errors"]["fixed"][cause][group]["pq"]
            assert results[f"PQ_fixed_{cause}{suffix}"] == pytest.approx(100 * fixed, abs=1e-9)
    assert 0 < results["PQ_boundary"] < results["PQ"]
    assert sum(c["fn"] + c["fp"] for c in expected["errors"]["counts"].values()) > 0


def test_breakdown_is_off_by_default(sample_gt, sample_metadata):
    examples = edited_predictions(sample_gt, sample_metadata)
    evaluator = PanFPNPanopticEvaluator(sample_metadata.name, distributed=False)
    evaluator.reset()
    for _, model_input, output in examples:
        evaluator.process([model_input], [output])
    assert not any(key.startswith(("PQ_small", "PQ_boundary", "PQ_fixed")) for key in evaluator.evaluate()["panoptic_seg"])


@pytest.mark.parametrize("enabled", [False, True])
def test_config_key_reaches_the_evaluator(enabled, sample_metadata):
    cfg = add_panfpn_config(get_cfg())
    cfg.TEST.PQ_BREAKDOWN = enabled
    panoptic = [e for e in build_evaluator(cfg, sample_metadata.name)._evaluators if isinstance(e, PanFPNPanopticEvaluator)]
    assert [e._pq_breakdown for e in panoptic] == [enabled]
