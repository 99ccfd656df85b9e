"""detectron2's own evaluators (TEST.EVALUATORS "detectron2") on any dataset this project registers.

This project's datasets are COCO panoptic files only (a JSON + panoptic PNGs), while detectron2's
evaluators read more: ``SemSegEvaluator`` a semantic PNG per image (``sem_seg_file_name``) with
``stuff_classes`` / ``ignore_label`` in the metadata, ``COCOEvaluator`` a COCO instances JSON
(``json_file``). Both are made here, on the fly, from the panoptic ground truth: the semantic PNGs
in the model's label layout (``thing_mode``) and the instances JSON (one instance per thing segment,
or the dataset's own instance annotations when it has them), written to a cache folder and reused
while newer than the files they come from. They are served through a second registered dataset,
:func:`detectron2_view_name`, with the same images. ``COCOPanopticEvaluator`` and the Cityscapes
evaluators read the dataset's own metadata (``panoptic_json``, ``panoptic_root``, the contiguous id
maps; ``gt_dir``).
"""
import os
from typing import Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import convert_to_coco_json
from detectron2.evaluation import (
    CityscapesInstanceEvaluator,
    CityscapesSemSegEvaluator,
    COCOEvaluator,
    COCOPanopticEvaluator,
    DatasetEvaluator,
    SemSegEvaluator,
)
from detectron2.structures import BoxMode
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from PIL import Image

from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout

from ..compat import cityscapesscripts_json_writer, cityscapesscripts_under_metas_name
from ..data.datasets import IGNORE_LABEL
from ..data.panoptic_targets import semantic_target_from_panoptic
from ..utils.env import has_compiled_coco_eval, import_extra
from .cityscapes_evaluation import numpy_for_cityscapesscripts
from .instance_evaluation import thing_segment_rles

# detectron2's Cityscapes instance evaluator reports "segm" (AP, AP50), as COCOEvaluator does; this
# project's name for it keeps both in one result dict.
CITYSCAPES_INSTANCE_TASK = "segm_cityscapes"
PIXEL_LEVEL_SCRIPTS = "cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling"
INSTANCE_LEVEL_SCRIPTS = "cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling"


def detectron2_view_name(dataset_name: str) -> str:
    """The registered dataset that serves ``dataset_name`` to SemSegEvaluator and COCOEvaluator."""
    return f"{dataset_name}_detectron2_evaluation"


def _is_fresh(path: str, *sources: str) -> bool:
    """Whether ``path`` exists and is newer than every one of ``sources``."""
    if not os.path.exists(path):
        return False
    return all(os.path.getmtime(path) >= os.path.getmtime(source) for source in sources)


def _write_atomically(path: str, write) -> None:
    partial = f"{path}.{os.getpid()}.partial"
    write(partial)
    os.replace(partial, path)


def _with_semantic_png(record: dict, layout: SemanticLabelLayout, folder: str, panoptic_json: str) -> dict:
    """``record`` with ``sem_seg_file_name``: its panoptic ground truth as a semantic PNG of ``layout``
    (void -> IGNORE_LABEL), written under ``folder`` unless a fresh one is there."""
    pan_seg_file = record["pan_seg_file_name"]
    sem_seg_file = os.path.join(folder, os.path.splitext(os.path.basename(pan_seg_file))[0] + ".png")
    if not _is_fresh(sem_seg_file, pan_seg_file, panoptic_json):
        target = semantic_target_from_panoptic(
            read_panoptic_png(pan_seg_file, PathManager.open), record["segments_info"], layout, source=pan_seg_file
        )
        _write_atomically(sem_seg_file, lambda path: Image.fromarray(target).save(path, format="PNG"))
    return dict(record, sem_seg_file_name=sem_seg_file)


def _with_thing_annotations(record: dict) -> dict:
    """``record`` with detectron2 "annotations": one per thing segment of its panoptic PNG (RLE mask,
    the JSON's bbox and iscrowd, the thing contiguous id), unless it has instance annotations already."""
    if "annotations" in record:
        return record
    annotations = [
        {
            "bbox": segment["bbox"],
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": segment["category_id"],
            "segmentation": rle,
            "iscrowd": int(segment.get("iscrowd", 0)),
        }
        for segment, rle in thing_segment_rles(record)
    ]
    return dict(record, annotations=annotations)


def _main_process_first(function):
    """``function()`` on the main process, then on the others: where they share its folder, they find
    its files fresh and write none; on a disk of their own (another machine) they write theirs."""
    if comm.is_main_process():
        function()
    comm.synchronize()
    if not comm.is_main_process():
        function()
    comm.synchronize()


def register_detectron2_view(dataset_name: str, thing_mode: str, cache_dir: str, *, instances: bool) -> str:
    """Register (again, if it was) :func:`detectron2_view_name` of ``dataset_name``: its dataset dicts
    with ``sem_seg_file_name`` and, when the instances JSON is (re)written, "annotations"; metadata
    ``stuff_classes`` (the class names of the ``thing_mode`` layout, the model's sem_seg channels),
    ``ignore_label``, the thing classes and, with ``instances``, ``json_file`` (convert_to_coco_json's
    COCO instances JSON).

    Files go under ``cache_dir``, written by the main process first (see :func:`_main_process_first`)."""
    metadata = MetadataCatalog.get(dataset_name)
    panoptic_json = metadata.panoptic_json
    layout = SemanticLabelLayout.from_metadata(metadata, thing_mode)
    semantic_folder = os.path.join(cache_dir, f"sem_seg_{thing_mode}")
    view = detectron2_view_name(dataset_name)

    json_file = os.path.join(cache_dir, "instances.json")
    json_sources = [panoptic_json] + ([metadata.instances_json] if metadata.get("instances_json", None) else [])

    def prepare():
        os.makedirs(semantic_folder, exist_ok=True)
        records = [_with_semantic_png(r, layout, semantic_folder, panoptic_json) for r in DatasetCatalog.get(dataset_name)]
        # The annotations (every panoptic PNG read again) only to write the JSON, which COCOEvaluator reads.
        write_json = instances and not _is_fresh(json_file, *json_sources)
        if write_json:
            records = [_with_thing_annotations(r) for r in records]
        if view in DatasetCatalog:
            DatasetCatalog.remove(view)
            MetadataCatalog.remove(view)
        DatasetCatalog.register(view, lambda: records)
        view_metadata = MetadataCatalog.get(view)
        # No stuff_dataset_id_to_contiguous_id: SemSegEvaluator then takes the labels as they are (the
        # "other" layout's label 0, the things, has no dataset id).
        view_metadata.set(
            stuff_classes=list(layout.class_names),
            ignore_label=IGNORE_LABEL,
            thing_classes=list(metadata.thing_classes),
            thing_dataset_id_to_contiguous_id=dict(metadata.thing_dataset_id_to_contiguous_id),
        )
        if write_json:
            _write_atomically(json_file, lambda path: convert_to_coco_json(view, path, allow_cached=False))
        if instances:
            view_metadata.set(json_file=json_file)

    _main_process_first(prepare)
    return view


class Detectron2CityscapesEvaluator(DatasetEvaluator):
    """One of detectron2's Cityscapes evaluators, whose cityscapesscripts module (``scripts_module``)
    runs on the installed numpy (``np.in1d``, JSON of numpy scalars; files under ``folder``), its
    result's ``task`` reported as ``name``."""

    def __init__(self, evaluator: DatasetEvaluator, scripts_module: str, folder: str, task: str, name: str):
        self._evaluator = evaluator
        self._module = import_extra(scripts_module, "cityscapes", f"detectron2's {type(evaluator).__name__}")
        self._folder = folder
        self._task = task
        self._name = name

    def reset(self):
        self._evaluator.reset()

    def process(self, inputs, outputs):
        with cityscapesscripts_under_metas_name():
            self._evaluator.process(inputs, outputs)

    def evaluate(self):
        with cityscapesscripts_under_metas_name(), numpy_for_cityscapesscripts(self._module), \
                cityscapesscripts_json_writer(self._module, self._folder):
            results = self._evaluator.evaluate()
        if results and self._task in results:
            results[self._name] = results.pop(self._task)
        return results


def detectron2_evaluators(
    dataset_name: str,
    *,
    has_semantic: bool,
    has_instances: bool,
    panoptic: bool,
    thing_mode: str,
    cache_dir: str,
    output_folder: Optional[str] = None,
) -> list:
    """detectron2's evaluators of the outputs a model gives on ``dataset_name`` (see
    :func:`panfpn_d2.evaluation.build.build_panoptic_fpn_evaluators`): SemSegEvaluator (``sem_seg``),
    COCOEvaluator (``bbox``, ``segm``), COCOPanopticEvaluator (``panoptic_seg``); on Cityscapes also
    CityscapesSemSegEvaluator (IoU / iIoU in ``sem_seg``, in the "all" thing mode, whose labels are
    Cityscapes' train ids) and CityscapesInstanceEvaluator (as ``segm_cityscapes``)."""
    metadata = MetadataCatalog.get(dataset_name)
    if not metadata.get("has_annotations", True):
        raise ValueError(
            f"dataset {dataset_name!r} has no annotations: detectron2's evaluators need ground truth; "
            "TEST.EVALUATORS 'panfpn' writes its benchmark submission"
        )
    is_cityscapes = metadata.evaluator_type == "cityscapes_panoptic_seg"
    view = register_detectron2_view(dataset_name, thing_mode, cache_dir, instances=has_instances)
    evaluators = []
    if has_semantic:
        evaluators.append(SemSegEvaluator(view, distributed=True))
        if is_cityscapes and thing_mode == "all":
            evaluators.append(Detectron2CityscapesEvaluator(
                CityscapesSemSegEvaluator(dataset_name), PIXEL_LEVEL_SCRIPTS, cache_dir, "sem_seg", "sem_seg"
            ))
    if has_instances:
        evaluators.append(
            COCOEvaluator(view, tasks=("bbox", "segm"), distributed=True, output_dir=output_folder,
                          use_fast_impl=has_compiled_coco_eval())
        )
        if is_cityscapes:
            evaluators.append(Detectron2CityscapesEvaluator(
                CityscapesInstanceEvaluator(dataset_name), INSTANCE_LEVEL_SCRIPTS, cache_dir, "segm", CITYSCAPES_INSTANCE_TASK
            ))
    if panoptic:
        evaluators.append(COCOPanopticEvaluator(dataset_name, output_dir=output_folder))
    return evaluators
