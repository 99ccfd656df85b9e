"""The exported part of PanFPN inference: one image in, fixed-meaning tensors out.

Where the graph is cut, and why:

* In: the image already resized to the test size, as (3, H, W) float32 in INPUT.FORMAT channel
  order, any H and W. Resizing stays on the host because detectron2 resizes uint8 images with
  Pillow, which no graph op reproduces; normalization and padding to the backbone's size
  divisibility are in the graph. The padding is computed as ``(-size) mod divisibility``, not
  with detectron2's ``ImageList.from_tensors`` ``(size + d - 1) // d * d``: OpenVINO's shape
  inference folds that floor division followed by the product away and pads by d - 1, which
  fails at the FPN's top-down ``Add``; both give the same padded size and zeros.
* Out: the detector's final instances -- boxes in input-image coordinates, scores, classes after
  the score threshold, per-class NMS and the per-image top k (ONNX NonMaxSuppression and TopK
  express these, variable N included) -- with the (N, M, M) mask probabilities of each
  instance's class, and the semantic logits at the head's common stride of the padded image
  (upsampling them in the graph would return a 16x larger tensor).
  With ``MODEL.PANFPN.OUTPUTS ("panoptic_seg",)`` (panoptic only) the instances are those the
  panoptic merge can paste: the mask head runs only for detections at or above the merge's
  confidence threshold (the merge stops at the first instance below it), as in PanFPN's own
  panoptic-only inference; the panoptic output is the same.
* Host: what depends on the original image size or loops over a data-dependent number of
  instances with per-instance shapes: rescaling boxes, pasting each mask into its box, the
  semantic upsampling, crop and resize to the original size, and the panoptic merge.
"""
import numpy as np
import torch
from detectron2.layers.wrappers import shapes_to_tensor
from detectron2.modeling.roi_heads import StandardROIHeads
from detectron2.structures import ImageList
from torch import nn
from torch.nn import functional as F

from panfpn_lite.merge_settings import MergeSettings

from ..compat import box_detections
from ..modeling.meta_arch import PanFPN, check_image


class PanFPNExportGraph(nn.Module):
    """A PanFPN in inference with both branches, as the exported graph (see the module docstring).

    ``forward(image)`` returns ``(boxes (N, 4), scores (N,), classes (N,) int64,
    mask_probs (N, M, M), semantic_logits (1, C, Hp / s, Wp / s))``, the order of
    ``panfpn_lite.runtime.model.OUTPUT_NAMES``.
    """

    def __init__(self, model: PanFPN):
        super().__init__()
        if model.roi_heads is None or model.sem_seg_head is None:
            raise ValueError(
                "export needs a PanFPN with both branches: MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT and "
                "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT must both be > 0"
            )
        if not isinstance(model.roi_heads, StandardROIHeads):
            # The graph calls its box branch and mask pooler/head directly (see forward).
            raise ValueError(
                f"export supports StandardROIHeads and its subclasses (MODEL.ROI_HEADS.NAME), got "
                f"{type(model.roi_heads).__name__}"
            )
        if not model.roi_heads.mask_on:
            raise ValueError("export needs the mask head: MODEL.MASK_ON must be True")
        # detectron2 main's backbones may also pad to a square (their padding_constraints).
        square_size = getattr(model.backbone, "padding_constraints", {}).get("square_size", 0)
        if square_size:
            raise ValueError(f"export pads to the size divisibility only; the backbone pads to a square of {square_size}")
        self.model = model.eval()
        # Panoptic only: keep the detections at or above the merge's confidence threshold, compared
        # one float32 step below it, so that whichever way a runtime's merge compares a float32
        # score with the threshold (float32 or float64), none it would paste is dropped.
        self.pasteable_score = None
        if model.masks_only_for_pasteable:
            threshold = np.float32(runtime_merge_settings(model.merge_settings).instances_confidence_thresh)
            self.pasteable_score = float(np.nextafter(threshold, np.float32(-np.inf)))

    def preprocess_image(self, image: torch.Tensor) -> ImageList:
        """The model's ``preprocess_image`` for one image (normalize, zero-pad to the backbone's size
        divisibility), with the padding written so that every runtime's shape inference follows it
        (see the module docstring)."""
        model = self.model
        check_image(image, len(model.pixel_mean), model.input_format, 0)
        normalized = (image - model.pixel_mean) / model.pixel_std
        size = shapes_to_tensor(normalized.shape[-2:])  # traced as the input's dynamic size
        padding = torch.remainder(-size, max(model.backbone.size_divisibility, 1))
        padded = F.pad(normalized, [0, padding[1], 0, padding[0]], value=0.0)
        # Sizes as detectron2 keeps them: a tensor while tracing (dynamic), ints otherwise.
        image_size = size if torch.jit.is_tracing() else tuple(normalized.shape[-2:])
        return ImageList(padded.unsqueeze(0), [image_size])

    def forward(self, image: torch.Tensor):
        model = self.model
        images = self.preprocess_image(image)
        instance_features, semantic_features = model.split_features(model.backbone(images.tensor))
        semantic_logits = model.sem_seg_head.layers(semantic_features)
        proposals, _ = model.proposal_generator(images, instance_features, None)
        roi_heads = model.roi_heads
        detections = box_detections(roi_heads, instance_features, proposals)[0]
        if self.pasteable_score is not None:
            detections = detections[detections.scores >= self.pasteable_score]
        # The mask branch of StandardROIHeads without its per-image split, whose sizes would be
        # traced as constants.
        mask_features = roi_heads.mask_pooler(
            [instance_features[f] for f in roi_heads.mask_in_features], [detections.pred_boxes]
        )
        mask_logits = roi_heads.mask_head.layers(mask_features)
        if mask_logits.shape[1] == 1:  # class-agnostic masks
            mask_probs = mask_logits[:, 0].sigmoid()
        else:
            rows = torch.arange(mask_logits.shape[0], device=mask_logits.device)
            mask_probs = mask_logits[rows, detections.pred_classes].sigmoid()
        return detections.pred_boxes.tensor, detections.scores, detections.pred_classes, mask_probs, semantic_logits


def runtime_merge_settings(settings: MergeSettings) -> MergeSettings:
    """``settings``, checked to be ones the runtime's numpy merge honours (one number each)."""
    per_category = settings.per_category_fields()
    if per_category:
        raise ValueError(
            f"export: the merge settings {list(per_category)} are per category ({settings}); panfpn-predict's "
            "merge takes one number for each: set them to numbers to export"
        )
    return settings


def sample_image(cfg, seed: int = 0) -> torch.Tensor:
    """A random input of the test size to trace the graph with (its values do not matter: the
    traced graph has dynamic H, W and number of instances)."""
    short_edge = cfg.INPUT.MIN_SIZE_TEST or 512
    long_edge = min(cfg.INPUT.MAX_SIZE_TEST, short_edge * 4 // 3)
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(3, short_edge, long_edge, generator=generator) * 255
