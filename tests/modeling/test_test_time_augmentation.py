"""PanFPNWithTTA: one augmentation is the plain model; flips and scales are mapped back to the image."""
import pytest
import torch
from detectron2.modeling import build_model

from panfpn_d2.modeling import PanFPNWithTTA
from panfpn_d2.tools.random_weights import make_random_model_detect

from tests.support.configs import tiny_cfg

SIZE = (64, 80)  # (H, W) of the test image, which the plain model sees unresized


def tta_cfg(min_sizes, flip):
    # 3 thing classes: the random detector's near-uniform scores pass the 0.05 score threshold.
    return tiny_cfg(
        "Base-PanFPN.yaml",
        "MODEL.ROI_HEADS.NUM_CLASSES", 3,
        "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 4,
        "TEST.AUG.MIN_SIZES", min_sizes,
        "TEST.AUG.MAX_SIZE", 1000,
        "TEST.AUG.FLIP", flip,
    )


@pytest.fixture(scope="module")
def model_and_image():
    torch.manual_seed(0)
    model = make_random_model_detect(build_model(tta_cfg((64,), False))).eval()
    image = torch.randint(0, 256, (3, *SIZE), dtype=torch.uint8)
    with torch.no_grad():
        plain = model([{"image": image}])[0]
    assert len(plain["instances"]) > 10
    return model, image, plain


def run_tta(model, image, min_sizes, flip):
    with torch.no_grad():
        return PanFPNWithTTA(tta_cfg(min_sizes, flip), model)([{"image": image}])[0]


def test_one_scale_without_flip_is_the_plain_model(model_and_image):
    model, image, plain = model_and_image
    tta = run_tta(model, image, (SIZE[0],), False)
    assert tta.keys() == plain.keys() == {"sem_seg", "instances", "panoptic_seg"}
    assert torch.equal(tta["sem_seg"], plain["sem_seg"])
    fields = plain["instances"].get_fields()
    assert tta["instances"].get_fields().keys() == fields.keys()
    for name, value in fields.items():
        value = value.tensor if name == "pred_boxes" else value
        other = tta["instances"].get(name)
        assert torch.equal(other.tensor if name == "pred_boxes" else other, value), name
    assert torch.equal(tta["panoptic_seg"][0], plain["panoptic_seg"][0])
    assert tta["panoptic_seg"][1] == plain["panoptic_seg"][1]


def test_flip_averages_the_flipped_image_flipped_back(model_and_image):
    model, image, plain = model_and_image
    with torch.no_grad():
        mirrored = model([{"image": image.flip(dims=[2])}])[0]
    tta = run_tta(model, image, (SIZE[0],), True)
    torch.testing.assert_close(tta["sem_seg"], (plain["sem_seg"] + mirrored["sem_seg"].flip(dims=[2])) / 2)
    # The merged boxes are drawn from both: the plain model's and the mirrored ones mapped back.
    candidates = torch.cat([plain["instances"].pred_boxes.tensor, mirrored["instances"].pred_boxes.tensor])
    candidates[len(plain["instances"]):, [0, 2]] = SIZE[1] - candidates[len(plain["instances"]):, [2, 0]]
    merged = tta["instances"].pred_boxes.tensor
    assert (merged[:, None] - candidates[None]).abs().amax(dim=2).min(dim=1).values.max() < 1e-4


def test_two_scales_and_flip_give_outputs_at_the_image_size(model_and_image):
    model, image, plain = model_and_image
    tta = run_tta(model, image, (48, 96), True)
    assert tta["sem_seg"].shape == plain["sem_seg"].shape
    assert not torch.equal(tta["sem_seg"], plain["sem_seg"])
    # Most pixels keep the plain model's class: the scales see the same image.
    assert (tta["sem_seg"].argmax(0) == plain["sem_seg"].argmax(0)).float().mean() > 0.5
    instances = tta["instances"]
    assert 0 < len(instances) <= model.roi_heads.box_predictor.test_topk_per_image
    assert instances.image_size == SIZE and instances.pred_masks.shape[1:] == SIZE
    boxes = instances.pred_boxes.tensor
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= SIZE[1]).all() and (boxes[:, 3] <= SIZE[0]).all()
    assert (instances.scores[:-1] >= instances.scores[1:]).all()
    panoptic, segments = tta["panoptic_seg"]
    assert panoptic.shape == SIZE
    assert set(panoptic.unique().tolist()) - {0} == {s["id"] for s in segments}


def test_rejects_a_model_other_than_panfpn():
    with pytest.raises(TypeError, match="augments a PanFPN"):
        PanFPNWithTTA(tta_cfg((64,), False), torch.nn.Linear(1, 1))
