"""MODEL.PANFPN.OUTPUTS: panoptic-only inference gives the full run's panoptic map, doing less."""
import numpy as np
import pytest
import torch

from detectron2.data import transforms as T
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model

from tests.support.configs import r50_cfg, tiny_cfg
from tests.support.paths import COCO_SAMPLE
from tests.support.random_weights import calibrate_detection_scores
from panfpn_d2.data.toy import render_toy_image
from panfpn_d2.config import resolve_outputs
from panfpn_d2.modeling.meta_arch import PanFPN
from panfpn_d2.tools.random_weights import make_random_model_detect

TOY_CONFIG = "Toy-PanopticSegmentation/panfpn_toy.yaml"


def model_inputs(image_bgr, short_side, max_size):
    resized = T.ResizeShortestEdge(short_side, max_size).get_transform(image_bgr).apply_image(image_bgr)
    return {"image": torch.as_tensor(resized.transpose(2, 0, 1).copy()).float(),
            "height": image_bgr.shape[0], "width": image_bgr.shape[1]}


def models_with_outputs(cfg, inputs, outputs_list):
    """outputs -> model: the same calibrated random weights (a fifth of the detections confident)."""
    torch.manual_seed(0)
    full = build_model(cfg).eval()
    make_random_model_detect(full)
    calibrate_detection_scores(full, inputs, confidence=cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH)
    models = {}
    for outputs in outputs_list:
        variant = cfg.clone()
        variant.MODEL.PANFPN.OUTPUTS = outputs
        models[outputs] = build_model(variant).eval()
        models[outputs].load_state_dict(full.state_dict())
    return full, models


def boxes_through_mask_head(model, model_input):
    """(the model's outputs, how many boxes its mask head saw)."""
    seen = []
    hook = model.roi_heads.mask_head.register_forward_pre_hook(lambda m, args: seen.append(len(args[0])))
    try:
        with torch.no_grad():
            (output,) = model([model_input])
    finally:
        hook.remove()
    return output, sum(seen)


def check_same_panoptic(full, models, model_input):
    expected, full_count = boxes_through_mask_head(full, model_input)
    scores = expected["instances"].scores
    confident = int((scores >= full.merge_settings.instances_confidence_thresh).sum())
    assert full_count == len(scores) and 0 < confident < len(scores) / 2, "a fifth of the detections should be confident"
    for outputs, model in models.items():
        actual, count = boxes_through_mask_head(model, model_input)
        assert tuple(actual) == outputs
        assert count == confident, "the mask head runs on the pasteable detections only"
        assert torch.equal(actual["panoptic_seg"][0], expected["panoptic_seg"][0])
        assert actual["panoptic_seg"][1] == expected["panoptic_seg"][1]  # instance ids: the full run's
        if "sem_seg" in outputs:
            assert torch.equal(actual["sem_seg"], expected["sem_seg"])
    return expected


PANOPTIC_OUTPUTS = [("panoptic_seg",), ("sem_seg", "panoptic_seg")]


def test_toy_model_panoptic_only_gives_the_full_panoptic_map():
    rng = np.random.default_rng(0)
    inputs = [model_inputs(np.ascontiguousarray(render_toy_image(rng, 128)[0][:, :, ::-1]), 128, 128)
              for _ in range(3)]
    cfg = tiny_cfg(TOY_CONFIG, "MODEL.RPN.POST_NMS_TOPK_TEST", 300)
    full, models = models_with_outputs(cfg, inputs, PANOPTIC_OUTPUTS)
    for model_input in inputs:
        check_same_panoptic(full, models, model_input)
    with torch.no_grad():  # a batch: each image's pasteable detections go through one mask head call
        for expected, actual in zip(full(inputs), models[("panoptic_seg",)](inputs)):
            assert torch.equal(actual["panoptic_seg"][0], expected["panoptic_seg"][0])
            assert actual["panoptic_seg"][1] == expected["panoptic_seg"][1]


def test_mask_rcnn_alone_panoptic_only_gives_the_full_things_only_map():
    rng = np.random.default_rng(1)
    inputs = [model_inputs(np.ascontiguousarray(render_toy_image(rng, 128)[0][:, :, ::-1]), 128, 128)
              for _ in range(2)]
    cfg = tiny_cfg(TOY_CONFIG, "MODEL.RPN.POST_NMS_TOPK_TEST", 300, "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.0)
    full, models = models_with_outputs(cfg, inputs, [("panoptic_seg",)])
    assert full.sem_seg_head is None
    for model_input in inputs:
        expected = check_same_panoptic(full, models, model_input)
        assert all(s["isthing"] for s in expected["panoptic_seg"][1])


@pytest.fixture(scope="module")
def r50_models():
    """detectron2-parity R50 weights (see test_detectron2_parity.py) and the COCO sample at a 320 short side."""
    inputs = [model_inputs(read_image(str(path), format="BGR"), 320, 640)
              for path in sorted((COCO_SAMPLE / "input_images").glob("*.jpg"))]
    full, models = models_with_outputs(r50_cfg("PanFPN", "PanFPNSemSegHead"), inputs, [("panoptic_seg",)])
    return inputs, full, models


@pytest.mark.parametrize("image_index", [0, 1])
def test_parity_weights_panoptic_only_gives_the_full_panoptic_map(r50_models, image_index):
    inputs, full, models = r50_models
    expected = check_same_panoptic(full, models, inputs[image_index])
    assert sum(s["isthing"] for s in expected["panoptic_seg"][1]) >= 5


def test_branches_not_needed_are_not_run():
    cfg = tiny_cfg()
    cfg.MODEL.PANFPN.OUTPUTS = ("sem_seg",)
    semantic_only = build_model(cfg).eval()
    cfg.MODEL.PANFPN.OUTPUTS = ("instances",)
    instances_only = build_model(cfg).eval()
    calls = []
    for model in (semantic_only, instances_only):
        for name in ("sem_seg_head", "proposal_generator"):
            getattr(model, name).register_forward_pre_hook(lambda m, args, n=name: calls.append(n))
    image = {"image": torch.rand(3, 64, 96) * 255}
    with torch.no_grad():
        assert list(semantic_only([image])[0]) == ["sem_seg"]
        assert calls == ["sem_seg_head"]
        assert list(instances_only([image])[0]) == ["instances"]
        assert calls == ["sem_seg_head", "proposal_generator"]
        # do_postprocess=False still runs every branch
        detections, semantic_logits = semantic_only.inference([image], do_postprocess=False)
        assert detections is not None and semantic_logits is not None


def test_default_outputs_are_what_the_branches_give():
    assert resolve_outputs(("sem_seg", "instances", "panoptic_seg"), True, True, True) == (
        "sem_seg", "instances", "panoptic_seg")
    # one branch alone: the merge of that branch with the other side empty
    assert resolve_outputs(("panoptic_seg", "sem_seg", "instances"), False, True, True) == ("sem_seg", "panoptic_seg")
    assert resolve_outputs(("panoptic_seg", "sem_seg", "instances"), True, False, True) == ("instances", "panoptic_seg")
    assert resolve_outputs(("sem_seg", "instances", "panoptic_seg"), True, True, False) == ("sem_seg", "instances")
    assert resolve_outputs(("panoptic_seg", "sem_seg"), True, True, True) == ("sem_seg", "panoptic_seg")


@pytest.mark.parametrize("outputs, has_instances, combine, message", [
    ((), True, True, "non-empty"),
    (("panoptic",), True, True, "distinct names from"),
    (("sem_seg", "sem_seg"), True, True, "distinct names from"),
    (("instances",), False, True, "'instances', which needs an instance branch"),
    (("panoptic_seg",), True, False, "COMBINE.ENABLED"),
])
def test_bad_outputs_name_the_key(outputs, has_instances, combine, message):
    with pytest.raises(ValueError, match="MODEL.PANFPN.OUTPUTS") as error:
        resolve_outputs(outputs, has_instances, True, combine)
    assert message in str(error.value)
    cfg = tiny_cfg("Base-PanFPN.yaml", "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 1.0 if has_instances else 0.0,
                   "MODEL.PANOPTIC_FPN.COMBINE.ENABLED", combine)
    cfg.MODEL.PANFPN.OUTPUTS = outputs
    with pytest.raises(ValueError, match="MODEL.PANFPN.OUTPUTS"):
        build_model(cfg)


def test_constructor_checks_outputs():
    cfg = tiny_cfg()
    arguments = PanFPN.from_config(cfg)
    with pytest.raises(ValueError, match="distinct names"):
        PanFPN(**dict(arguments, outputs=("panoptic",)))
    assert PanFPN(**dict(arguments, outputs=("panoptic_seg",))).outputs == ("panoptic_seg",)
