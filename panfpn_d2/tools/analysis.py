"""Compute of a Panoptic FPN model per component, and the backbone comparison of the paper's Fig. 4.

    python -m panfpn_d2.tools.analysis --config-file C [--height H --width W] \\
        [--fig4-height 1024 --fig4-width 2048 --fig4-depth 101 | --no-fig4] [--opts KEY VALUE ...]

1. The model of the config, in inference on one random image of H x W: multiply-adds
   (fvcore's FlopCountAnalysis; one "flop" = one multiply-add), parameters and activations
   (fvcore's ActivationCountAnalysis: outputs of convolutions and linear layers) of the
   ResNet bottom-up, the FPN, the RPN, the ROI heads, the semantic branch, plus the wall time
   of the panoptic merge; then the semantic branch's overhead over Mask R-CNN (everything else)
   in percent, the FLOPs and memory columns of the paper's Table 1a.
2. Fig. 4: ResNet-{depth} dense-prediction backbones on a 2-megapixel image, each with
   SEM_SEG_HEAD.NUM_CLASSES outputs: FPN + the semantic branch (output stride 4); dilated-8 and
   dilated-16 (res4/res5 dilated instead of strided, then a simple head: 3x3 conv of CONVS_DIM
   channels + 1x1 classifier); a symmetric encoder-decoder (one decoder stage per encoder stage,
   same blocks and widths, from stride 32 back to 4, each stage fed by the upsampled previous
   stage + the encoder's feature of its stride, then a 1x1 classifier). Widths come from the
   config's MODEL.RESNETS / FPN / SEM_SEG_HEAD. These networks are fully convolutional, every map
   is (H/s, W/s): counts are exact at (H/k, W/k) times k^2, so they are counted at
   ``--fig4-count-downscale`` k (default 4) to save time and memory.

MODEL.WEIGHTS is not loaded (the counts do not depend on the weights, and a config's ImageNet
weights would be downloaded for nothing): the model is randomly initialised (``--seed``) and set to
detect like a trained model (every anchor a proposal, ~100 confident detections; see
panfpn_d2.tools.random_weights), so that the ROI heads and the merge are counted doing their usual
work. The model is wrapped in a module of one plain image tensor (fvcore traces with torch.jit).
Activation memory = activations x 4 bytes (float32).
"""
import argparse
import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import build_model
from detectron2.modeling.backbone.fpn import build_resnet_fpn_backbone
from detectron2.modeling.backbone.resnet import BasicBlock, BasicStem, BottleneckBlock, ResNet
from detectron2.modeling.meta_arch.semantic_seg import build_sem_seg_head
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis, parameter_count
from tabulate import tabulate
from torch import nn
from torch.nn import functional as F

from ..modeling import meta_arch, panoptic_merge
from ..modeling.lazy_parts import RESNET_BLOCKS_PER_STAGE as RESNET_BLOCKS
from ..modeling.lazy_parts import RESNET_STAGES as STAGE_NAMES
from ..config import load_config
from .cli import add_config_arguments
from .random_weights import make_random_model_detect
from .timing import ComponentTimer

BYTES_PER_ACTIVATION = 4  # float32
# Component -> submodule of PanFPN (the FPN is the backbone minus its bottom-up ResNet).
COMPONENT_MODULES = {
    "backbone (bottom-up)": "backbone.bottom_up",
    "FPN": "backbone",
    "RPN": "proposal_generator",
    "ROI heads": "roi_heads",
    "semantic branch": "sem_seg_head",
}
SEMANTIC = "semantic branch"
MERGE = "panoptic merge"


@dataclass
class Counts:
    flops: float  # multiply-adds
    params: float
    activations: float

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts(self.flops - other.flops, self.params - other.params, self.activations - other.activations)

    def scaled(self, pixel_factor: float) -> "Counts":
        """The counts of an image with pixel_factor times the pixels (fully convolutional nets)."""
        return Counts(self.flops * pixel_factor, self.params, self.activations * pixel_factor)


class InferenceOnTensor(nn.Module):
    """A PanFPN in inference as a module of one (3, H, W) image tensor returning plain tensors
    (boxes, scores, classes, masks of the detections; semantic logits), which fvcore can trace."""

    def __init__(self, model: meta_arch.PanFPN):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        detections, semantic_logits = self.model.inference([{"image": image}], do_postprocess=False)
        outputs = []
        if detections is not None:
            found = detections[0]
            outputs += [found.pred_boxes.tensor, found.scores, found.pred_classes, found.pred_masks]
        if semantic_logits is not None:
            outputs.append(semantic_logits)
        return tuple(outputs)


def count(module: nn.Module, inputs: tuple) -> Dict[str, Counts]:
    """Counts by submodule name ("" = the whole module) of one traced forward."""
    flops = FlopCountAnalysis(module, inputs)
    activations = ActivationCountAnalysis(module, inputs)
    for analysis in (flops, activations):
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    by_module_flops, by_module_activations = flops.by_module(), activations.by_module()
    params = parameter_count(module)
    return {
        name: Counts(by_module_flops.get(name, 0), params.get(name, 0), by_module_activations.get(name, 0))
        for name in set(by_module_flops) | set(params)
    }


def component_counts(model: meta_arch.PanFPN, image: torch.Tensor) -> Dict[str, Counts]:
    """Counts of each component present in the model (see COMPONENT_MODULES)."""
    with torch.no_grad():
        by_module = count(InferenceOnTensor(model).eval(), (image,))
    components = {}
    for component, module_name in COMPONENT_MODULES.items():
        key = f"model.{module_name}"
        if key in by_module:
            components[component] = by_module[key]
    components["FPN"] = components["FPN"] - components["backbone (bottom-up)"]
    components["total"] = by_module[""]
    return components


def merge_seconds(model: meta_arch.PanFPN, image: torch.Tensor) -> Optional[tuple]:
    """(seconds, instances in, segments out) of the panoptic merge of the model's prediction, or None."""
    if not model.combine_enabled or model.roi_heads is None or model.sem_seg_head is None:
        return None
    timer = ComponentTimer({}, {MERGE: (panoptic_merge, "combine_semantic_and_instance_outputs")})
    with torch.no_grad(), timer:
        model.inference([{"image": image}])  # warm-up
        timer.reset()
        (output,) = model.inference([{"image": image}])
    return timer.seconds[MERGE], len(output["instances"]), len(output["panoptic_seg"][1])


def semantic_overhead(components: Dict[str, Counts]) -> Counts:
    """The semantic branch's counts in percent of Mask R-CNN's (the model without the branch)."""
    semantic = components[SEMANTIC]
    mask_rcnn = components["total"] - semantic

    def percent(part, whole):
        return 100.0 * part / whole if whole else math.nan

    return Counts(
        percent(semantic.flops, mask_rcnn.flops),
        percent(semantic.params, mask_rcnn.params),
        percent(semantic.activations, mask_rcnn.activations),
    )


# ---- Fig. 4: dense-prediction backbones -------------------------------------------------------


@dataclass
class StageSpec:
    num_blocks: int
    in_channels: int
    out_channels: int
    bottleneck_channels: int  # unused by basic blocks


def stage_specs(resnets_cfg, depth: int) -> List[StageSpec]:
    """res2..res5 of a ResNet of the given depth with the widths of MODEL.RESNETS."""
    if depth not in RESNET_BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_BLOCKS)}, got {depth}")
    in_channels, out_channels = resnets_cfg.STEM_OUT_CHANNELS, resnets_cfg.RES2_OUT_CHANNELS
    bottleneck_channels = resnets_cfg.NUM_GROUPS * resnets_cfg.WIDTH_PER_GROUP
    specs = []
    for num_blocks in RESNET_BLOCKS[depth]:
        specs.append(StageSpec(num_blocks, in_channels, out_channels, bottleneck_channels))
        in_channels, out_channels, bottleneck_channels = out_channels, out_channels * 2, bottleneck_channels * 2
    return specs


def make_stage(resnets_cfg, depth: int, spec: StageSpec, first_stride: int = 1, dilation: int = 1) -> List[nn.Module]:
    """The blocks of one stage (bottleneck blocks for depth >= 50, else basic blocks)."""
    options = dict(
        in_channels=spec.in_channels,
        out_channels=spec.out_channels,
        stride_per_block=[first_stride] + [1] * (spec.num_blocks - 1),
        norm=resnets_cfg.NORM,
    )
    if depth < 50:
        if dilation > 1:
            raise ValueError(f"dilated stages need bottleneck blocks (ResNet depth >= 50), got depth {depth}")
        return ResNet.make_stage(BasicBlock, spec.num_blocks, **options)
    options.update(
        bottleneck_channels=spec.bottleneck_channels,
        num_groups=resnets_cfg.NUM_GROUPS,
        stride_in_1x1=resnets_cfg.STRIDE_IN_1X1,
        dilation=dilation,
    )
    return ResNet.make_stage(BottleneckBlock, spec.num_blocks, **options)


def resnet(resnets_cfg, depth: int, dilations=(1, 1, 1, 1), out_features=("res5",)) -> ResNet:
    """A ResNet; a stage with dilation d > 1 keeps its input's resolution and dilates its 3x3 convs by d."""
    stem = BasicStem(3, resnets_cfg.STEM_OUT_CHANNELS, norm=resnets_cfg.NORM)
    stages = [
        make_stage(resnets_cfg, depth, spec, first_stride=1 if index == 0 or dilation > 1 else 2, dilation=dilation)
        for index, (spec, dilation) in enumerate(zip(stage_specs(resnets_cfg, depth), dilations))
    ]
    return ResNet(stem, stages, out_features=list(out_features))


def conv_norm_relu(in_channels: int, out_channels: int, kernel_size: int, norm: str) -> Conv2d:
    return Conv2d(
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not norm,
        norm=get_norm(norm, out_channels), activation=F.relu,
    )


class FPNSemanticNet(nn.Module):
    """ResNet-FPN + the semantic branch: logits at stride 4."""

    def __init__(self, cfg):
        super().__init__()
        self.backbone = build_resnet_fpn_backbone(cfg, ShapeSpec(channels=3))
        self.head = build_sem_seg_head(cfg, self.backbone.output_shape())

    def forward(self, image):
        return self.head.layers(self.backbone(image))


class DilatedNet(nn.Module):
    """ResNet with dilated (not strided) late stages + a simple head: logits at the ResNet's stride."""

    def __init__(self, encoder: ResNet, head_channels: int, num_classes: int, norm: str):
        super().__init__()
        self.encoder = encoder
        (feature,) = encoder.output_shape()
        self.feature = feature
        self.head = nn.Sequential(
            conv_norm_relu(encoder.output_shape()[feature].channels, head_channels, 3, norm),
            Conv2d(head_channels, num_classes, 1),
        )

    def forward(self, image):
        return self.head(self.encoder(image)[self.feature])


SYMMETRIC = "symmetric encoder-decoder"
# The paper describes the symmetric decoder only in outline and puts its compute at roughly 2x
# FPN's; this mirror of the encoder counts fewer, so its row is not the paper's number.
SYMMETRIC_NOTE = (
    "Note: the paper puts the symmetric encoder-decoder at about 2x the FLOPs of FPN; the decoder "
    "counted here (the encoder's stages mirrored, stride 32 back to 4) gives {ratio:.2f}x. The paper "
    "does not specify its decoder's layers: read this row as an approximation, not the paper's number."
)


class SymmetricEncoderDecoder(nn.Module):
    """A ResNet encoder and a decoder mirroring it (same stages, reversed), logits at stride 4."""

    def __init__(self, resnets_cfg, depth: int, num_classes: int):
        super().__init__()
        self.encoder = resnet(resnets_cfg, depth, out_features=STAGE_NAMES)
        shapes = self.encoder.output_shape()
        self.decoder_names = STAGE_NAMES[::-1]
        previous = shapes["res5"].channels
        for name, spec in zip(self.decoder_names, stage_specs(resnets_cfg, depth)[::-1]):
            # Below res5: the upsampled previous stage, 1x1 conv to this stage's width, plus the
            # encoder's feature; then the encoder stage's blocks again, stride 1, its width in and out.
            if name != "res5":
                self.add_module(f"{name}_in", Conv2d(previous, spec.out_channels, 1))
            mirrored = StageSpec(spec.num_blocks, spec.out_channels, spec.out_channels, spec.bottleneck_channels)
            self.add_module(f"{name}_blocks", nn.Sequential(*make_stage(resnets_cfg, depth, mirrored)))
            previous = spec.out_channels
        self.predictor = Conv2d(previous, num_classes, 1)

    def forward(self, image):
        features = self.encoder(image)
        x = features["res5"]
        for name in self.decoder_names:
            if name != "res5":
                x = F.interpolate(x, size=features[name].shape[-2:], mode="bilinear", align_corners=False)
                x = getattr(self, f"{name}_in")(x) + features[name]
            x = getattr(self, f"{name}_blocks")(x)
        return self.predictor(x)


def fig4_networks(cfg, depth: int) -> Dict[str, tuple]:
    """Architecture name -> (network, output stride)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.RESNETS.DEPTH = depth
    resnets, head = cfg.MODEL.RESNETS, cfg.MODEL.SEM_SEG_HEAD
    return {
        "FPN + semantic branch": (FPNSemanticNet(cfg), head.COMMON_STRIDE),
        "dilated-8 + simple head": (
            DilatedNet(resnet(resnets, depth, (1, 1, 2, 4)), head.CONVS_DIM, head.NUM_CLASSES, head.NORM), 8),
        "dilated-16 + simple head": (
            DilatedNet(resnet(resnets, depth, (1, 1, 1, 2)), head.CONVS_DIM, head.NUM_CLASSES, head.NORM), 16),
        SYMMETRIC: (SymmetricEncoderDecoder(resnets, depth, head.NUM_CLASSES), 4),
    }


def fig4_counts(cfg, depth: int, height: int, width: int, downscale: int) -> Dict[str, tuple]:
    """Architecture -> (counts on a height x width image, output stride)."""
    if height % (32 * downscale) or width % (32 * downscale):
        raise ValueError(
            f"Fig. 4 image {height}x{width}: both sides must be multiples of 32 x --fig4-count-downscale "
            f"({32 * downscale}) for the counts to scale exactly"
        )
    image = torch.rand(1, 3, height // downscale, width // downscale) * 255
    results = {}
    for name, (network, stride) in fig4_networks(cfg, depth).items():
        with torch.no_grad():
            counts = count(network.eval(), (image,))[""]
        results[name] = (counts.scaled(downscale**2), stride)
    return results


# ---- report -----------------------------------------------------------------------------------


def _giga(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _mega(value: float) -> str:
    return f"{value / 1e6:.2f}"


def components_report(components: Dict[str, Counts], merge: Optional[tuple], height: int, width: int) -> str:
    rows = [
        [name, _giga(c.flops), _mega(c.params), _mega(c.activations), f"{c.activations * BYTES_PER_ACTIVATION / 2**20:.1f}"]
        for name, c in components.items()
    ]
    lines = [
        f"Per component, inference on one {height}x{width} image:",
        tabulate(rows, headers=["component", "GMACs", "params (M)", "activations (M)", "act. memory (MiB)"],
                 tablefmt="pipe", disable_numparse=True),
    ]
    if merge is not None:
        seconds, num_instances, num_segments = merge
        lines.append(
            f"{MERGE}: {seconds * 1e3:.1f} ms wall time ({num_instances} instances in, {num_segments} segments out); "
            "no multiply-adds"
        )
    if SEMANTIC in components and "RPN" in components:
        overhead = semantic_overhead(components)
        lines.append(
            f"Semantic branch overhead over Mask R-CNN (Table 1a): FLOPs +{overhead.flops:.1f}%, "
            f"params +{overhead.params:.1f}%, activations (memory) +{overhead.activations:.1f}%"
        )
    return "\n".join(lines)


def fig4_report(results: Dict[str, tuple], depth: int, height: int, width: int, downscale: int) -> str:
    reference = next(iter(results.values()))[0]
    rows = []
    for name, (c, stride) in results.items():
        rows.append([
            name, stride, _giga(c.flops), f"{c.flops / reference.flops:.2f}x", _mega(c.activations),
            f"{c.activations * BYTES_PER_ACTIVATION / 2**30:.2f}", f"{c.activations / reference.activations:.2f}x",
            _mega(c.params),
        ])
    lines = [
        f"Fig. 4: ResNet-{depth} backbones for dense prediction on a {height}x{width} image "
        f"(counted at {height // downscale}x{width // downscale}, x{downscale**2}):",
        tabulate(rows, headers=["architecture", "out stride", "GMACs", "vs FPN", "activations (M)",
                                "act. memory (GiB)", "vs FPN", "params (M)"],
                 tablefmt="pipe", disable_numparse=True),
    ]
    if SYMMETRIC in results:
        ratio = results[SYMMETRIC][0].flops / reference.flops
        lines.append(SYMMETRIC_NOTE.format(ratio=ratio))
    return "\n".join(lines)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, help="image height (default: INPUT.MIN_SIZE_TEST)")
    parser.add_argument("--width", type=int, help="image width (default: INPUT.MAX_SIZE_TEST)")
    parser.add_argument("--fig4-height", type=int, default=1024)
    parser.add_argument("--fig4-width", type=int, default=2048)
    parser.add_argument("--fig4-depth", type=int, default=101, help="ResNet depth of the Fig. 4 comparison")
    parser.add_argument("--fig4-count-downscale", type=int, default=4, metavar="K",
                        help="count Fig. 4 at (H/K, W/K) and scale by K^2 (exact for these networks)")
    parser.add_argument("--no-fig4", action="store_true", help="skip the Fig. 4 comparison")
    parser.add_argument("--seed", type=int, default=0)
    add_config_arguments(parser)
    return parser


def main(argv=None) -> str:
    args = get_parser().parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    height = args.height or cfg.INPUT.MIN_SIZE_TEST
    width = args.width or cfg.INPUT.MAX_SIZE_TEST
    torch.manual_seed(args.seed)
    model = build_model(cfg).eval()  # random weights: MODEL.WEIGHTS is never loaded
    if model.roi_heads is not None:
        # Random weights propose and detect next to nothing; these detect like a trained model
        # (POST_NMS_TOPK_TEST proposals, DETECTIONS_PER_IMAGE instances), so the ROI heads and
        # the merge do their usual work.
        make_random_model_detect(model)
    image = (torch.rand(3, height, width) * 255).to(model.device)
    components = component_counts(model, image)
    sections = [components_report(components, merge_seconds(model, image), height, width)]
    if not args.no_fig4:
        results = fig4_counts(cfg, args.fig4_depth, args.fig4_height, args.fig4_width, args.fig4_count_downscale)
        sections.append(fig4_report(results, args.fig4_depth, args.fig4_height, args.fig4_width, args.fig4_count_downscale))
    report = "\n\n".join(sections)
    print(report)
    return report


if __name__ == "__main__":
    main()
