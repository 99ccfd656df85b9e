"""Cityscapes' own metrics, computed by cityscapesscripts from its file formats.

* ``PanFPNCityscapesSemSegEvaluator`` -> ``{"sem_seg": {...}}``: evalPixelLevelSemanticLabeling's
  class IoU ("IoU_cityscapes"), instance-weighted class IoU ("iIoU"), category IoU / iIoU
  ("IoU_category", "iIoU_category"), per class "iIoU-<class>" and per category
  "IoU_category-<category>" / "iIoU_category-<category>", in percent.
* ``PanFPNCityscapesInstanceEvaluator`` -> ``{"segm_cityscapes": {...}}``:
  evalInstanceLevelSemanticLabeling's "AP", "AP50" and "AP-<class>", in percent.

The keys do not clash with those of PanFPNSemSegEvaluator (mIoU, fwIoU, IoU-<class>, ...) or the
COCO-style ``segm``, so that both can run in one evaluation (build_evaluator merges the two
``sem_seg`` dicts). In the "all" thing mode "IoU_cityscapes" equals PanFPNSemSegEvaluator's mIoU:
both average TP / (TP + FP + FN) over the classes present, void pixels ignored.

Each process writes its predictions, in cityscapesscripts' formats, into one temporary folder
that the main process creates and broadcasts; the main process gathers the file lists and runs
cityscapesscripts on the processed images only (unlike detectron2's Cityscapes evaluators, which
score every ground truth file in ``gt_dir`` and fail on a subset). In a multi-machine run that
folder must be on a filesystem every machine sees (``temp_root``).
"""
import contextlib
import copy
import io
import itertools
import logging
import os
import tempfile
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from PIL import Image

from panfpn_lite.semantic_layout import SemanticLabelLayout

from ..utils.env import import_extra
from .gather import gather_on_main
from .instance_evaluation import thing_dataset_ids

logger = logging.getLogger(__name__)

SEMANTIC_TASK = "sem_seg"
INSTANCE_TASK = "segm_cityscapes"


def cityscapes_gt_file(gt_dir: str, image_id: str, suffix: str) -> str:
    """``<gt_dir>/<city>/<city>_<seq>_<frame>_gtFine_<suffix>.png`` of a Cityscapes image id."""
    city = str(image_id).rsplit("_", 2)[0]
    return os.path.join(gt_dir, city, f"{image_id}_gtFine_{suffix}.png")


def quiet_cityscapes_args(module):
    """A copy of a cityscapesscripts evaluation module's global ``args``, silent and writing no file.

    A copy, so that the module's global state (read by its own command line and by detectron2's
    evaluators) is left as it was.
    """
    args = copy.copy(module.args)
    args.quiet = True
    args.JSONOutput = False
    args.colorized = False
    # Escape codes the pixel-level module computed at import from the terminal it found then.
    args.bold = args.nocol = ""
    return args


class NumpyWithIn1d:
    """numpy as cityscapesscripts 2.3.0 calls it: with ``np.in1d``, which numpy 2.4 removed.

    Every other attribute is numpy's own. Given to cityscapesscripts' modules only while they run
    (:func:`run_cityscapesscripts`), so numpy itself is never changed.
    """

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def in1d(ar1, ar2, assume_unique=False, invert=False):
        # numpy's documented replacement: in1d(a, b) == isin(a, b).ravel()
        return np.isin(ar1, ar2, assume_unique=assume_unique, invert=invert).ravel()


@contextlib.contextmanager
def numpy_for_cityscapesscripts(module):
    """``module.np`` has ``in1d`` inside the block, whatever numpy version is installed."""
    if hasattr(np, "in1d"):
        yield
        return
    module.np = NumpyWithIn1d()
    try:
        yield
    finally:
        module.np = np


def run_cityscapesscripts(what: str, module, function: Callable, *args):
    """``function(*args)`` of cityscapesscripts' ``module`` with its printing captured; its exit on
    errors becomes a RuntimeError.

    cityscapesscripts reports problems with ``printError``: a print, then ``sys.exit(-1)``.
    """
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), numpy_for_cityscapesscripts(module):
            return function(*args)
    except SystemExit:
        raise RuntimeError(f"cityscapesscripts {what} failed: {printed.getvalue().strip()[-2000:]}") from None


class _CityscapesScriptsEvaluator(DatasetEvaluator):
    """Shared machinery: the dataset's Cityscapes metadata, a prediction folder shared by all
    processes, and the gathering of ``(image_id, prediction file)`` pairs."""

    def __init__(self, dataset_name: str, *, distributed: bool = True, temp_root: Optional[str] = None):
        import_extra("cityscapesscripts.evaluation", "cityscapes", f"{type(self).__name__}")
        self._metadata = MetadataCatalog.get(dataset_name)
        if not hasattr(self._metadata, "gt_dir"):
            raise KeyError(
                f"dataset {dataset_name!r}: metadata has no 'gt_dir' (the gtFine/<split> folder), which "
                f"{type(self).__name__} needs; register it with register_cityscapes_panoptic"
            )
        self._gt_dir = PathManager.get_local_path(self._metadata.gt_dir)
        if not os.path.isdir(self._gt_dir):
            raise FileNotFoundError(f"dataset {dataset_name!r}: gt_dir {self._gt_dir} is not a folder")
        self._distributed = distributed
        self._temp_root = temp_root
        self._image_ids = {d["image_id"] for d in DatasetCatalog.get(dataset_name)}
        self._predictions: List[Tuple[str, str]] = []
        self._prediction_dir: Optional[tempfile.TemporaryDirectory] = None
        self._prediction_path: Optional[str] = None

    def reset(self):
        """Start over in a fresh folder, created by the main process, known to all (a collective call)."""
        self._cleanup()
        self._predictions = []
        creates_folder = comm.is_main_process() or not self._distributed
        if creates_folder:
            self._prediction_dir = tempfile.TemporaryDirectory(prefix="panfpn_cityscapes_eval_", dir=self._temp_root)
        path = self._prediction_dir.name if creates_folder else None
        self._prediction_path = comm.all_gather(path)[0] if self._distributed else path

    def _cleanup(self):
        if self._prediction_dir is not None:
            self._prediction_dir.cleanup()
            self._prediction_dir = None
        self._prediction_path = None

    def _check_image(self, image_id, shape: Optional[Tuple[int, ...]], what: str):
        """Errors for a missing reset, an unknown image, no ground truth, or a ``shape`` (None: any)
        other than the ground truth's."""
        if self._prediction_path is None:
            raise RuntimeError(f"{type(self).__name__}.process before reset(): reset() creates the prediction folder")
        if image_id not in self._image_ids:
            raise KeyError(f"dataset {self._metadata.name!r} has no image with id {image_id!r}")
        gt_file = cityscapes_gt_file(self._gt_dir, image_id, "instanceIds")
        if not os.path.isfile(gt_file):
            raise FileNotFoundError(f"image_id {image_id}: Cityscapes ground truth {gt_file} does not exist")
        gt_shape = Image.open(gt_file).size[::-1]
        if shape is not None and tuple(shape) != gt_shape:
            raise ValueError(
                f"image_id {image_id}: {what} is {tuple(shape)}, its ground truth {gt_file} is {gt_shape}; "
                "predictions must be at the image's height and width"
            )

    def _gathered_predictions(self) -> Optional[List[Tuple[str, str]]]:
        """All processes' ``(image_id, prediction file)``, one per image, sorted; None off the main process."""
        gathered = gather_on_main(self._predictions, self._distributed)
        if gathered is None:
            return None
        predictions = sorted(dict(itertools.chain(*gathered)).items())
        missing = [f for _, f in predictions if not os.path.isfile(f)]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} prediction file(s) written by other processes are not visible here, e.g. "
                f"{missing[0]}; in a multi-machine run, pass a temp_root every machine shares"
            )
        return predictions

    def evaluate(self):
        try:
            predictions = self._gathered_predictions()
            if predictions is None:
                return {}
            if not predictions:
                logger.warning(f"{type(self).__name__}: no prediction was processed; nothing to evaluate")
                return {}
            return self._evaluate(predictions)
        finally:
            self._cleanup()

    def _evaluate(self, predictions: List[Tuple[str, str]]) -> Dict[str, Dict[str, float]]:
        raise NotImplementedError


def _to_percent(fraction) -> float:
    return 100.0 * float(fraction)  # NaN (nothing to average) stays NaN


class PanFPNCityscapesSemSegEvaluator(_CityscapesScriptsEvaluator):
    """cityscapesscripts' IoU, iIoU, category IoU and category iIoU of ``argmax(outputs[i]["sem_seg"])``.

    The model's semantic branch must be in the "all" thing mode, whose label i is the category
    ``metadata.category_dataset_ids[i]``: for Cityscapes (register_cityscapes_panoptic) trainId i and
    its Cityscapes label id. Each prediction is written as a label-id PNG and scored against
    ``<gt_dir>/<city>/*_gtFine_labelIds.png`` (iIoU also reads ``*_gtFine_instanceIds.png``).
    """

    def __init__(self, dataset_name: str, *, distributed: bool = True, temp_root: Optional[str] = None):
        super().__init__(dataset_name, distributed=distributed, temp_root=temp_root)  # checks the extra
        from cityscapesscripts.helpers.labels import id2label

        label_ids = SemanticLabelLayout.from_metadata(self._metadata, "all").dataset_ids
        not_evaluated = [i for i in label_ids if i not in id2label or id2label[i].ignoreInEval]
        if not_evaluated:
            raise ValueError(
                f"dataset {dataset_name!r}: category_dataset_ids {not_evaluated} are not Cityscapes label ids "
                "evaluated by cityscapesscripts (cityscapesscripts.helpers.labels)"
            )
        # Semantic label ("all" mode) -> Cityscapes label id, for a whole map at once.
        self._label_id_of = np.asarray(label_ids, dtype=np.uint8)

    def process(self, inputs, outputs):
        for model_input, output in zip(inputs, outputs):
            image_id = model_input["image_id"]
            scores = output["sem_seg"]
            if scores.shape[0] != len(self._label_id_of):
                raise ValueError(
                    f"image_id {image_id}: sem_seg has {scores.shape[0]} classes; the 'all' thing mode of "
                    f"{self._metadata.name!r} has {len(self._label_id_of)}"
                )
            self._check_image(image_id, scores.shape[1:], "sem_seg")
            labels = scores.argmax(dim=0).to(torch.device("cpu")).numpy()
            prediction_file = os.path.join(self._prediction_path, f"{image_id}_pred_labelIds.png")
            Image.fromarray(self._label_id_of[labels]).save(prediction_file)
            self._predictions.append((image_id, prediction_file))

    def _evaluate(self, predictions):
        from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as pixel_level
        from cityscapesscripts.helpers.labels import category2labels

        args = quiet_cityscapes_args(pixel_level)
        args.evalInstLevelScore = True  # iIoU: reads the *_gtFine_instanceIds.png next to each labelIds file
        args.evalPixelAccuracy = False
        gt_files = [cityscapes_gt_file(self._gt_dir, image_id, "labelIds") for image_id, _ in predictions]
        scores = run_cityscapesscripts(
            "pixel-level evaluation", pixel_level, pixel_level.evaluateImgLists, [f for _, f in predictions], gt_files, args
        )
        results = OrderedDict(
            [
                ("IoU_cityscapes", _to_percent(scores["averageScoreClasses"])),
                ("iIoU", _to_percent(scores["averageScoreInstClasses"])),
                ("IoU_category", _to_percent(scores["averageScoreCategories"])),
                ("iIoU_category", _to_percent(scores["averageScoreInstCategories"])),
            ]
        )
        # The classes and categories that have an iIoU, as cityscapesscripts defines them.
        with_instances = pixel_level.generateInstanceStats(args)
        # Per class only iIoU: class IoU is PanFPNSemSegEvaluator's IoU-<class> (same numbers).
        for name in with_instances["classes"]:
            results[f"iIoU-{name}"] = _to_percent(scores["classInstScores"][name])
        for category, category_labels in category2labels.items():
            if not all(label.ignoreInEval for label in category_labels):
                results[f"IoU_category-{category}"] = _to_percent(scores["categoryScores"][category])
        for category in with_instances["categories"]:
            results[f"iIoU_category-{category}"] = _to_percent(scores["categoryInstScores"][category])
        logger.info(
            "Cityscapes semantic segmentation ({} images): IoU {:.3f}, iIoU {:.3f}, category IoU {:.3f}, "
            "category iIoU {:.3f}".format(
                len(predictions),
                results["IoU_cityscapes"],
                results["iIoU"],
                results["IoU_category"],
                results["iIoU_category"],
            )
        )
        return OrderedDict({SEMANTIC_TASK: results})


class PanFPNCityscapesInstanceEvaluator(_CityscapesScriptsEvaluator):
    """cityscapesscripts' instance-level AP and AP50 (and per class AP) of ``outputs[i]["instances"]``.

    Each image's instances are written as binary mask PNGs plus a text file of
    ``<mask file> <label id> <score>`` lines (an empty file for no instance), and scored against
    ``<gt_dir>/<city>/*_gtFine_instanceIds.png``. ``pred_classes`` are thing contiguous ids; their
    dataset ids are Cityscapes label ids.
    """

    def __init__(self, dataset_name: str, *, distributed: bool = True, temp_root: Optional[str] = None):
        super().__init__(dataset_name, distributed=distributed, temp_root=temp_root)  # checks the extra
        from cityscapesscripts.helpers.labels import id2label

        self._label_id_of = {c: int(d) for d, c in self._metadata.thing_dataset_id_to_contiguous_id.items()}
        not_instances = [
            i for i in self._label_id_of.values() if i not in id2label or not id2label[i].hasInstances
        ]
        if not_instances:
            raise ValueError(
                f"dataset {dataset_name!r}: thing category ids {not_instances} are not Cityscapes label ids "
                "with instances (cityscapesscripts.helpers.labels)"
            )

    def process(self, inputs, outputs):
        for model_input, output in zip(inputs, outputs):
            image_id = model_input["image_id"]
            instances = output["instances"].to(torch.device("cpu"))
            masks = instances.pred_masks.numpy()
            self._check_image(image_id, masks.shape[1:] if len(instances) else None, "pred_masks")
            label_ids = thing_dataset_ids(instances, self._label_id_of, image_id, self._metadata.name)
            lines = []
            for k, (mask, label_id, score) in enumerate(zip(masks, label_ids, instances.scores.tolist())):
                # cityscapesscripts reads mask paths relative to the text file, space-separated.
                mask_name = f"{image_id}_{k}.png"
                Image.fromarray(mask.astype(bool)).save(os.path.join(self._prediction_path, mask_name))
                lines.append(f"{mask_name} {label_id} {score!r}\n")
            prediction_file = os.path.join(self._prediction_path, f"{image_id}_pred.txt")
            with open(prediction_file, "w") as f:
                f.writelines(lines)
            self._predictions.append((image_id, prediction_file))

    def _evaluate(self, predictions):
        from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as instance_level
        from cityscapesscripts.evaluation.instances2dict import instances2dict

        args = quiet_cityscapes_args(instance_level)
        # Mask paths in the text files must lie under predictionPath (readPredInfo checks the prefix).
        args.predictionPath = os.path.abspath(self._prediction_path)
        gt_files = [cityscapes_gt_file(self._gt_dir, image_id, "instanceIds") for image_id, _ in predictions]
        # The steps of evaluateImgLists without its two side effects: the ground truth cache
        # (args.gtInstancesFile, reused even when the ground truth changes) and matches.json,
        # written into the current directory.
        instance_level.setInstanceLabels(args)
        ap = run_cityscapesscripts(
            "instance-level evaluation",
            instance_level,
            lambda: instance_level.evaluateMatches(
                instance_level.matchGtWithPreds(
                    [f for _, f in predictions], gt_files, instances2dict(gt_files, False), args
                ),
                args,
            ),
        )
        averages = instance_level.computeAverages(ap, args)
        results = OrderedDict([("AP", _to_percent(averages["allAp"])), ("AP50", _to_percent(averages["allAp50%"]))])
        for name in args.instLabels:
            results[f"AP-{name}"] = _to_percent(averages["classes"][name]["ap"])
        logger.info(
            "Cityscapes instance segmentation ({} images): AP {:.3f}, AP50 {:.3f}".format(
                len(predictions), results["AP"], results["AP50"]
            )
        )
        return OrderedDict({INSTANCE_TASK: results})
