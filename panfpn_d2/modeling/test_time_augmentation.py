"""Panoptic test-time augmentation: Panoptic FPN run on several scales and flips of each image."""
from typing import Dict, List

import torch
from fvcore.transforms import HFlipTransform, NoOpTransform
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from detectron2.config import configurable
from detectron2.data.transforms import ResizeTransform, TransformList
from detectron2.modeling import DatasetMapperTTA
from detectron2.modeling.postprocessing import detector_postprocess, sem_seg_postprocess
from detectron2.modeling.roi_heads.fast_rcnn import fast_rcnn_inference_single_image
from detectron2.structures import Boxes, Instances

from .meta_arch import PanFPN, RawInference
from .panoptic_merge import merge_outputs

# What the outputs can be mapped back through: boxes by coordinates, masks and logits by a flip.
INVERTIBLE_TRANSFORMS = (ResizeTransform, HFlipTransform, NoOpTransform)


class PanFPNWithTTA(nn.Module):
    """
    A :class:`PanFPN` evaluated on every augmentation of ``tta_mapper`` (detectron2's
    ``DatasetMapperTTA``: ``TEST.AUG.MIN_SIZES`` shorter sides capped at ``TEST.AUG.MAX_SIZE``,
    each also flipped with ``TEST.AUG.FLIP``), one augmented image at a time:

    * semantic: the logits, resized to the original resolution and flipped back, are averaged. Logits
      rather than probabilities: the output stays what the plain model's ``sem_seg`` is, and the
      argmax of averaged logits is that of the geometric mean of the probabilities, which a scale that
      is confidently wrong sways less than an arithmetic mean;
    * instances: as detectron2's ``GeneralizedRCNNWithTTA`` does for Mask R-CNN, the boxes of every
      augmentation, mapped back to the original image, are merged by per-class NMS (the ROI heads'
      test NMS threshold and detections per image); the mask head is run again on the merged boxes in
      every augmentation and the mask probabilities are averaged;
    * panoptic: the model's own merge of the two.

    Called like the model in inference (``model.eval()``); returns the same dicts.
    """

    @configurable
    def __init__(self, model: PanFPN, *, tta_mapper):
        """
        Args:
            model: the PanFPN (or a DistributedDataParallel of one) to augment.
            tta_mapper: maps one input dict to its augmented versions, each with the "transforms"
                that made it from the original image (resizes and horizontal flips only).
        """
        super().__init__()
        if isinstance(model, DistributedDataParallel):
            model = model.module
        if not isinstance(model, PanFPN):
            raise TypeError(f"PanFPNWithTTA augments a PanFPN, got a {type(model).__name__}")
        self.model = model
        self.tta_mapper = tta_mapper

    @classmethod
    def from_config(cls, cfg, model):
        return {"model": model, "tta_mapper": DatasetMapperTTA(cfg)}

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]) -> List[Dict[str, object]]:
        return [self.inference_one_image(x) for x in batched_inputs]

    def inference_one_image(self, input: Dict[str, torch.Tensor]) -> Dict[str, object]:
        image = input["image"]
        input = dict(input, height=input.get("height", image.shape[1]), width=input.get("width", image.shape[2]))
        output_size = (input["height"], input["width"])
        augmented = self.tta_mapper(input)
        transforms = [check_invertible(x.pop("transforms")) for x in augmented]
        # One image per call: with GroupNorm, padding an image to its batch's size would change its features.
        # Boxes only ("instances" not asked for): masks are predicted for the merged boxes.
        raws = [self.model.inference_raw([x], ("sem_seg", "panoptic_seg")) for x in augmented]
        result = {}
        if self.model.sem_seg_head is not None:
            result["sem_seg"] = average_semantic_logits(raws, transforms, output_size)
        if self.model.roi_heads is not None:
            result["instances"] = self.merge_instances(raws, transforms, output_size)
        if "panoptic_seg" in self.model.outputs:
            result["panoptic_seg"] = merge_outputs(result, self.model.merge_settings, self.model.semantic_label_to_category)
        return {name: result[name] for name in self.model.outputs}

    def merge_instances(self, raws: List[RawInference], transforms: List[TransformList], output_size) -> Instances:
        boxes, scores, classes = [], [], []
        for raw, transform in zip(raws, transforms):
            detections = raw.instances[0]
            boxes.append(apply_box(transform.inverse(), detections.pred_boxes.tensor))
            scores.append(detections.scores)
            classes.append(detections.pred_classes)
        boxes, scores, classes = torch.cat(boxes), torch.cat(scores), torch.cat(classes)
        predictor = self.model.roi_heads.box_predictor
        # fast_rcnn_inference_single_image's per-class scores, with a background column it drops.
        class_scores = boxes.new_zeros(len(boxes), predictor.num_classes + 1)
        class_scores[torch.arange(len(boxes), device=boxes.device), classes] = scores
        # Every detection already passed the score threshold: only NMS and the top-k select.
        merged, _ = fast_rcnn_inference_single_image(
            boxes, class_scores, output_size, 1e-8, predictor.test_nms_thresh, predictor.test_topk_per_image
        )
        if getattr(self.model.roi_heads, "mask_on", False):
            merged.pred_masks = self.average_masks(merged, raws, transforms)
        return detector_postprocess(merged, *output_size)

    def average_masks(self, merged: Instances, raws: List[RawInference], transforms: List[TransformList]):
        """The mask head's (N, 1, M, M) probabilities for the merged boxes, averaged over the augmentations."""
        masks = []
        for raw, transform in zip(raws, transforms):
            boxes = Instances(
                raw.images.image_sizes[0],
                pred_boxes=Boxes(apply_box(transform, merged.pred_boxes.tensor)),
                pred_classes=merged.pred_classes,
                scores=merged.scores,
            )
            predicted = self.model.roi_heads.forward_with_given_boxes(raw.instance_features, [boxes])[0]
            # A mask is defined in its box's frame: only a flip changes it.
            masks.append(predicted.pred_masks.flip(dims=[3]) if is_flipped(transform) else predicted.pred_masks)
        return torch.stack(masks).mean(dim=0)


def check_invertible(transform: TransformList) -> TransformList:
    unsupported = [type(t).__name__ for t in transform.transforms if not isinstance(t, INVERTIBLE_TRANSFORMS)]
    if unsupported:
        raise ValueError(
            f"PanFPNWithTTA maps outputs back through resizes and horizontal flips only, got {unsupported}"
        )
    return transform


def is_flipped(transform: TransformList) -> bool:
    return sum(isinstance(t, HFlipTransform) for t in transform.transforms) % 2 == 1


def apply_box(transform: TransformList, boxes: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(transform.apply_box(boxes.cpu().numpy())).to(boxes.device)


def average_semantic_logits(raws: List[RawInference], transforms: List[TransformList], output_size) -> torch.Tensor:
    """The (C, H, W) semantic logits at the output size, averaged over the augmentations."""
    logits = []
    for raw, transform in zip(raws, transforms):
        resized = sem_seg_postprocess(raw.sem_seg_logits[0], raw.images.image_sizes[0], *output_size)
        logits.append(resized.flip(dims=[2]) if is_flipped(transform) else resized)
    return torch.stack(logits).mean(dim=0)
