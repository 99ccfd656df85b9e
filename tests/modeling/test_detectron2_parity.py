"""PanFPN with default keys is detectron2's PanopticFPN: same checkpoint format, same outputs."""
import copy

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import transforms as T
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model
from detectron2.modeling.meta_arch.panoptic_fpn import PanopticFPN
from detectron2.modeling.meta_arch.panoptic_fpn import (
    combine_semantic_and_instance_outputs as d2_combine,
)

from tests.support.configs import r50_cfg
from tests.support.paths import COCO_SAMPLE
from panfpn_d2 import PanFPN


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    theirs = build_model(r50_cfg("PanopticFPN", "SemSegFPNHead")).eval()
    ours = build_model(r50_cfg("PanFPN", "PanFPNSemSegHead")).eval()
    assert type(theirs) is PanopticFPN and type(ours) is PanFPN
    with torch.no_grad():
        # Random weights made to detect: proposals are the anchors themselves (zero
        # deltas), class scores are peaky with a low background, and masks vary, so
        # that ~100 overlapping instances pass the merge's 0.5 threshold.
        theirs.proposal_generator.rpn_head.anchor_deltas.weight.zero_()
        theirs.roi_heads.box_predictor.bbox_pred.weight.zero_()
        cls_score = theirs.roi_heads.box_predictor.cls_score
        cls_score.weight.normal_(0, 1e-3)
        cls_score.bias.zero_()
        cls_score.bias[-1] = -20.0
        theirs.roi_heads.mask_head.predictor.weight.normal_(0, 1e-3)
    return theirs, ours


def test_state_dicts_have_same_keys_and_shapes(models):
    theirs, ours = models
    def shapes(m):
        return {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes(ours) == shapes(theirs)
    assert {k: tuple(v.shape) for k, v in ours.named_buffers()} == {
        k: tuple(v.shape) for k, v in theirs.named_buffers() if k != "semantic_label_to_category"
    } | {"semantic_label_to_category": (54,)}


def test_detectron2_checkpoint_loads_with_no_missing_or_unexpected_keys(models, tmp_path):
    theirs, ours = models
    DetectionCheckpointer(theirs, save_dir=str(tmp_path)).save("d2_panoptic_fpn")
    checkpoint_file = str(tmp_path / "d2_panoptic_fpn.pth")
    saved_weights = torch.load(checkpoint_file, map_location="cpu", weights_only=True)["model"]
    incompatible = copy.deepcopy(ours).load_state_dict(saved_weights, strict=False)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    target = copy.deepcopy(ours)
    DetectionCheckpointer(target).load(checkpoint_file)  # what MODEL.WEIGHTS does
    for k, v in theirs.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k


@pytest.mark.parametrize("image_file", sorted(p.name for p in (COCO_SAMPLE / "input_images").glob("*.jpg")))
def test_same_outputs_on_real_images(models, image_file):
    theirs, ours = models
    ours.load_state_dict(theirs.state_dict())
    image = read_image(str(COCO_SAMPLE / "input_images" / image_file), format="BGR")
    resized = T.ResizeShortestEdge(320, 640).get_transform(image).apply_image(image)
    inputs = [{"image": torch.as_tensor(resized.transpose(2, 0, 1).copy()).float(),
               "height": image.shape[0], "width": image.shape[1]}]
    with torch.no_grad():
        (expected,), (actual,) = theirs(inputs), ours(inputs)

    assert torch.equal(actual["sem_seg"], expected["sem_seg"])
    exp_inst, act_inst = expected["instances"], actual["instances"]
    assert (act_inst.scores > 0.5).sum() >= 20, "the merge should have many confident instances to resolve"
    for field in ("scores", "pred_classes", "pred_masks"):
        assert torch.equal(getattr(act_inst, field), getattr(exp_inst, field)), field
    assert torch.equal(act_inst.pred_boxes.tensor, exp_inst.pred_boxes.tensor)

    # detectron2's merge on detectron2's outputs (its panoptic_seg) vs ours
    exp_pan, exp_segments = d2_combine(exp_inst, expected["sem_seg"].argmax(0), 0.5, 4096, 0.5)
    act_pan, act_segments = actual["panoptic_seg"]
    assert torch.equal(act_pan, exp_pan) and torch.equal(act_pan, expected["panoptic_seg"][0])
    assert act_segments == exp_segments == expected["panoptic_seg"][1]
    assert sum(s["isthing"] for s in act_segments) >= 10
    assert any(not s["isthing"] for s in act_segments)
