"""build_evaluator picks the evaluators of the outputs the configured model produces."""
import pytest
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog

from panfpn_d2.config import add_panfpn_config
from panfpn_d2.evaluation import (
    PanFPNInstanceEvaluator,
    PanFPNPanopticEvaluator,
    PanFPNSemSegEvaluator,
    build_evaluator,
)


def _cfg(semantic_weight, instance_weight):
    cfg = add_panfpn_config(get_cfg())
    cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT = semantic_weight
    cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT = instance_weight
    return cfg


@pytest.mark.parametrize(
    "weights, expected",
    [
        ((0.5, 1.0), [PanFPNSemSegEvaluator, PanFPNInstanceEvaluator, PanFPNPanopticEvaluator]),
        ((0.5, 0.0), [PanFPNSemSegEvaluator, PanFPNPanopticEvaluator]),  # Semantic FPN alone
        ((0.0, 1.0), [PanFPNInstanceEvaluator, PanFPNPanopticEvaluator]),  # Mask R-CNN alone
    ],
)
def test_evaluators_follow_the_branches(weights, expected, sample_metadata):
    evaluators = build_evaluator(_cfg(*weights), sample_metadata.name)
    assert [type(e) for e in evaluators._evaluators] == expected
    scope = {(0.5, 1.0): "all", (0.5, 0.0): "stuff", (0.0, 1.0): "things"}[weights]
    assert evaluators._evaluators[-1]._scope == scope


def test_two_networks_model_is_evaluated_on_both_branches(sample_metadata):
    cfg = _cfg(0.0, 1.0)  # the x2 model's own lambdas do not matter
    cfg.MODEL.META_ARCHITECTURE = "PanFPNTwoNetworks"
    evaluators = build_evaluator(cfg, sample_metadata.name)._evaluators
    assert [type(e) for e in evaluators] == [PanFPNSemSegEvaluator, PanFPNInstanceEvaluator, PanFPNPanopticEvaluator]
    assert evaluators[-1]._scope == "all"


def test_write_png_option_reaches_the_panoptic_evaluator(sample_metadata, tmp_path):
    cfg = _cfg(0.5, 1.0)
    cfg.TEST.WRITE_PANOPTIC_PNG = True
    panoptic = build_evaluator(cfg, sample_metadata.name, str(tmp_path))._evaluators[-1]
    assert panoptic._writer is not None and (tmp_path / "panoptic_predictions").is_dir()


def test_written_predictions_default_to_the_output_dir(sample_metadata, tmp_path):
    """train_net.py passes no folder: TEST.WRITE_PANOPTIC_PNG writes under OUTPUT_DIR/inference/<dataset>."""
    cfg = _cfg(0.5, 1.0)
    cfg.TEST.WRITE_PANOPTIC_PNG = True
    cfg.OUTPUT_DIR = str(tmp_path)
    panoptic = build_evaluator(cfg, sample_metadata.name)._evaluators[-1]
    assert panoptic._writer.png_dir == str(tmp_path / "inference" / sample_metadata.name / "panoptic_predictions")


def test_unknown_evaluator_type_is_an_error():
    MetadataCatalog.get("panfpn_test_evaluation_semseg_only").set(evaluator_type="sem_seg")
    with pytest.raises(ValueError, match="'panfpn_test_evaluation_semseg_only'.*'sem_seg'"):
        build_evaluator(_cfg(0.5, 1.0), "panfpn_test_evaluation_semseg_only")
