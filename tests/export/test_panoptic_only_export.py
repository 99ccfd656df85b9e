"""An export with ``MODEL.PANFPN.OUTPUTS ("panoptic_seg",)``: the graph runs the mask head only for
the detections the panoptic merge can paste, and the runtime's panoptic output is the full export's."""
import json

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from panfpn_d2.deploy import PanFPNExportGraph
from panfpn_lite.runtime.model import METADATA_FILE, OnnxPanFPN, OpenVinoPanFPN
from panfpn_lite.runtime.predict import PanopticPredictor
from panfpn_lite.runtime.preprocess import read_image

from tests.support.configs import tiny_cfg
from tests.support.export import export


@pytest.fixture(scope="module")
def full_and_panoptic_only(scoring_toy, tmp_path_factory):
    """(cfg, images, full export folder, panoptic-only export folder) of the 40-iteration toy."""
    cfg, images = scoring_toy
    panoptic_only = cfg.clone()
    panoptic_only.merge_from_list(["MODEL.PANFPN.OUTPUTS", ("panoptic_seg",)])
    root = tmp_path_factory.mktemp("panoptic_only")
    return cfg, images, export(cfg, "onnx", root / "full"), export(panoptic_only, "onnx", root / "panoptic_only")


def test_graph_keeps_the_detections_at_or_above_the_merge_threshold(full_and_panoptic_only):
    cfg, images, full, panoptic_only = full_and_panoptic_only
    threshold = cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH
    full_model, only_model = OnnxPanFPN(str(full)), OnnxPanFPN(str(panoptic_only))
    kept_some = dropped_some = False
    for path in images:
        predictor = PanopticPredictor(full_model)
        image = read_image(str(path), "BGR")
        all_outputs, _ = predictor.network_outputs(image)
        only_outputs, _ = PanopticPredictor(only_model).network_outputs(image)
        pasteable = all_outputs["scores"] >= threshold
        kept_some |= bool(pasteable.any())
        dropped_some |= bool((~pasteable).any())
        for name in ("boxes", "scores", "classes", "mask_probs"):
            np.testing.assert_allclose(only_outputs[name], all_outputs[name][pasteable], atol=1e-5, err_msg=name)
    assert kept_some and dropped_some  # the comparison means something on these images
    assert json.loads((panoptic_only / METADATA_FILE).read_text())["instances"]["pasteable_only"] is True
    assert json.loads((full / METADATA_FILE).read_text())["instances"]["pasteable_only"] is False


@pytest.mark.parametrize("backend", [OnnxPanFPN, OpenVinoPanFPN])
def test_panoptic_output_is_the_full_exports(full_and_panoptic_only, backend):
    _, images, full, panoptic_only = full_and_panoptic_only
    reference = PanopticPredictor(backend(str(full)))
    predictor = PanopticPredictor(backend(str(panoptic_only)))
    for path in images:
        image = read_image(str(path), "BGR")
        (expected_map, expected_segments), (id_map, segments) = reference.predict(image), predictor.predict(image)
        np.testing.assert_array_equal(id_map, expected_map)
        assert segments == expected_segments


def test_threshold_is_compared_one_float32_step_below_it():
    """A float32 score equal to the threshold rounded down must stay: the runtime's merge may
    compare it in float64 or in float32."""
    cfg = tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.OUTPUTS", ("panoptic_seg",),
                   "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.4)
    graph = PanFPNExportGraph(build_model(cfg))
    below = np.nextafter(np.float32(0.4), np.float32(0))
    assert graph.pasteable_score == float(below) < 0.4
    assert PanFPNExportGraph(build_model(tiny_cfg("Base-PanFPN.yaml"))).pasteable_score is None
    with torch.no_grad():
        boxes, scores, *_ = graph(torch.rand(3, 64, 96) * 255)
    assert bool((scores >= graph.pasteable_score).all())
