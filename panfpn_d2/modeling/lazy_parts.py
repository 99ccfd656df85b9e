"""The lazy-config form of a YAML's model (:func:`lazy_model`, used by ``panfpn_d2.engine.lazy.lazy_config_from_yaml``)
and the parts it builds with ``LazyCall`` that detectron2 builds with functions of the config; the ResNet
stage table (:data:`RESNET_BLOCKS_PER_STAGE`)."""
import dataclasses
from typing import Dict, List, Sequence

import torch
from detectron2.config import LazyCall as L
from detectron2.data import MetadataCatalog
from detectron2.layers import ShapeSpec
from detectron2.modeling import (
    ANCHOR_GENERATOR_REGISTRY,
    ROI_BOX_HEAD_REGISTRY,
    ROI_HEADS_REGISTRY,
    ROI_MASK_HEAD_REGISTRY,
    SEM_SEG_HEADS_REGISTRY,
)
from detectron2.modeling.backbone import FPN, BasicStem
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, ResNet
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.proposal_generator.rpn import RPN, RPN_HEAD_REGISTRY

from panfpn_lite.semantic_layout import SemanticLabelLayout

from ..config import has_instance_branch, has_semantic_branch
from .meta_arch import PanFPN

# Blocks in res2..res5 of each ResNet depth (He et al., Table 1).
RESNET_BLOCKS_PER_STAGE = {
    18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3],
}
RESNET_STAGES = ["res2", "res3", "res4", "res5"]  # their names, strides 4 to 32


def resnet_stages(
    depth: int,
    *,
    norm: str = "FrozenBN",
    stem_out_channels: int = 64,
    res2_out_channels: int = 256,
    stride_in_1x1: bool = True,
    num_groups: int = 1,
    width_per_group: int = 64,
) -> List[List]:
    """res2..res5 of a ResNet-``depth``, laid out as detectron2's ``build_resnet_backbone`` lays them out
    from ``MODEL.RESNETS``' keys of the same names (its ``ResNet.make_default_stages`` fixes the stem
    width at 64; the toy model's is 32)."""
    if depth not in RESNET_BLOCKS_PER_STAGE:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_BLOCKS_PER_STAGE)}, got {depth}")
    basic = depth < 50
    if basic and (res2_out_channels != 64 or num_groups != 1):
        raise ValueError(f"ResNet-{depth} needs res2_out_channels 64 and num_groups 1")
    in_channels, out_channels, bottleneck_channels = stem_out_channels, res2_out_channels, num_groups * width_per_group
    stages = []
    for index, num_blocks in enumerate(RESNET_BLOCKS_PER_STAGE[depth]):
        block = {"block_class": BasicBlock} if basic else {
            "block_class": BottleneckBlock,
            "bottleneck_channels": bottleneck_channels,
            "stride_in_1x1": stride_in_1x1,
            "num_groups": num_groups,
        }
        stages.append(ResNet.make_stage(
            num_blocks=num_blocks,
            stride_per_block=[1 if index == 0 else 2] + [1] * (num_blocks - 1),
            in_channels=in_channels,
            out_channels=out_channels,
            norm=norm,
            **block,
        ))
        in_channels, out_channels, bottleneck_channels = out_channels, out_channels * 2, bottleneck_channels * 2
    return stages


def fpn_shapes(channels: int, names: Sequence[str] = ("p2", "p3", "p4", "p5")) -> Dict[str, ShapeSpec]:
    """The shapes of the FPN levels ``names`` (level pK has stride 2**K) that the semantic branch reads."""
    return {name: ShapeSpec(channels=channels, stride=2 ** int(name[1:])) for name in names}


def dataset_semantic_layout(dataset_name: str, thing_mode: str) -> SemanticLabelLayout:
    """The semantic label layout of ``thing_mode`` (MODEL.PANFPN.SEM_SEG_THING_MODE) on a registered dataset."""
    return SemanticLabelLayout.from_metadata(MetadataCatalog.get(dataset_name), thing_mode)


def dataset_semantic_label_to_category(dataset_name: str, thing_mode: str) -> List[int]:
    """PanFPN's ``semantic_label_to_category``: the stuff contiguous id of each semantic label, or -1."""
    return dataset_semantic_layout(dataset_name, thing_mode).stuff_contiguous_ids


# ---- a YAML's model as a LazyCall tree -----------------------------------------------------------


def built_from_config(cls, cfg, *args) -> dict:
    """``cls.from_config(cfg, *args)``: the YAML path's own reading of the config; the parts it builds
    on the way (backbone, heads, anchors) go to the meta device, which allocates nothing."""
    with torch.device("meta"):
        return cls.from_config(cfg, *args)


def lazy_value(value, where: str):
    """``value`` (an argument a ``from_config`` gave) in a form a LazyConfig holds, or a TypeError
    naming the argument."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, ShapeSpec) and hasattr(value, "_asdict"):  # a namedtuple in detectron2 v0.6
        return L(ShapeSpec)(**{k: v for k, v in value._asdict().items() if v is not None})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # ShapeSpec after v0.6, settings
        return L(type(value))(**{
            f.name: lazy_value(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value) if f.init
        })
    if isinstance(value, (list, tuple)):
        return [lazy_value(v, where) for v in value]
    if isinstance(value, dict):
        return {k: lazy_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, Box2BoxTransform):
        return L(Box2BoxTransform)(weights=list(value.weights), scale_clamp=value.scale_clamp)
    raise TypeError(f"{where}: a {type(value).__name__} has no lazy-config form")


def lazy_call(cls, kwargs: dict, where: str, **parts):
    """``L(cls)`` of ``kwargs`` (what ``from_config`` gave), with ``parts`` replacing the built objects
    (modules, matchers) by LazyCalls and linking values to other keys by interpolation."""
    values = {**kwargs, **parts}
    return L(cls)(**{k: parts[k] if k in parts else lazy_value(v, f"{where}.{k}") for k, v in values.items()})


def unsupported_keys(cfg) -> Dict[str, object]:
    """The keys set to what :func:`lazy_model` cannot express, with their values."""
    model = cfg.MODEL
    checks = {
        "MODEL.META_ARCHITECTURE": (model.META_ARCHITECTURE, "PanFPN"),
        "MODEL.BACKBONE.NAME": (model.BACKBONE.NAME, "build_resnet_fpn_backbone"),
        "MODEL.PROPOSAL_GENERATOR.NAME": (model.PROPOSAL_GENERATOR.NAME, "RPN"),
        "MODEL.RESNETS.OUT_FEATURES": (list(model.RESNETS.OUT_FEATURES), RESNET_STAGES),
        "MODEL.RESNETS.RES5_DILATION": (model.RESNETS.RES5_DILATION, 1),
        "MODEL.RESNETS.DEFORM_ON_PER_STAGE": (list(model.RESNETS.DEFORM_ON_PER_STAGE), [False] * 4),
        "MODEL.PANFPN.GROUPED_FPN": (model.PANFPN.GROUPED_FPN, False),
        "MODEL.KEYPOINT_ON": (model.KEYPOINT_ON, False),
        "MODEL.ROI_MASK_HEAD.POOLER_TYPE": (bool(model.ROI_MASK_HEAD.POOLER_TYPE), True),
    }
    return {key: value for key, (value, supported) in checks.items() if value != supported}


def lazy_model(cfg):
    """The LazyCall tree of the PanFPN ``build_model(cfg)`` builds. Each part's arguments are what its
    ``from_config`` reads from ``cfg``; the ResNet FPN, which detectron2 builds with a function, is
    read as that function reads it. The FPN width, the class counts and the dataset are linked by
    interpolation, so that one override changes every part that reads them."""
    unsupported = unsupported_keys(cfg)
    if unsupported:
        raise ValueError(f"a lazy config cannot express these settings of the YAML: {unsupported}")
    resnets, fpn = cfg.MODEL.RESNETS, cfg.MODEL.FPN
    built = built_from_config(PanFPN, cfg)
    shapes = built["backbone"].output_shape()
    parts = {
        "backbone": L(FPN)(
            bottom_up=L(ResNet)(
                stem=L(BasicStem)(in_channels=len(cfg.MODEL.PIXEL_MEAN), out_channels=resnets.STEM_OUT_CHANNELS,
                                  norm=resnets.NORM),
                stages=L(resnet_stages)(
                    depth=resnets.DEPTH, norm=resnets.NORM, stem_out_channels=resnets.STEM_OUT_CHANNELS,
                    res2_out_channels=resnets.RES2_OUT_CHANNELS, stride_in_1x1=resnets.STRIDE_IN_1X1,
                    num_groups=resnets.NUM_GROUPS, width_per_group=resnets.WIDTH_PER_GROUP,
                ),
                out_features=list(resnets.OUT_FEATURES),
                freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
            ),
            in_features=list(fpn.IN_FEATURES),
            out_channels=fpn.OUT_CHANNELS,
            norm=fpn.NORM,
            top_block=L(LastLevelMaxPool)(),
            fuse_type=fpn.FUSE_TYPE,
        ),
        "proposal_generator": lazy_rpn(cfg, shapes) if has_instance_branch(cfg) else None,
        "roi_heads": lazy_roi_heads(cfg, shapes) if has_instance_branch(cfg) else None,
        "sem_seg_head": None,
    }
    if has_semantic_branch(cfg):
        head = SEM_SEG_HEADS_REGISTRY.get(cfg.MODEL.SEM_SEG_HEAD.NAME)
        parts["sem_seg_head"] = lazy_call(
            head, built_from_config(head, cfg, shapes), "model.sem_seg_head",
            input_shape=L(fpn_shapes)(channels="${...backbone.out_channels}",
                                      names=list(cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES)),
        )
        parts["semantic_label_to_category"] = L(dataset_semantic_label_to_category)(
            # the data mappers and the evaluators read the thing mode from here
            thing_mode=cfg.MODEL.PANFPN.SEM_SEG_THING_MODE,
            dataset_name="${...dataloader.train.dataset.names}",
        )
    return lazy_call(PanFPN, built, "model", **parts)


def lazy_rpn(cfg, shapes: Dict[str, ShapeSpec]):
    rpn = cfg.MODEL.RPN
    levels = [shapes[name] for name in rpn.IN_FEATURES]
    head = RPN_HEAD_REGISTRY.get(rpn.HEAD_NAME)
    anchors = ANCHOR_GENERATOR_REGISTRY.get(cfg.MODEL.ANCHOR_GENERATOR.NAME)
    where = "model.proposal_generator"
    return lazy_call(
        RPN, built_from_config(RPN, cfg, shapes), where,
        head=lazy_call(head, built_from_config(head, cfg, levels), f"{where}.head",
                       in_channels="${...backbone.out_channels}"),
        anchor_generator=lazy_call(anchors, built_from_config(anchors, cfg, levels), f"{where}.anchor_generator"),
        anchor_matcher=L(Matcher)(thresholds=list(rpn.IOU_THRESHOLDS), labels=list(rpn.IOU_LABELS),
                                  allow_low_quality_matches=True),
    )


def lazy_roi_heads(cfg, shapes: Dict[str, ShapeSpec]):
    """The ROI heads with their poolers and heads, as ``StandardROIHeads.from_config`` builds them."""
    roi_heads = ROI_HEADS_REGISTRY.get(cfg.MODEL.ROI_HEADS.NAME)
    built = built_from_config(roi_heads, cfg, shapes)
    channels = shapes[cfg.MODEL.ROI_HEADS.IN_FEATURES[0]].channels
    parts = {"proposal_matcher": L(Matcher)(
        thresholds=list(cfg.MODEL.ROI_HEADS.IOU_THRESHOLDS), labels=list(cfg.MODEL.ROI_HEADS.IOU_LABELS),
        allow_low_quality_matches=False,
    )}
    heads = {
        "box": (cfg.MODEL.ROI_BOX_HEAD, ROI_BOX_HEAD_REGISTRY),
        "mask": (cfg.MODEL.ROI_MASK_HEAD, ROI_MASK_HEAD_REGISTRY),
    }
    for name, (head_cfg, registry) in heads.items():
        if f"{name}_head" not in built:  # MODEL.MASK_ON False
            continue
        resolution, head = head_cfg.POOLER_RESOLUTION, registry.get(head_cfg.NAME)
        parts[f"{name}_pooler"] = L(ROIPooler)(
            output_size=resolution, scales=[1.0 / shapes[k].stride for k in built[f"{name}_in_features"]],
            sampling_ratio=head_cfg.POOLER_SAMPLING_RATIO, pooler_type=head_cfg.POOLER_TYPE,
        )
        links = {
            "input_shape": L(ShapeSpec)(channels="${....backbone.out_channels}", height=resolution, width=resolution)
        }
        if name == "mask":
            links["num_classes"] = "${..num_classes}"
        pooled = ShapeSpec(channels=channels, height=resolution, width=resolution)
        parts[f"{name}_head"] = lazy_call(
            head, built_from_config(head, cfg, pooled), f"model.roi_heads.{name}_head", **links
        )
    predictor = type(built["box_predictor"])
    predictor_kwargs = built_from_config(predictor, cfg, built["box_head"].output_shape)
    links = {"num_classes": "${..num_classes}"}
    if "get_fed_loss_cls_weights" in predictor_kwargs and not predictor_kwargs["use_fed_loss"]:
        links["get_fed_loss_cls_weights"] = None  # detectron2 after v0.6: a function called only with the fed loss
    parts["box_predictor"] = lazy_call(predictor, predictor_kwargs, "model.roi_heads.box_predictor", **links)
    return lazy_call(roi_heads, built, "model.roi_heads", **parts)
