"""Evaluators for a dataset and a model config: the one place evaluation reads ``cfg``."""
import os
from collections import OrderedDict
from typing import Optional

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluators
from detectron2.utils.comm import is_main_process

from ..config import EVALUATOR_SETS, has_instance_branch, has_semantic_branch
from .cityscapes_evaluation import PanFPNCityscapesInstanceEvaluator, PanFPNCityscapesSemSegEvaluator
from .detectron2_evaluators import detectron2_evaluators
from .instance_evaluation import PanFPNInstanceEvaluator
from .panoptic_evaluation import PanFPNPanopticEvaluator
from .semantic_evaluation import PanFPNSemSegEvaluator

EVALUATOR_TYPES = ("coco_panoptic_seg", "cityscapes_panoptic_seg")
# Under the output folder, per dataset: the files TEST.EVALUATORS "detectron2" reads, made from the panoptic ground truth.
DETECTRON2_CACHE_FOLDER = "detectron2_evaluation"


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
    * ``panoptic_seg`` (PanFPNPanopticEvaluator) when MODEL.PANOPTIC_FPN.COMBINE.ENABLED: PQ over
      all categories with both branches, over thing categories for Mask R-CNN alone, over stuff
      categories for Semantic FPN alone (the model's panoptic output covers only those); with
      TEST.WRITE_PANOPTIC_PNG it also writes them as COCO panoptic files to ``output_folder``, with
      TEST.PQ_REPORT the report of ``panfpn-pq --report`` to ``output_folder``/pq_report.

    A dataset without annotations (metadata ``has_annotations`` False: COCO test-dev) gets only the
    panoptic evaluator, which writes the submission (PNG + JSON) under ``output_folder`` and reports
    no metrics.

    ``output_folder`` defaults to OUTPUT_DIR/inference/<dataset> where there are files to write
    (TEST.WRITE_PANOPTIC_PNG, TEST.PQ_REPORT, or a dataset without annotations).

    The dataset's metadata must have evaluator_type in EVALUATOR_TYPES (both are COCO panoptic
    files; Cityscapes gets the COCO-style PQ and AP too, and its gt_dir files for its own metrics).

    TEST.EVALUATORS "detectron2" puts detectron2's evaluators in their place
    (:func:`~panfpn_d2.evaluation.detectron2_evaluators.detectron2_evaluators`), with the files they
    read made under OUTPUT_DIR/detectron2_evaluation/<dataset>.
    """
    if output_folder is None:
        output_folder = default_output_folder(
            cfg.OUTPUT_DIR, dataset_name, cfg.TEST.WRITE_PANOPTIC_PNG or cfg.TEST.PQ_REPORT
        )
    return build_panoptic_fpn_evaluators(
        dataset_name,
        has_semantic=has_semantic_branch(cfg),
        has_instances=has_instance_branch(cfg),
        panoptic=cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED,
        thing_mode=cfg.MODEL.PANFPN.SEM_SEG_THING_MODE,
        output_folder=output_folder,
        write_panoptic_png=cfg.TEST.WRITE_PANOPTIC_PNG,
        pq_breakdown=cfg.TEST.PQ_BREAKDOWN,
        pq_report=cfg.TEST.PQ_REPORT,
        temp_root=cfg.TEST.CITYSCAPES_TEMP_ROOT or None,
        evaluators=cfg.TEST.EVALUATORS,
        cache_dir=os.path.join(cfg.OUTPUT_DIR, DETECTRON2_CACHE_FOLDER, dataset_name),
    )


def default_output_folder(output_dir: str, dataset_name: str, writes_files: bool) -> Optional[str]:
    """``output_dir/inference/<dataset>`` where the evaluation of ``dataset_name`` writes files
    (``writes_files``: panoptic PNGs or the PQ report; or a dataset without annotations: its
    submission), else None."""
    if writes_files or not MetadataCatalog.get(dataset_name).get("has_annotations", True):
        return os.path.join(output_dir, "inference", dataset_name)
    return None


def build_panoptic_fpn_evaluators(
    dataset_name: str,
    *,
    has_semantic: bool,
    has_instances: bool,
    panoptic: bool = True,
    thing_mode: str = "other",
    output_folder: Optional[str] = None,
    write_panoptic_png: bool = False,
    pq_breakdown: bool = False,
    pq_report: bool = False,
    temp_root: Optional[str] = None,
    evaluators: str = "panfpn",
    cache_dir: Optional[str] = None,
) -> MergingDatasetEvaluators:
    """:func:`build_evaluator` without a yacs config (for lazy configs): the model's branches
    (lambda_s > 0, lambda_i > 0), its merge (COMBINE.ENABLED), MODEL.PANFPN.SEM_SEG_THING_MODE,
    TEST.WRITE_PANOPTIC_PNG, TEST.PQ_BREAKDOWN, TEST.PQ_REPORT (a report in ``output_folder``/pq_report), TEST.CITYSCAPES_TEMP_ROOT (None: the system's temporary folder) and
    TEST.EVALUATORS; ``cache_dir``: where "detectron2" evaluators' ground-truth files are made."""
    if evaluators not in EVALUATOR_SETS:
        raise ValueError(f"evaluators (TEST.EVALUATORS) must be one of {EVALUATOR_SETS}, got {evaluators!r}")
    metadata = MetadataCatalog.get(dataset_name)
    evaluator_type = getattr(metadata, "evaluator_type", None)
    if evaluator_type not in EVALUATOR_TYPES:
        raise ValueError(
            f"dataset {dataset_name!r}: metadata evaluator_type is {evaluator_type!r}; "
            f"build_evaluator supports {EVALUATOR_TYPES}"
        )
    if not has_semantic and not has_instances:
        raise ValueError(
            "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT and MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT are both 0 "
            "(has_semantic and has_instances are False): "
            "the model has no branch to evaluate"
        )
    scope = "all" if has_semantic and has_instances else "things" if has_instances else "stuff"
    if evaluators == "detectron2":
        if not cache_dir:
            raise ValueError("evaluators 'detectron2' need a cache_dir for the ground-truth files they read")
        return MergingDatasetEvaluators(
            detectron2_evaluators(
                dataset_name, has_semantic=has_semantic, has_instances=has_instances, panoptic=panoptic,
                thing_mode=thing_mode, cache_dir=cache_dir, output_folder=output_folder,
            )
        )
    if not metadata.get("has_annotations", True):
        # Nothing to score (COCO test-dev): write the benchmark server's submission.
        if not panoptic:
            raise ValueError(
                f"dataset {dataset_name!r} has no annotations: evaluating it writes panoptic predictions, "
                "which MODEL.PANOPTIC_FPN.COMBINE.ENABLED False turns off"
            )
        if not output_folder:
            raise ValueError(f"dataset {dataset_name!r} has no annotations: its submission needs an output_folder")
        return MergingDatasetEvaluators(
            [PanFPNPanopticEvaluator(dataset_name, output_dir=output_folder, write_panoptic_png=True, scope=scope)]
        )
    is_cityscapes = evaluator_type == "cityscapes_panoptic_seg"
    project_evaluators = []
    if has_semantic:
        project_evaluators.append(PanFPNSemSegEvaluator(dataset_name, thing_mode))
        # cityscapesscripts scores one label per Cityscapes class: only the "all" layout has them.
        if is_cityscapes and thing_mode == "all":
            project_evaluators.append(PanFPNCityscapesSemSegEvaluator(dataset_name, temp_root=temp_root))
    if has_instances:
        project_evaluators.append(PanFPNInstanceEvaluator(dataset_name))
        if is_cityscapes:
            project_evaluators.append(PanFPNCityscapesInstanceEvaluator(dataset_name, temp_root=temp_root))
    if panoptic:
        project_evaluators.append(
            PanFPNPanopticEvaluator(
                dataset_name,
                output_dir=output_folder,
                write_panoptic_png=write_panoptic_png,
                scope=scope,
                pq_breakdown=pq_breakdown,
                pq_report=pq_report,
            )
        )
    return MergingDatasetEvaluators(project_evaluators)

