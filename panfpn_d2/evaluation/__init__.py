"""Evaluation of Panoptic FPN outputs on COCO-panoptic-format datasets (COCO, Cityscapes).

Every evaluator reads the ground truth from the dataset's COCO panoptic JSON + PNGs (metadata
``panoptic_json``, ``panoptic_root``), keeps only compact per-image records (RLE, confusion
counts), gathers them to the main process in distributed runs, and returns detectron2's
format, in percent. Per-class keys use "-" as detectron2's do.

* ``PanFPNPanopticEvaluator`` -> ``{"panoptic_seg": {...}}``: PQ, SQ, RQ over all categories,
  PQ_th/SQ_th/RQ_th (things), PQ_st/SQ_st/RQ_st (stuff), and PQ-/SQ-/RQ-<category> for every
  category with a segment in the ground truth or the prediction; panopticapi's numbers, computed
  by hotcoco from per-segment RLE (no PNG round trip). Optionally writes the predictions as COCO
  panoptic PNG + JSON.
* ``PanFPNSemSegEvaluator`` -> ``{"sem_seg": {...}}``: mIoU, fwIoU (the paper's fIoU), mACC,
  pACC, IoU-<class>, ACC-<class> of argmax(sem_seg) against the semantic map of the model's
  thing mode ("other" or "all") derived from the panoptic PNG.
* ``PanFPNInstanceEvaluator`` -> ``{"bbox": {...}, "segm": {...}}``: AP, AP50, AP75, APs, APm,
  APl and AP-<class> (COCO protocol, pycocotools' numbers; hotcoco's COCOeval where detectron2
  has no compiled ops), ground truth = the thing segments of the panoptic annotations.
* Cityscapes' own metrics, by cityscapesscripts from the gtFine files (metadata ``gt_dir``):
  ``PanFPNCityscapesSemSegEvaluator`` adds IoU_cityscapes, iIoU, IoU_category, iIoU_category
  (+ iIoU-<class>, IoU_category-/iIoU_category-<category>) to ``sem_seg``;
  ``PanFPNCityscapesInstanceEvaluator`` -> ``{"segm_cityscapes": {AP, AP50, AP-<class>}}``.
* ``build_evaluator(cfg, dataset_name, output_folder)`` picks those the model config produces
  (the Cityscapes ones too on "cityscapes_panoptic_seg" datasets), merging dicts of one task.
* PQ of COCO panoptic files (``pq_compute``, the ``panfpn-pq`` command) lives in the torch-free
  ``panfpn_lite.pq``.
"""
from .build import build_evaluator
from .cityscapes_evaluation import PanFPNCityscapesInstanceEvaluator, PanFPNCityscapesSemSegEvaluator
from .instance_evaluation import PanFPNInstanceEvaluator
from .panoptic_evaluation import PanFPNPanopticEvaluator
from .semantic_evaluation import PanFPNSemSegEvaluator, semantic_metrics

__all__ = [
    "build_evaluator",
    "PanFPNCityscapesInstanceEvaluator",
    "PanFPNCityscapesSemSegEvaluator",
    "PanFPNInstanceEvaluator",
    "PanFPNPanopticEvaluator",
    "PanFPNSemSegEvaluator",
    "semantic_metrics",
]
