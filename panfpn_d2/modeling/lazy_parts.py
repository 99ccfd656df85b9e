"""Parts of Panoptic FPN that lazy configs (configs/common/panfpn.py) build with ``LazyCall``."""
from typing import Dict, List

from detectron2.data import MetadataCatalog
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, ResNet

from panfpn_lite.semantic_layout import SemanticLabelLayout

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


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
    if depth not in BLOCKS_PER_STAGE:
        raise ValueError(f"ResNet depth must be one of {sorted(BLOCKS_PER_STAGE)}, got {depth}")
    basic = depth < 50
    if basic and (res2_out_channels != 64 or num_groups != 1):
        raise ValueError(f"ResNet-{depth} needs res2_out_channels 64 and num_groups 1")
    in_channels, out_channels, bottleneck_channels = stem_out_channels, res2_out_channels, num_groups * width_per_group
    stages = []
    for index, num_blocks in enumerate(BLOCKS_PER_STAGE[depth]):
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


def fpn_shapes(channels: int) -> Dict[str, ShapeSpec]:
    """The shapes of the FPN levels p2..p5 (strides 4..32) that the semantic branch reads."""
    return {f"p{level}": ShapeSpec(channels=channels, stride=2**level) for level in range(2, 6)}


def dataset_semantic_layout(dataset_name: str, thing_mode: str) -> SemanticLabelLayout:
    """The semantic label layout of ``thing_mode`` (MODEL.PANFPN.SEM_SEG_THING_MODE) on a registered dataset."""
    return SemanticLabelLayout.from_metadata(MetadataCatalog.get(dataset_name), thing_mode)


def dataset_semantic_label_to_category(dataset_name: str, thing_mode: str) -> List[int]:
    """PanFPN's ``semantic_label_to_category``: the stuff contiguous id of each semantic label, or -1."""
    return dataset_semantic_layout(dataset_name, thing_mode).stuff_contiguous_ids
