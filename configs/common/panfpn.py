# The lazy-config twin of Base-PanFPN.yaml: Panoptic FPN on COCO, a ResNet-50 FPN feeding Mask R-CNN
# and the semantic branch (detectron2's model-zoo recipe: lambda_i = 1, lambda_s = 0.5, batch 16,
# LR 0.02, 90k iterations). The configs beside the YAMLs import these five objects and change them.
from detectron2.config import LazyCall as L
from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.data import transforms as T
from detectron2.layers import ShapeSpec
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.proposal_generator import RPN, StandardRPNHead
from detectron2.modeling.roi_heads import (
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    StandardROIHeads,
)
from detectron2.solver import WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from fvcore.common.param_scheduler import MultiStepParamScheduler
from torch.optim import SGD

from panfpn_d2.data import PanFPNDatasetMapper
from panfpn_d2.evaluation import build_panoptic_fpn_evaluators
from panfpn_d2.modeling import PanFPN, PanFPNSemSegHead
from panfpn_d2.modeling.lazy_parts import (
    dataset_semantic_label_to_category,
    dataset_semantic_layout,
    fpn_shapes,
    resnet_stages,
)

FPN_LEVELS = ["p2", "p3", "p4", "p5"]  # the ROI heads' and the semantic branch's inputs, strides 4..32


model = L(PanFPN)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
            stages=L(resnet_stages)(depth=50, norm="FrozenBN", stem_out_channels=64, res2_out_channels=256),
            out_features=["res2", "res3", "res4", "res5"],
            freeze_at=2,  # ImageNet weights: the stem and res2 stay frozen
        ),
        in_features=["res2", "res3", "res4", "res5"],
        out_channels=256,
        norm="",
        top_block=L(LastLevelMaxPool)(),
    ),
    proposal_generator=L(RPN)(
        in_features=["p2", "p3", "p4", "p5", "p6"],
        head=L(StandardRPNHead)(in_channels="${...backbone.out_channels}", num_anchors=3),
        anchor_generator=L(DefaultAnchorGenerator)(
            sizes=[[32], [64], [128], [256], [512]],
            aspect_ratios=[0.5, 1.0, 2.0],
            strides=[4, 8, 16, 32, 64],
            offset=0.0,
        ),
        anchor_matcher=L(Matcher)(thresholds=[0.3, 0.7], labels=[0, -1, 1], allow_low_quality_matches=True),
        box2box_transform=L(Box2BoxTransform)(weights=[1.0, 1.0, 1.0, 1.0]),
        batch_size_per_image=256,
        positive_fraction=0.5,
        pre_nms_topk=(2000, 1000),  # (training, test)
        post_nms_topk=(1000, 1000),
        nms_thresh=0.7,
    ),
    roi_heads=L(StandardROIHeads)(
        num_classes=80,
        batch_size_per_image=512,
        positive_fraction=0.25,
        proposal_matcher=L(Matcher)(thresholds=[0.5], labels=[0, 1], allow_low_quality_matches=False),
        box_in_features=FPN_LEVELS,
        box_pooler=L(ROIPooler)(
            output_size=7, scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32), sampling_ratio=0, pooler_type="ROIAlignV2"
        ),
        box_head=L(FastRCNNConvFCHead)(
            input_shape=L(ShapeSpec)(channels="${....backbone.out_channels}", height=7, width=7),
            conv_dims=[],
            fc_dims=[1024, 1024],
        ),
        box_predictor=L(FastRCNNOutputLayers)(
            input_shape=L(ShapeSpec)(channels=1024),
            box2box_transform=L(Box2BoxTransform)(weights=(10, 10, 5, 5)),
            num_classes="${..num_classes}",
            test_score_thresh=0.05,
            test_nms_thresh=0.5,
            test_topk_per_image=100,
        ),
        mask_in_features=FPN_LEVELS,
        mask_pooler=L(ROIPooler)(
            output_size=14, scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32), sampling_ratio=0, pooler_type="ROIAlignV2"
        ),
        mask_head=L(MaskRCNNConvUpsampleHead)(
            input_shape=L(ShapeSpec)(channels="${....backbone.out_channels}", height=14, width=14),
            num_classes="${..num_classes}",
            conv_dims=[256, 256, 256, 256, 256],  # 4 convs, then the deconv
        ),
    ),
    sem_seg_head=L(PanFPNSemSegHead)(
        input_shape=L(fpn_shapes)(channels="${...backbone.out_channels}"),
        num_classes=54,  # 53 stuff classes + 'other'
        conv_dims=128,
        common_stride=4,
        loss_weight=0.5,  # lambda_s
        norm="GN",
        ignore_value=255,
    ),
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[1.0, 1.0, 1.0],
    input_format="BGR",
    instance_loss_weight=1.0,  # lambda_i
    semantic_label_to_category=L(dataset_semantic_label_to_category)(
        # how thing pixels are labelled: "other" (one shared class, label 0) or "all" (one class per category);
        # the data mappers and the evaluators read it from here
        thing_mode="other",
        dataset_name="${...dataloader.train.dataset.names}",
    ),
)

dataloader = dict(
    train=L(build_detection_train_loader)(
        dataset=L(get_detection_dataset_dicts)(names="panfpn_coco_2017_train", filter_empty=False),
        mapper=L(PanFPNDatasetMapper)(
            is_train=True,
            augmentations=[
                L(T.ResizeShortestEdge)(
                    short_edge_length=(640, 672, 704, 736, 768, 800), max_size=1333, sample_style="choice"
                ),
                L(T.RandomFlip)(horizontal=True),
            ],
            image_format="${....model.input_format}",
            semantic_layout=L(dataset_semantic_layout)(
                dataset_name="${...dataset.names}", thing_mode="${.....model.semantic_label_to_category.thing_mode}"
            ),
        ),
        total_batch_size=16,
        num_workers=4,
    ),
    test=L(build_detection_test_loader)(
        dataset=L(get_detection_dataset_dicts)(names="panfpn_coco_2017_val", filter_empty=False),
        mapper=L(PanFPNDatasetMapper)(
            is_train=False,
            augmentations=[L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333, sample_style="choice")],
            image_format="${....model.input_format}",
        ),
        num_workers=4,
    ),
    evaluator=L(build_panoptic_fpn_evaluators)(
        dataset_name="${..test.dataset.names}",
        has_semantic=True,
        has_instances=True,
        thing_mode="${...model.semantic_label_to_category.thing_mode}",
    ),
)

optimizer = L(SGD)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),  # its model is set by the training loop
    lr=0.02,
    momentum=0.9,
    weight_decay=1e-4,
)


def step_schedule(max_iter, steps, warmup_iters=1000):
    """detectron2's WarmupMultiStepLR as an LR multiplier: linear warmup from 0.001, then x0.1 at each step."""
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[0.1**k for k in range(len(steps) + 1)], milestones=list(steps), num_updates=max_iter
        ),
        warmup_length=min(warmup_iters / max_iter, 1.0),
        warmup_method="linear",
        warmup_factor=0.001,
    )


lr_multiplier = step_schedule(90000, (60000, 80000))

train = dict(
    output_dir="./output",
    init_checkpoint="detectron2://ImageNetPretrained/MSRA/R-50.pkl",
    max_iter=90000,
    amp=dict(enabled=False),
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
    checkpointer=dict(period=5000, max_to_keep=100),
    eval_period=0,  # 0: evaluate once, after training
    log_period=20,
    device="cuda",
    seed=-1,  # -1: a random seed
)
