"""Evaluators for a dataset and a model config: the one place evaluation reads ``cfg``."""
from typing import Optional

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluators

from .instance_evaluation import PanFPNInstanceEvaluator
from .panoptic_evaluation import PanFPNPanopticEvaluator
from .semantic_evaluation import PanFPNSemSegEvaluator

EVALUATOR_TYPES = ("coco_panoptic_seg", "cityscapes_panoptic_seg")


def build_evaluator(cfg, dataset_name: str, output_folder: Optional[str] = None) -> DatasetEvaluators:
    """The evaluators of every output the configured model produces on ``dataset_name``.

    * ``sem_seg`` (PanFPNSemSegEvaluator) unless MODEL.SEM_SEG_HEAD.LOSS_WEIGHT == 0;
    * ``bbox`` + ``segm`` (PanFPNInstanceEvaluator) unless MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT == 0;
    * ``panoptic_seg`` (PanFPNPanopticEvaluator) when both branches exist and
      MODEL.PANOPTIC_FPN.COMBINE.ENABLED (the model merges them into a panoptic output).

    The dataset's metadata must have evaluator_type in EVALUATOR_TYPES (both are COCO panoptic
    files; Cityscapes is scored with the same COCO-style PQ and AP).
    """
    metadata = MetadataCatalog.get(dataset_name)
    evaluator_type = getattr(metadata, "evaluator_type", None)
    if evaluator_type not in EVALUATOR_TYPES:
        raise ValueError(
            f"dataset {dataset_name!r}: metadata evaluator_type is {evaluator_type!r}; "
            f"build_evaluator supports {EVALUATOR_TYPES}"
        )
    has_semantic = cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT != 0
    has_instances = cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT != 0
    if not has_semantic and not has_instances:
        raise ValueError(
            "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT and MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT are both 0: "
            "the model has no branch to evaluate"
        )
    evaluators = []
    if has_semantic:
        evaluators.append(PanFPNSemSegEvaluator(dataset_name, cfg.MODEL.PANFPN.SEM_SEG_THING_MODE))
    if has_instances:
        evaluators.append(PanFPNInstanceEvaluator(dataset_name))
    if has_semantic and has_instances and cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED:
        evaluators.append(
            PanFPNPanopticEvaluator(
                dataset_name,
                output_dir=output_folder,
                write_panoptic_png=cfg.MODEL.PANFPN.EVAL_WRITE_PANOPTIC_PNG,
            )
        )
    return DatasetEvaluators(evaluators)
