"""Semantic segmentation metrics of the model's ``sem_seg`` output, against the semantic map
derived from the panoptic ground truth (no semantic PNGs needed)."""
import logging
from collections import OrderedDict
from typing import Dict, Sequence

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils.file_io import PathManager

from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout

from ..data.panoptic_targets import semantic_target_from_panoptic
from .gather import gather_on_main

logger = logging.getLogger(__name__)


def semantic_metrics(confusion: np.ndarray, class_names: Sequence[str]) -> Dict[str, float]:
    """mIoU, fwIoU, mACC, pACC and per-class ``IoU-<name>`` / ``ACC-<name>``, in percent.

    ``confusion[g, p]`` counts the labelled pixels of ground-truth class g predicted as p.
    A class's IoU is TP / (TP + FP + FN), averaged over the classes that occur in the ground
    truth or the prediction (a class only predicted scores 0); its accuracy TP / (TP + FN), over
    the classes in the ground truth. fwIoU weights IoU by ground-truth pixel frequency. These are
    the definitions of detectron2's SemSegEvaluator. A class absent from both sides is NaN.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    gt_pixels = confusion.sum(axis=1)
    union = gt_pixels + confusion.sum(axis=0) - true_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, true_positive / union, np.nan)
        accuracy = np.where(gt_pixels > 0, true_positive / gt_pixels, np.nan)
    total = gt_pixels.sum()
    in_gt = gt_pixels > 0
    results = {
        "mIoU": 100 * np.nanmean(iou) if (union > 0).any() else float("nan"),
        "fwIoU": 100 * float((gt_pixels[in_gt] / total * iou[in_gt]).sum()) if total else float("nan"),
        "mACC": 100 * np.nanmean(accuracy) if in_gt.any() else float("nan"),
        "pACC": 100 * true_positive.sum() / total if total else float("nan"),
    }
    results = {k: float(v) for k, v in results.items()}
    for name, value in zip(class_names, iou):
        results[f"IoU-{name}"] = float(100 * value)
    for name, value in zip(class_names, accuracy):
        results[f"ACC-{name}"] = float(100 * value)
    return results


class PanFPNSemSegEvaluator(DatasetEvaluator):
    """mIoU, fwIoU, mACC, pACC (+ per class) of ``argmax(outputs[i]["sem_seg"])``.

    The ground truth is each image's panoptic PNG (its dataset dict's ``pan_seg_file_name`` and
    ``segments_info``) turned into the semantic map of ``thing_mode``'s :class:`SemanticLabelLayout`
    ("other": stuff classes + one 'things' class, "all": one class per category), void pixels ignored. Only the class-by-class confusion
    matrix is kept and, in a distributed run, summed on the main process.
    """

    def __init__(self, dataset_name: str, thing_mode: str, *, distributed: bool = True):
        self._metadata = MetadataCatalog.get(dataset_name)
        self._layout = SemanticLabelLayout.from_metadata(self._metadata, thing_mode)
        self._num_classes = self._layout.num_classes
        self._distributed = distributed
        self._dataset_dicts = {d["image_id"]: d for d in DatasetCatalog.get(dataset_name)}
        self._confusion = np.zeros((self._num_classes, self._num_classes), dtype=np.int64)

    def reset(self):
        self._confusion = np.zeros((self._num_classes, self._num_classes), dtype=np.int64)

    def _target(self, image_id) -> np.ndarray:
        if image_id not in self._dataset_dicts:
            raise KeyError(f"dataset {self._metadata.name!r} has no image with id {image_id!r}")
        record = self._dataset_dicts[image_id]
        return semantic_target_from_panoptic(
            read_panoptic_png(record["pan_seg_file_name"], PathManager.open),
            record["segments_info"],
            self._layout,
            source=record["pan_seg_file_name"],
        )

    def process(self, inputs, outputs):
        for model_input, output in zip(inputs, outputs):
            scores = output["sem_seg"]
            image_id = model_input["image_id"]
            if scores.shape[0] != self._num_classes:
                raise ValueError(
                    f"image_id {image_id}: sem_seg has {scores.shape[0]} classes, thing mode "
                    f"{self._layout.thing_mode!r} of {self._metadata.name!r} has {self._num_classes}"
                )
            prediction = scores.argmax(dim=0).to(torch.device("cpu")).numpy().astype(np.int64)
            target = self._target(image_id)
            if prediction.shape != target.shape:
                raise ValueError(
                    f"image_id {image_id}: sem_seg is {tuple(prediction.shape)}, its ground truth "
                    f"{tuple(target.shape)}; the model must return sem_seg at the input's height and width"
                )
            labelled = target != self._metadata.ignore_label
            pairs = self._num_classes * target[labelled].astype(np.int64) + prediction[labelled]
            self._confusion += np.bincount(pairs, minlength=self._num_classes**2).reshape(self._confusion.shape)

    def evaluate(self):
        gathered = gather_on_main(self._confusion, self._distributed)
        if gathered is None:
            return {}
        confusion = np.sum(gathered, axis=0)
        if confusion.sum() == 0:
            logger.warning("PanFPNSemSegEvaluator: no labelled pixel was processed; nothing to evaluate")
            return {}
        results = semantic_metrics(confusion, self._layout.class_names)
        logger.info(
            "Semantic segmentation ({} classes, thing mode {!r}): mIoU {:.3f}, fwIoU {:.3f}, mACC {:.3f}, "
            "pACC {:.3f}".format(
                self._num_classes, self._layout.thing_mode, results["mIoU"], results["fwIoU"], results["mACC"], results["pACC"]
            )
        )
        return OrderedDict({"sem_seg": results})
