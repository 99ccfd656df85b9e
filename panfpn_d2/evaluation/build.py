"""Evaluators for a dataset and a model config: the one place evaluation reads ``cfg``."""
from collections import OrderedDict
from typing import Optional

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluators
from detectron2.utils.comm import is_main_process

from ..config import has_instance_branch, has_semantic_branch
from .cityscapes_evaluation import PanFPNCityscapesInstanceEvaluator, PanFPNCityscapesSemSegEvaluator
from .instance_evaluation import PanFPNInstanceEvaluator
from .panoptic_evaluation import PanFPNPanopticEvaluator
from .semantic_evaluation import PanFPNSemSegEvaluator

EVALUATOR_TYPES = ("coco_panoptic_seg", "cityscapes_panoptic_seg")


class MergingDatasetEvaluators(DatasetEvaluators):
    """DatasetEvaluators whose evaluators may report on the same task (e.g. two ``sem_seg`` dicts):
    their metric dicts are merged, and only a metric reported twice is an error."""

    def evaluate(self):
        results = OrderedDict()
        for evaluator in self._evaluators:
            result = evaluator.evaluate()
            if not is_main_process() or not result:
                continue
            for task, metrics in result.items():
                merged = results.setdefault(task, OrderedDict())
                clashing = sorted(set(merged) & set(metrics))
                if clashing:
                    raise KeyError(f"{type(evaluator).__name__} reports {task} metrics {clashing} already reported")
                merged.update(metrics)
        return results


def build_evaluator(cfg, dataset_name: str, output_folder: Optional[str] = None) -> MergingDatasetEvaluators:
    """The evaluators of every output the configured model produces on ``dataset_name``.

    * ``sem_seg`` (PanFPNSemSegEvaluator) with a semantic branch (``has_semantic_branch``); on
      Cityscapes in the "all" thing mode (MODEL.PANFPN.SEM_SEG_THING_MODE) also cityscapesscripts'
      IoU / iIoU in the same ``sem_seg`` dict (PanFPNCityscapesSemSegEvaluator);
    * ``bbox`` + ``segm`` (PanFPNInstanceEvaluator) with an instance branch (``has_instance_branch``);
      on Cityscapes also ``segm_cityscapes`` (PanFPNCityscapesInstanceEvaluator);
      the Cityscapes evaluators write their prediction files under TEST.CITYSCAPES_TEMP_ROOT;
    * ``panoptic_seg`` (PanFPNPanopticEvaluator) when both branches exist and
      MODEL.PANOPTIC_FPN.COMBINE.ENABLED (the model merges them into a panoptic output); with
      TEST.WRITE_PANOPTIC_PNG it also writes them as COCO panoptic files to ``output_folder``.

    The dataset's metadata must have evaluator_type in EVALUATOR_TYPES (both are COCO panoptic
    files; Cityscapes gets the COCO-style PQ and AP too, and its gt_dir files for its own metrics).
    """
    metadata = MetadataCatalog.get(dataset_name)
    evaluator_type = getattr(metadata, "evaluator_type", None)
    if evaluator_type not in EVALUATOR_TYPES:
        raise ValueError(
            f"dataset {dataset_name!r}: metadata evaluator_type is {evaluator_type!r}; "
            f"build_evaluator supports {EVALUATOR_TYPES}"
        )
    has_semantic = has_semantic_branch(cfg)
    has_instances = has_instance_branch(cfg)
    if not has_semantic and not has_instances:
        raise ValueError(
            "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT and MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT are both 0: "
            "the model has no branch to evaluate"
        )
    is_cityscapes = evaluator_type == "cityscapes_panoptic_seg"
    temp_root = cfg.TEST.CITYSCAPES_TEMP_ROOT or None
    thing_mode = cfg.MODEL.PANFPN.SEM_SEG_THING_MODE
    evaluators = []
    if has_semantic:
        evaluators.append(PanFPNSemSegEvaluator(dataset_name, thing_mode))
        # cityscapesscripts scores one label per Cityscapes class: only the "all" layout has them.
        if is_cityscapes and thing_mode == "all":
            evaluators.append(PanFPNCityscapesSemSegEvaluator(dataset_name, temp_root=temp_root))
    if has_instances:
        evaluators.append(PanFPNInstanceEvaluator(dataset_name))
        if is_cityscapes:
            evaluators.append(PanFPNCityscapesInstanceEvaluator(dataset_name, temp_root=temp_root))
    if has_semantic and has_instances and cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED:
        evaluators.append(
            PanFPNPanopticEvaluator(
                dataset_name,
                output_dir=output_folder,
                write_panoptic_png=cfg.TEST.WRITE_PANOPTIC_PNG,
            )
        )
    return MergingDatasetEvaluators(evaluators)
