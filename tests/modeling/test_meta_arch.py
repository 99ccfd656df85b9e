import pytest
import torch

from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage

from panfpn_d2 import PanFPN
from panfpn_lite.merge_settings import MergeSettings
from tests.support.configs import tiny_cfg
from tests.support.training import make_training_inputs
from panfpn_d2.tools.random_weights import make_random_model_detect

INSTANCE_LOSSES = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}


def train_step(model, inputs, iteration=0):
    model.train()
    with EventStorage(iteration):
        losses = model(inputs)
        total = sum(losses.values())
        total.backward()
    assert torch.isfinite(total)
    return losses


def infer(model, size=(64, 96)):
    model.eval()
    with torch.no_grad():
        return model([{"image": torch.rand(3, *size) * 255, "height": size[0] * 2, "width": size[1] * 2}])


VARIANTS = {
    "default": [],
    "concat_width64": ["MODEL.PANFPN.SEM_SEG_AGGREGATION", "concat", "MODEL.SEM_SEG_HEAD.CONVS_DIM", 64],
    "grouped_fpn": ["MODEL.PANFPN.GROUPED_FPN", True],
    "bootstrap": ["MODEL.PANFPN.SEM_SEG_LOSS", "bootstrap"],
    "lambda_weights": ["MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 0.25, "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.75],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_training_step_and_inference_in_every_variant(variant):
    torch.manual_seed(0)
    model = build_model(tiny_cfg("Base-PanFPN.yaml", *VARIANTS[variant]))
    assert isinstance(model, PanFPN)
    losses = train_step(model, make_training_inputs())
    assert set(losses) == INSTANCE_LOSSES | {"loss_sem_seg"}
    assert all(p.grad is not None for p in model.sem_seg_head.parameters())
    assert all(p.grad is not None for p in model.roi_heads.parameters())
    (result,) = infer(model)
    assert result["sem_seg"].shape == (54, 128, 192)
    assert isinstance(result["instances"], Instances) and result["instances"].image_size == (128, 192)
    pan, segments = result["panoptic_seg"]
    assert pan.shape == (128, 192) and pan.dtype == torch.int32
    assert sorted(s["id"] for s in segments) == sorted(set(pan.unique().tolist()) - {0})


def test_grouped_fpn_gives_each_branch_half_the_channels():
    model = build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.GROUPED_FPN", True))
    assert model.sem_seg_head.p2[0].weight.shape[1] == 16
    assert model.proposal_generator.rpn_head.conv.weight.shape[1] == 16
    instance, semantic = model.split_features({"p2": torch.arange(32.0).view(1, 32, 1, 1)})
    assert instance["p2"].flatten().tolist() == list(range(16))
    assert semantic["p2"].flatten().tolist() == list(range(16, 32))


def test_lambda_i_scales_roi_losses_but_not_rpn():
    inputs = make_training_inputs()
    losses = {}
    for weight in (1.0, 0.25):
        torch.manual_seed(0)
        model = build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", weight))
        torch.manual_seed(1)
        losses[weight] = train_step(model, inputs)
    for k in ("loss_cls", "loss_box_reg", "loss_mask"):
        assert torch.allclose(losses[0.25][k], 0.25 * losses[1.0][k])
    for k in ("loss_rpn_cls", "loss_rpn_loc", "loss_sem_seg"):
        assert torch.allclose(losses[0.25][k], losses[1.0][k])


def test_semantic_fpn_alone_builds_no_instance_branch():
    cfg = tiny_cfg("COCO-PanopticSegmentation/semantic_fpn_R_50_1x.yaml")
    model = build_model(cfg)
    assert model.proposal_generator is None and model.roi_heads is None
    assert set(train_step(model, make_training_inputs())) == {"loss_sem_seg"}
    (result,) = infer(model)
    assert set(result) == {"sem_seg", "panoptic_seg"}
    pan, segments = result["panoptic_seg"]  # stuff only: Table 2's PQSt of Semantic FPN alone
    assert segments and not any(s["isthing"] for s in segments)
    assert sorted(s["id"] for s in segments) == sorted(set(pan.unique().tolist()) - {0})


def test_mask_rcnn_alone_builds_no_semantic_branch():
    # thresholds 0: random weights score ~1/80 per class
    model = build_model(tiny_cfg("COCO-PanopticSegmentation/maskrcnn_R_50_1x.yaml", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
                                 "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.0))
    assert model.sem_seg_head is None
    assert set(train_step(model, make_training_inputs())) == INSTANCE_LOSSES
    make_random_model_detect(model)
    (result,) = infer(model)
    assert set(result) == {"instances", "panoptic_seg"}
    pan, segments = result["panoptic_seg"]  # things only: Table 2's PQTh of Mask R-CNN alone
    assert segments and all(s["isthing"] for s in segments)
    assert sorted(s["id"] for s in segments) == sorted(set(pan.unique().tolist()) - {0})


def test_alternate_schedule_takes_turns_and_keeps_every_parameter_in_the_graph():
    model = build_model(tiny_cfg("COCO-PanopticSegmentation/ablations/alternate_loss.yaml"))
    inputs = make_training_inputs()
    for iteration, expected in [(0, INSTANCE_LOSSES), (1, {"loss_sem_seg"}), (2, INSTANCE_LOSSES), (7, {"loss_sem_seg"})]:
        model.zero_grad(set_to_none=True)
        losses = train_step(model, inputs, iteration)
        assert set(losses) == expected
        # idle branch: connected (DDP needs it) but with exactly zero gradient
        idle = model.roi_heads if expected == {"loss_sem_seg"} else model.sem_seg_head
        assert all(p.grad is not None and not p.grad.any() for p in idle.parameters())


def test_combine_disabled_gives_no_panoptic_output():
    model = build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANOPTIC_FPN.COMBINE.ENABLED", False))
    assert set(infer(model)[0]) == {"sem_seg", "instances"}


def test_merge_thresholds_come_from_config():
    model = build_model(
        tiny_cfg(
            "Base-PanFPN.yaml",
            "MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH", 0.3,
            "MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT", 123,
            "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.7,
        )
    )
    assert model.merge_settings == MergeSettings(overlap_thresh=0.3, stuff_area_limit=123, instances_confidence_thresh=0.7)
    assert model.semantic_label_to_category.tolist() == [-1] + list(range(1, 54))


def test_all_mode_maps_stuff_labels_through_dataset_category_order():
    name = "test_panfpn_all_mode_meta"
    MetadataCatalog.get(name).set(
        category_dataset_ids=[7, 8, 24, 26, 11],
        thing_classes=["person", "car"],
        thing_dataset_id_to_contiguous_id={24: 0, 26: 1},
        stuff_classes=["things", "road", "sidewalk", "building"],
        stuff_dataset_id_to_contiguous_id={7: 1, 8: 2, 11: 3},
    )
    cfg = tiny_cfg(
        "Base-PanFPN.yaml",
        "MODEL.PANFPN.SEM_SEG_THING_MODE", "all",
        "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 5,
        "MODEL.ROI_HEADS.NUM_CLASSES", 2,
        "DATASETS.TRAIN", (name,),
    )
    model = build_model(cfg)
    # label 0 is road here, a stuff class: nothing assumes label 0 means 'things'
    assert model.semantic_label_to_category.tolist() == [1, 2, -1, -1, 3]
    losses = train_step(model, make_training_inputs(num_thing_classes=2, num_sem_classes=5))
    assert "loss_sem_seg" in losses
    pan, segments = infer(model)[0]["panoptic_seg"]
    assert all(s["category_id"] in (1, 2, 3) for s in segments if not s["isthing"])


@pytest.mark.parametrize(
    "opts, key",
    [
        (["MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", -0.5], "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT"),
        (["MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", -1.0], "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT"),
        (["MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 0.0, "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.0], "both 0"),
        (["MODEL.PANFPN.LOSS_SCHEDULE", "interleave"], "MODEL.PANFPN.LOSS_SCHEDULE"),
        (["MODEL.PANFPN.SEM_SEG_AGGREGATION", "max"], "MODEL.PANFPN.SEM_SEG_AGGREGATION"),
        (["MODEL.PANFPN.SEM_SEG_THING_MODE", "none"], "MODEL.PANFPN.SEM_SEG_THING_MODE"),
        (["MODEL.PANFPN.SEM_SEG_LOSS", "focal"], "MODEL.PANFPN.SEM_SEG_LOSS"),
        (["MODEL.PANFPN.GROUPED_FPN", True, "MODEL.FPN.OUT_CHANNELS", 33], "MODEL.FPN.OUT_CHANNELS"),
        (["MODEL.PANFPN.SEM_SEG_THING_MODE", "all"], "category_dataset_ids"),
    ],
)
def test_bad_config_fails_at_build_naming_the_key(opts, key):
    with pytest.raises(ValueError, match=key):
        build_model(tiny_cfg("Base-PanFPN.yaml", *opts))


def test_num_classes_must_agree_with_dataset_metadata():
    name = "test_panfpn_num_classes_meta"
    MetadataCatalog.get(name).set(thing_classes=["a", "b"], stuff_classes=["things", "x", "y"])
    opts = ["DATASETS.TRAIN", (name,), "MODEL.ROI_HEADS.NUM_CLASSES", 2]
    with pytest.raises(ValueError, match="MODEL.SEM_SEG_HEAD.NUM_CLASSES = 54 disagrees"):
        build_model(tiny_cfg("Base-PanFPN.yaml", *opts))
    with pytest.raises(ValueError, match="MODEL.ROI_HEADS.NUM_CLASSES = 80 disagrees"):
        build_model(tiny_cfg("Base-PanFPN.yaml", "DATASETS.TRAIN", (name,), "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 3))
    build_model(tiny_cfg("Base-PanFPN.yaml", *opts, "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 3))
