"""The Panoptic FPN meta-architecture: Mask R-CNN + FPN with a semantic branch."""
import logging
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import nn

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN, build_backbone
from detectron2.modeling.meta_arch.semantic_seg import build_sem_seg_head
from detectron2.modeling.postprocessing import detector_postprocess, sem_seg_postprocess
from detectron2.modeling.proposal_generator import build_proposal_generator
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import Boxes, ImageList, Instances, ROIMasks
from detectron2.utils.events import get_event_storage

from panfpn_lite.merge_settings import MergeSettings
from panfpn_lite.runtime.precision import choose_eager_precision, cpu_flags

from ..compat import BOX_ONLY_METHOD, box_detections
from ..config import (
    LOSS_SCHEDULES,
    OUTPUTS,
    ROI_ALIGN_CPU_BACKWARDS,
    has_instance_branch,
    has_semantic_branch,
    merge_settings,
    resolve_outputs,
    semantic_label_to_category,
    validate_config,
)
from .panoptic_merge import confident_instances, merge_outputs
from .roi_align import use_separable_roi_align_backward

logger = logging.getLogger(__name__)
# MODEL.PANFPN.INFERENCE_PRECISION (resolved) -> the autocast type of the network; None: no autocast.
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class RawInference(NamedTuple):
    """:meth:`PanFPN.inference_raw`'s outputs for a batch; a branch the model lacks gives None."""

    images: ImageList  # the normalized, padded batch
    instance_features: Dict[str, torch.Tensor]  # what the ROI heads read
    instances: Optional[List[Instances]]  # detections at the input size (without masks unless asked for)
    sem_seg_logits: Optional[torch.Tensor]  # (N, C, H, W) at the padded input size


def requested_output_sizes(batched_inputs: List[Dict[str, torch.Tensor]], image_sizes) -> List[tuple]:
    """Per image, the (height, width) its outputs are made at: the input's "height" / "width" when
    given (detectron2's convention), else its size as the model saw it."""
    return [(x.get("height", size[0]), x.get("width", size[1])) for x, size in zip(batched_inputs, image_sizes)]


@META_ARCH_REGISTRY.register()
class PanFPN(GeneralizedRCNN):
    """
    Panoptic FPN (Kirillov et al., CVPR 2019): one FPN feeds Mask R-CNN's RPN and ROI
    heads (the instance branch) and a light semantic branch; the training loss is
    ``L = lambda_i * (L_cls + L_box + L_mask) + lambda_s * L_sem`` (plus the RPN
    losses, unweighted), and inference merges both outputs into a panoptic map.

    Either branch may be absent: no semantic head is Mask R-CNN alone
    (lambda_s = 0), no proposal generator / ROI heads is Semantic FPN alone
    (lambda_i = 0). With default settings the parameters and their names are
    those of detectron2's ``PanopticFPN``.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: nn.Module,
        proposal_generator: Optional[nn.Module],
        roi_heads: Optional[nn.Module],
        sem_seg_head: Optional[nn.Module],
        pixel_mean: Tuple[float, ...],
        pixel_std: Tuple[float, ...],
        input_format: Optional[str] = None,
        vis_period: int = 0,
        instance_loss_weight: float = 1.0,
        loss_schedule: str = "combine",
        grouped_fpn: bool = False,
        combine_enabled: bool = True,
        merge_settings: MergeSettings = MergeSettings(),
        semantic_label_to_category: Optional[List[int]] = None,
        roi_align_cpu_backward: str = "torchvision",
        outputs: Tuple[str, ...] = OUTPUTS,
        inference_precision: str = "fp32",
    ):
        """
        Args:
            backbone, proposal_generator, roi_heads, pixel_mean, pixel_std,
                input_format, vis_period: as in :class:`GeneralizedRCNN`;
                proposal_generator and roi_heads are both None for Semantic FPN alone.
            sem_seg_head: the semantic branch, or None for Mask R-CNN alone.
            instance_loss_weight: lambda_i, applied to the ROI heads' losses.
            loss_schedule: "combine" (both losses every iteration) or "alternate"
                (instance losses on even iterations, semantic on odd ones).
            grouped_fpn: the instance branch uses the first half of the FPN
                channels, the semantic branch the second half.
            combine_enabled: no ``panoptic_seg`` output when False.
            merge_settings: the panoptic merge's thresholds (see :func:`.panoptic_merge.merge_outputs`).
            semantic_label_to_category: for each semantic label, the stuff category
                id its panoptic segment gets, or -1 to discard its pixels.
            roi_align_cpu_backward: "separable" computes the ROI poolers' CPU backward on small
                feature maps as matrix products (see :mod:`.roi_align`); "torchvision" as is.
            outputs: what inference returns, a subset of ``OUTPUTS`` (see
                :func:`resolve_outputs`). Without "instances", the mask head runs only on
                the detections the panoptic merge can paste (see :meth:`pasteable_instances`).
            inference_precision: "fp32", or "bf16"/"fp16": the network of :meth:`inference_raw`
                under ``torch.autocast`` in that type, its outputs cast back to fp32 (checked
                against the device by :func:`panfpn_lite.runtime.precision.choose_eager_precision`).
        """
        super().__init__(
            backbone=backbone,
            proposal_generator=proposal_generator,
            roi_heads=roi_heads,
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            input_format=input_format,
            vis_period=vis_period,
        )
        if (proposal_generator is None) != (roi_heads is None):
            raise ValueError("PanFPN needs both proposal_generator and roi_heads, or neither")
        if sem_seg_head is None and roi_heads is None:
            raise ValueError("PanFPN needs at least one branch: lambda_i and lambda_s are both 0")
        if loss_schedule not in LOSS_SCHEDULES:
            raise ValueError(f"MODEL.PANFPN.LOSS_SCHEDULE must be one of {LOSS_SCHEDULES}, got {loss_schedule!r}")
        if roi_align_cpu_backward not in ROI_ALIGN_CPU_BACKWARDS:
            raise ValueError(
                f"MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD must be one of {ROI_ALIGN_CPU_BACKWARDS}, "
                f"got {roi_align_cpu_backward!r}"
            )
        if roi_align_cpu_backward == "separable" and roi_heads is not None:
            use_separable_roi_align_backward(roi_heads)
        self.sem_seg_head = sem_seg_head
        self.inference_dtype = AUTOCAST_DTYPES[inference_precision]
        self.outputs = resolve_outputs(outputs, roi_heads is not None, sem_seg_head is not None, combine_enabled)
        if self.masks_only_for_pasteable and roi_heads is not None:
            for method in (BOX_ONLY_METHOD, "forward_with_given_boxes"):
                if not callable(getattr(roi_heads, method, None)):
                    raise ValueError(
                        f"MODEL.PANFPN.OUTPUTS {self.outputs} runs the box and the mask head apart, which "
                        f"needs {type(roi_heads).__name__}.{method} (as in detectron2's StandardROIHeads)"
                    )
        self.instance_loss_weight = instance_loss_weight
        self.loss_schedule = loss_schedule
        self.grouped_fpn = grouped_fpn
        self.combine_enabled = combine_enabled
        self.merge_settings = merge_settings
        if semantic_label_to_category is not None:
            # not persistent: derived from the dataset, so checkpoints stay detectron2's
            self.register_buffer(
                "semantic_label_to_category", torch.as_tensor(semantic_label_to_category, dtype=torch.long), False
            )
        else:
            self.semantic_label_to_category = None

    @classmethod
    def from_config(cls, cfg):
        validate_config(cfg)
        backbone = build_backbone(cfg)
        instance_shape, semantic_shape = branch_input_shapes(backbone.output_shape(), cfg.MODEL.PANFPN.GROUPED_FPN)
        has_instances = has_instance_branch(cfg)
        has_semantic = has_semantic_branch(cfg)
        return {
            "backbone": backbone,
            "proposal_generator": build_proposal_generator(cfg, instance_shape) if has_instances else None,
            "roi_heads": build_roi_heads(cfg, instance_shape) if has_instances else None,
            "sem_seg_head": build_sem_seg_head(cfg, semantic_shape) if has_semantic else None,
            "input_format": cfg.INPUT.FORMAT,
            "vis_period": cfg.VIS_PERIOD,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "instance_loss_weight": cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT,
            "loss_schedule": cfg.MODEL.PANFPN.LOSS_SCHEDULE,
            "grouped_fpn": cfg.MODEL.PANFPN.GROUPED_FPN,
            "combine_enabled": cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED,
            "merge_settings": merge_settings(cfg),
            "semantic_label_to_category": semantic_label_to_category(cfg),
            "roi_align_cpu_backward": cfg.MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD,
            "outputs": tuple(cfg.MODEL.PANFPN.OUTPUTS),
            "inference_precision": inference_precision(cfg),
        }

    def preprocess_image(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """Check every image is a non-empty (C, H, W) tensor of INPUT.FORMAT's channels, then normalize, pad, batch."""
        for index, x in enumerate(batched_inputs):
            check_image(x["image"], len(self.pixel_mean), self.input_format, index)
        return super().preprocess_image(batched_inputs)

    def split_features(self, features: Dict[str, torch.Tensor]):
        """(instance branch features, semantic branch features)."""
        if not self.grouped_fpn:
            return features, features
        half = {k: v.shape[1] // 2 for k, v in features.items()}
        return {k: v[:, : half[k]] for k, v in features.items()}, {k: v[:, half[k] :] for k, v in features.items()}

    def active_branches(self) -> Tuple[bool, bool]:
        """(instance, semantic): which branches' losses this training iteration computes."""
        has_instances, has_semantic = self.roi_heads is not None, self.sem_seg_head is not None
        if self.loss_schedule == "combine" or not (has_instances and has_semantic):
            return has_instances, has_semantic
        # The trainer's iteration (restored on resume) decides the turn.
        semantic_turn = get_event_storage().iter % 2 == 1
        return not semantic_turn, semantic_turn

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """
        Args:
            batched_inputs: one dict per image, as produced by PanFPNDatasetMapper:
                "image" (C, H, W); in training "instances" and "sem_seg" (H, W) long;
                optional "height", "width" (output resolution at inference).

        Returns:
            in training, a dict of losses; in inference, one dict per image with
            "sem_seg" and/or "instances" (the branches present) and "panoptic_seg" (things
            only for Mask R-CNN alone, stuff only for Semantic FPN alone; see merge_outputs).
        """
        if not self.training:
            return self.inference(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        instance_features, semantic_features = self.split_features(features)
        train_instances, train_semantic = self.active_branches()

        losses = {}
        if train_semantic:
            gt_sem_seg = [x["sem_seg"].to(self.device) for x in batched_inputs]
            gt_sem_seg = ImageList.from_tensors(
                gt_sem_seg, self.backbone.size_divisibility, self.sem_seg_head.ignore_value
            ).tensor
            losses.update(self.sem_seg_head(semantic_features, gt_sem_seg)[1])
        if train_instances:
            gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
            proposals, proposal_losses = self.proposal_generator(images, instance_features, gt_instances)
            _, detector_losses = self.roi_heads(images, instance_features, proposals, gt_instances)
            losses.update(proposal_losses)
            losses.update({k: v * self.instance_loss_weight for k, v in detector_losses.items()})
            if self.vis_period > 0 and get_event_storage().iter % self.vis_period == 0:
                self.visualize_training(batched_inputs, proposals)
        idle = [m for m, active in ((self.roi_heads, train_instances), (self.proposal_generator, train_instances),
                                    (self.sem_seg_head, train_semantic)) if m is not None and not active]
        if idle:
            # A zero-valued term keeps the idle branch in the graph, so that
            # DistributedDataParallel finds no unused parameters in "alternate".
            key = next(iter(losses))
            losses[key] = losses[key] + sum(p.sum() for m in idle for p in m.parameters()) * 0.0
        return losses

    def inference(self, batched_inputs: List[Dict[str, torch.Tensor]], do_postprocess: bool = True):
        """
        Returns:
            with do_postprocess, one dict per image with the keys of ``self.outputs`` (see
            :meth:`forward`); otherwise (detector results or None, semantic logits or None) at
            the padded input size, with every branch run in full.
        """
        if not do_postprocess:
            raw = self.inference_raw(batched_inputs)
            return raw.instances, raw.sem_seg_logits

        raw = self.inference_raw(batched_inputs, self.outputs)
        output_sizes = requested_output_sizes(batched_inputs, raw.images.image_sizes)
        instances = instance_ids = None
        if raw.instances is not None and "instances" in self.outputs:
            instances = [detector_postprocess(r, *size) for r, size in zip(raw.instances, output_sizes)]
        elif raw.instances is not None:
            instances, instance_ids = self.pasteable_instances(raw.instance_features, raw.instances, output_sizes)

        processed_results = []
        for i, (image_size, (height, width)) in enumerate(zip(raw.images.image_sizes, output_sizes)):
            result = {}
            if raw.sem_seg_logits is not None:
                result["sem_seg"] = sem_seg_postprocess(raw.sem_seg_logits[i], image_size, height, width)
            if instances is not None:
                result["instances"] = instances[i]
            if "panoptic_seg" in self.outputs:
                result["panoptic_seg"] = merge_outputs(
                    result, self.merge_settings, self.semantic_label_to_category,
                    None if instance_ids is None else instance_ids[i],
                )
            processed_results.append({name: result[name] for name in self.outputs})
        return processed_results

    def inference_raw(self, batched_inputs: List[Dict[str, torch.Tensor]], outputs=OUTPUTS) -> RawInference:
        """
        The branches' outputs that ``outputs`` need, at the padded input size, with the batched
        images and the instance branch's features (to run the ROI heads again on other boxes).
        Without "instances" in ``outputs`` the detections have no masks: the box head alone ran.
        """
        assert not self.training
        if self.inference_dtype is not None:
            with torch.autocast(self.device.type, self.inference_dtype):
                raw = self.inference_raw_in_precision(batched_inputs, outputs)
            return in_float32(raw)
        return self.inference_raw_in_precision(batched_inputs, outputs)

    def inference_raw_in_precision(self, batched_inputs, outputs) -> RawInference:
        """:meth:`inference_raw` in the autocast context it sets (if any)."""
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        instance_features, semantic_features = self.split_features(features)
        sem_seg_logits = detector_results = None
        if self.sem_seg_head is not None and {"sem_seg", "panoptic_seg"} & set(outputs):
            sem_seg_logits, _ = self.sem_seg_head(semantic_features, None)
        if self.roi_heads is not None and {"instances", "panoptic_seg"} & set(outputs):
            proposals, _ = self.proposal_generator(images, instance_features, None)
            if "instances" in outputs:
                detector_results, _ = self.roi_heads(images, instance_features, proposals, None)
            else:
                detector_results = box_detections(self.roi_heads, instance_features, proposals)
        return RawInference(images, instance_features, detector_results, sem_seg_logits)

    @property
    def masks_only_for_pasteable(self) -> bool:
        """Panoptic only (MODEL.PANFPN.OUTPUTS without "instances"): the mask head runs only for the
        detections the panoptic merge can paste (inference here, and the export's graph)."""
        return "instances" not in self.outputs and "panoptic_seg" in self.outputs

    def pasteable_instances(self, features, detections: List[Instances], output_sizes):
        """
        Per image, the post-processed detections the panoptic merge can paste, with their
        masks, and their indices among all the post-processed detections (what the full
        run's segments give as "instance_id").

        The merge pastes by decreasing score and stops at the first instance below its
        confidence threshold, so the mask head runs, and masks are pasted, only for the
        detections at or above it (typically a fifth of the 100 a trained COCO model keeps).

        Args:
            features: the instance branch's features.
            detections: per image, the box head's detections (no masks), at the input size.
            output_sizes: per image, the (height, width) of the outputs.
        """
        kept_per_image, kept_ids, for_mask_head = [], [], []
        for image_detections, output_size in zip(detections, output_sizes):
            input_size = image_detections.image_size
            # detector_postprocess rescales pred_boxes in place; the mask head needs them unscaled
            image_detections.input_boxes = image_detections.pred_boxes.clone()
            image_detections = detector_postprocess(image_detections, *output_size)
            keep = confident_instances(
                image_detections.scores, image_detections.pred_classes, self.merge_settings.instances_confidence_thresh
            ).nonzero().flatten()
            kept = image_detections[keep]
            for_mask_head.append(Instances(input_size, pred_boxes=kept.input_boxes, pred_classes=kept.pred_classes))
            kept.remove("input_boxes")
            kept_per_image.append(kept)
            kept_ids.append(keep.tolist())
        with_masks = self.roi_heads.forward_with_given_boxes(features, for_mask_head)
        for kept, masks in zip(kept_per_image, with_masks):
            # the pasting of detector_postprocess, at its default mask threshold
            kept.pred_masks = ROIMasks(masks.pred_masks[:, 0]).to_bitmasks(kept.pred_boxes, *kept.image_size, 0.5).tensor
        return kept_per_image, kept_ids


def inference_precision(cfg) -> str:
    """MODEL.PANFPN.INFERENCE_PRECISION checked against MODEL.DEVICE and the CPU's flags."""
    precision, why = choose_eager_precision(
        cfg.MODEL.PANFPN.INFERENCE_PRECISION, torch.device(cfg.MODEL.DEVICE).type, cpu_flags()
    )
    logger.info(f"inference precision {precision} ({why})")
    return precision


def in_float32(raw: RawInference) -> RawInference:
    """``raw`` with its autocast (bf16/fp16) tensors cast to fp32: the merge, the post-processing
    and the mask head on given boxes run in fp32."""
    def cast(value):
        if isinstance(value, Boxes):
            return Boxes(cast(value.tensor))
        return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    instances = raw.instances
    if instances is not None:
        instances = [Instances(r.image_size, **{k: cast(v) for k, v in r.get_fields().items()}) for r in instances]
    return RawInference(
        raw.images,
        {k: cast(v) for k, v in raw.instance_features.items()},
        instances,
        None if raw.sem_seg_logits is None else cast(raw.sem_seg_logits),
    )


def check_image(image: torch.Tensor, channels: int, input_format: Optional[str], index: int) -> None:
    """Raise a ValueError naming what is wrong with ``batched_inputs[index]["image"]``, where broadcasting
    against the pixel mean would otherwise turn a grayscale image into a silent 3-channel one."""
    what = f"batched_inputs[{index}]['image'] of shape {tuple(image.shape)}"
    if image.dim() != 3 or image.shape[0] != channels:
        raise ValueError(
            f"{what}: expected a (C, H, W) tensor with C = {channels} channels in INPUT.FORMAT "
            f"{input_format!r}; convert grayscale or RGBA images to {channels} channels first"
        )
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"{what}: the image is empty (height or width 0)")


def branch_input_shapes(shapes: Dict[str, ShapeSpec], grouped_fpn: bool):
    """The feature shapes the instance and the semantic branch see."""
    if not grouped_fpn:
        return shapes, shapes
    halves = {k: ShapeSpec(channels=v.channels // 2, stride=v.stride) for k, v in shapes.items()}
    return halves, halves
