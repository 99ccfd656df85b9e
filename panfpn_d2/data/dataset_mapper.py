"""Dataset mapper that derives Panoptic FPN's training targets from the panoptic PNG on the fly."""
import copy
import logging
from typing import List, Optional

import numpy as np
import torch
from PIL import Image

from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.utils.file_io import PathManager

from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout

from ..config import semantic_layout
from .color_augmentation import PhotometricDistortion

from .panoptic_targets import (
    IGNORE_LABEL,
    check_segments_present,
    instances_from_panoptic,
    semantic_target_from_panoptic,
)

__all__ = ["PanFPNDatasetMapper", "transform_id_map"]

logger = logging.getLogger(__name__)


def read_image(file_name: str, image_format: str) -> np.ndarray:
    try:
        return utils.read_image(file_name, format=image_format)
    except FileNotFoundError:
        raise FileNotFoundError(f"image {file_name} does not exist") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"image {file_name} cannot be read: {e}") from e


def transform_id_map(transforms: T.TransformList, id_map: np.ndarray) -> np.ndarray:
    """Apply ``transforms`` to an integer id map with nearest sampling, keeping its dtype.

    A resize picks exactly the pixels detectron2's ResizeTransform picks in a uint8 segmentation
    (a prepared semantic PNG): PIL's nearest resize, here of the ids as a 32-bit integer image
    (PIL's nearest sampling does not depend on the pixel type). detectron2 itself would resize a
    non-uint8 map with torch's "nearest", half a pixel off PIL's.
    """
    for transform in transforms.transforms:
        if isinstance(transform, T.ResizeTransform):
            if id_map.size and (id_map.min() < 0 or id_map.max() > np.iinfo(np.int32).max):
                raise ValueError(f"id map values {id_map.min()}..{id_map.max()} do not fit a 32-bit integer image")
            resized = Image.fromarray(id_map.astype(np.int32)).resize((transform.new_w, transform.new_h), Image.NEAREST)
            id_map = np.asarray(resized).astype(id_map.dtype)
        else:
            id_map = transform.apply_segmentation(id_map)
    return id_map


def _needs_semantic_map(augmentations: List[T.Augmentation]) -> bool:
    """Whether an augmentation looks at the semantic map (the category-area-constrained crop)."""
    return any(
        isinstance(aug, T.RandomCrop_CategoryAreaConstraint) and aug.single_category_max_area < 1.0
        for aug in augmentations
    )


class PanFPNDatasetMapper:
    """Map a COCO-panoptic dataset dict (see register_panoptic_dataset) to Panoptic FPN's inputs.

    Training output: "image" (C, H, W uint8 tensor), "instances" (gt_boxes, gt_classes, gt_masks),
    "sem_seg" (H, W LongTensor, void = 255, labels of ``semantic_layout``), plus the dict's other keys.
    Test output: "image" only (the PNG is not read); "height"/"width" stay the original size, to
    which the model resizes its predictions.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: List[T.Augmentation],
        image_format: str,
        semantic_layout: Optional[SemanticLabelLayout] = None,
    ):
        """
        Args:
            augmentations: applied to the image and, with nearest sampling, to the panoptic id map.
            image_format: as detectron2's INPUT.FORMAT.
            semantic_layout: the labels of the semantic target (training only).
        """
        if is_train and semantic_layout is None:
            raise ValueError("PanFPNDatasetMapper: training needs the semantic_layout of its targets")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.semantic_layout = semantic_layout
        self.semantic_map_for_augmentation = _needs_semantic_map(augmentations)
        mode = "training" if is_train else "inference"
        logger.info(f"[PanFPNDatasetMapper] Augmentations used in {mode}: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        augmentations = utils.build_augmentation(cfg, is_train)  # ResizeShortestEdge, then RandomFlip
        if is_train:
            if cfg.INPUT.CROP.ENABLED:
                # After the resize: the Cityscapes recipe scales by 0.5-2x, then crops a fixed size.
                crop = T.RandomCrop_CategoryAreaConstraint(
                    cfg.INPUT.CROP.TYPE,
                    cfg.INPUT.CROP.SIZE,
                    cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA,
                    IGNORE_LABEL,
                )
                augmentations.insert(1, crop)
            if cfg.INPUT.COLOR_AUG:
                # SSD's photometric distortion, the paper's "color augmentation [40]"
                augmentations.append(PhotometricDistortion(cfg.INPUT.FORMAT))
        return {
            "is_train": is_train,
            "augmentations": augmentations,
            "image_format": cfg.INPUT.FORMAT,
            "semantic_layout": semantic_layout(cfg) if is_train else None,
        }

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image_file = dataset_dict["file_name"]
        image = read_image(image_file, self.image_format)
        utils.check_image_size(dataset_dict, image)

        if not self.is_train:
            aug_input = T.AugInput(image)
            self.augmentations(aug_input)
            image = aug_input.image
            dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
            return dataset_dict

        png_file = dataset_dict["pan_seg_file_name"]
        segments_info = dataset_dict["segments_info"]
        pan_seg = read_panoptic_png(png_file, PathManager.open)
        if pan_seg.shape != image.shape[:2]:
            raise ValueError(
                f"panoptic PNG {png_file} is {pan_seg.shape[1]}x{pan_seg.shape[0]} (WxH) but image "
                f"{image_file} is {image.shape[1]}x{image.shape[0]}"
            )
        check_segments_present(pan_seg, segments_info, source=png_file)

        semantic = (
            semantic_target_from_panoptic(pan_seg, segments_info, self.semantic_layout, png_file)
            if self.semantic_map_for_augmentation
            else None
        )
        aug_input = T.AugInput(image, sem_seg=semantic)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        pan_seg = transform_id_map(transforms, pan_seg)

        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if "annotations" in dataset_dict:
            # An instances JSON was registered: its overlapping instances are the targets.
            dataset_dict["instances"] = instances_from_annotations(dataset_dict.pop("annotations"), transforms, image.shape[:2])
        else:
            dataset_dict["instances"] = instances_from_panoptic(pan_seg, segments_info, png_file)
        dataset_dict["sem_seg"] = torch.as_tensor(
            semantic_target_from_panoptic(pan_seg, segments_info, self.semantic_layout, png_file).astype(np.int64)
        )
        return dataset_dict


def instances_from_annotations(annotations: List[dict], transforms: T.TransformList, image_shape):
    """Training instances (gt_boxes, gt_classes, gt_masks as bitmasks) of detectron2 "annotations",
    crowd regions left out, transformed as the image was."""
    transformed = [
        utils.transform_instance_annotations(annotation, transforms, image_shape)
        for annotation in annotations
        if not annotation.get("iscrowd", 0)
    ]
    instances = utils.annotations_to_instances(transformed, image_shape, mask_format="bitmask")
    # a crop can leave an instance with no pixel: no target
    return instances[instances.gt_masks.tensor.flatten(1).any(dim=1)]
