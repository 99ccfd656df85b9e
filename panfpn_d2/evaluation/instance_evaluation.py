"""COCO instance AP (``bbox``, ``segm``) of the model's ``instances``, against the dataset's instances
JSON when it was registered with one, else ground truth built on the fly from the panoptic PNGs."""
import copy
import itertools
import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode
from detectron2.utils.logger import create_small_table
from detectron2.utils.file_io import PathManager
from hotcoco import mask as hotcoco_mask

from panfpn_lite.image_ids import integer_image_ids
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.segment_runs import SegmentRuns

from ..data.datasets import read_instances_json
from ..utils.env import has_compiled_coco_eval
from .gather import gather_on_main

logger = logging.getLogger(__name__)

TASKS = ("bbox", "segm")
BACKENDS = ("hotcoco", "detectron2", "pycocotools")
AP_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def default_backend() -> str:
    """detectron2's compiled COCOeval where it is built, else hotcoco's (pycocotools' numbers,
    without its pure-Python loops)."""
    return "detectron2" if has_compiled_coco_eval() else "hotcoco"


def coco_api(backend: str):
    """``(COCO, COCOeval)`` classes of a backend; all three give pycocotools' numbers."""
    if backend == "hotcoco":
        import hotcoco

        return hotcoco.COCO, hotcoco.COCOeval
    if backend == "detectron2":
        from detectron2.evaluation.fast_eval_api import COCOeval_opt
        from pycocotools.coco import COCO

        return COCO, COCOeval_opt
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    raise ValueError(f"COCO evaluation backend must be one of {BACKENDS}, got {backend!r}")


def thing_dataset_ids(instances, dataset_ids: Dict[int, int], image_id, dataset_name: str) -> List[int]:
    """The dataset category id of each of ``instances.pred_classes`` (thing contiguous ids), through
    ``dataset_ids`` (contiguous id -> dataset id); a KeyError naming the image for an unknown class."""
    categories = instances.pred_classes.tolist()
    unknown = sorted(set(categories) - set(dataset_ids))
    if unknown:
        raise KeyError(
            f"image_id {image_id}: pred_classes {unknown} are not thing contiguous ids of "
            f"{dataset_name!r} (0..{len(dataset_ids) - 1})"
        )
    return [int(dataset_ids[c]) for c in categories]


def coco_ap(
    ground_truth: dict,
    detections: List[dict],
    task: str,
    class_names: Sequence[str],
    backend: str,
) -> Tuple[Dict[str, float], Optional[object]]:
    """detectron2's AP dict (percent: AP, AP50, AP75, APs, APm, APl, ``AP-<name>``) of ``detections``
    (COCO result dicts) against ``ground_truth`` (a COCO instances dict), and the COCOeval.

    ``class_names`` follow ``ground_truth["categories"]``' order. Without detections every value
    is NaN, as in detectron2's COCOEvaluator. Image ids may be any hashable value (Cityscapes':
    strings): the COCO APIs get integers, one mapping from ``ground_truth["images"]`` (in its
    order) for ground truth and detections alike; non-negative integer ids are kept as they are.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not detections:
        logger.warning(f"No {task} detection to evaluate")
        return {metric: float("nan") for metric in AP_METRICS}, None
    integer_ids = integer_image_ids(image["id"] for image in ground_truth["images"])
    unknown = sorted({d["image_id"] for d in detections if d["image_id"] not in integer_ids}, key=repr)
    if unknown:
        raise KeyError(f"{task} detections of image id(s) {unknown[:20]} that the ground truth has no image of")
    coco_class, cocoeval_class = coco_api(backend)
    coco_gt = coco_class()
    coco_gt.dataset = copy.deepcopy(
        dict(
            ground_truth,
            images=[dict(image, id=integer_ids[image["id"]]) for image in ground_truth["images"]],
            annotations=[dict(a, image_id=integer_ids[a["image_id"]]) for a in ground_truth["annotations"]],
        )
    )
    coco_gt.createIndex()
    # A result with both fields is read as a box (area = box area) by the COCO API; keep only the
    # task's own geometry so that segm AP sizes instances by their mask area, as detectron2 does.
    dropped = "segmentation" if task == "bbox" else "bbox"
    coco_dt = coco_gt.loadRes(
        [dict({k: v for k, v in d.items() if k != dropped}, image_id=integer_ids[d["image_id"]]) for d in detections]
    )
    coco_eval = cocoeval_class(coco_gt, coco_dt, task)
    coco_eval.params.imgIds = sorted(set(integer_ids.values()))
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()

    # COCOeval's -1 means "no ground truth in this area range": NaN, as detectron2's COCOEvaluator gives.
    results = {
        metric: float(100 * coco_eval.stats[i]) if coco_eval.stats[i] >= 0 else float("nan")
        for i, metric in enumerate(AP_METRICS)
    }
    # precision: [IoU threshold, recall, class, area range "all", max detections 100]
    precision = np.asarray(coco_eval.eval["precision"])
    for k, name in enumerate(class_names):
        class_precision = precision[:, :, k, 0, -1]
        class_precision = class_precision[class_precision > -1]
        results[f"AP-{name}"] = float(100 * class_precision.mean()) if class_precision.size else float("nan")
    return results, coco_eval


def thing_segment_rles(record: dict) -> List[Tuple[dict, dict]]:
    """(segments_info entry, COCO RLE) of each thing segment of a dataset dict's panoptic PNG."""
    things = [s for s in record["segments_info"] if s["isthing"]]
    if not things:
        return []
    runs = SegmentRuns(read_panoptic_png(record["pan_seg_file_name"], PathManager.open))
    return list(zip(things, runs.rles([int(s["id"]) for s in things])))


class PanFPNInstanceEvaluator(DatasetEvaluator):
    """COCO ``bbox`` and ``segm`` AP (AP, AP50, AP75, APs, APm, APl, per class) of
    ``outputs[i]["instances"]``.

    The ground truth of each processed image is built from its dataset dict: one instance per
    thing segment (RLE from the panoptic PNG; ``iscrowd``, ``area``, ``bbox`` from the JSON).
    Detections and ground truth are kept as COCO RLE records and, in a distributed run, gathered
    to the main process. ``backend`` picks the COCOeval: "hotcoco" (default without compiled
    detectron2 ops), "detectron2" (its compiled COCOeval_opt, the default with them), or
    "pycocotools"; all give pycocotools' numbers.
    """

    def __init__(
        self,
        dataset_name: str,
        tasks: Sequence[str] = TASKS,
        *,
        distributed: bool = True,
        backend: Optional[str] = None,
    ):
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"tasks must be among {TASKS}, got {list(tasks)}")
        self._tasks = tuple(tasks)
        self._backend = backend or default_backend()
        coco_api(self._backend)  # fail now, not after a whole inference run
        self._metadata = MetadataCatalog.get(dataset_name)
        self._distributed = distributed
        self._dataset_dicts = {d["image_id"]: d for d in DatasetCatalog.get(dataset_name)}
        # Ground truth images in dataset order: the order of coco_ap's integer ids for non-integer image ids.
        self._dataset_order = {image_id: position for position, image_id in enumerate(self._dataset_dicts)}
        self._dataset_ids = {c: d for d, c in self._metadata.thing_dataset_id_to_contiguous_id.items()}
        instances_json = self._metadata.get("instances_json", None)
        # The AP ground truth: the instances JSON's annotations when the dataset has one, as given
        # (overlapping instances); otherwise one instance per thing segment of the panoptic PNG.
        self._json_instances = read_instances_json(instances_json) if instances_json else None
        self.ground_truth_source = (
            f"instances JSON {instances_json}" if instances_json else "panoptic PNGs (non-overlapping thing segments)"
        )
        self._records: List[dict] = []

    def reset(self):
        self._records = []

    def _gt_instances(self, record: dict) -> List[dict]:
        """COCO annotations of the image's things, crowd included (COCO ignores, not misses, them)."""
        if self._json_instances is not None:
            keys = ("category_id", "segmentation", "area", "bbox", "iscrowd")
            return [dict({k: a[k] for k in keys if k in a}, image_id=record["image_id"])
                    for a in self._json_instances.get(record["image_id"], [])]
        return [
            {
                "image_id": record["image_id"],
                "category_id": int(self._dataset_ids[s["category_id"]]),
                "segmentation": rle,
                "area": s["area"],
                "bbox": s["bbox"],
                "iscrowd": int(s.get("iscrowd", 0)),
            }
            for s, rle in thing_segment_rles(record)
        ]

    def _detections(self, image_id, instances) -> List[dict]:
        instances = instances.to("cpu")
        if len(instances) == 0:
            return []
        boxes = BoxMode.convert(instances.pred_boxes.tensor.numpy(), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
        masks = np.asfortranarray(instances.pred_masks.numpy().transpose(1, 2, 0).astype(np.uint8))
        rles = hotcoco_mask.encode(masks)
        categories = thing_dataset_ids(instances, self._dataset_ids, image_id, self._metadata.name)
        return [
            {
                "image_id": image_id,
                "category_id": category,
                "bbox": [float(v) for v in box],
                "score": float(score),
                "segmentation": rle,
            }
            for category, box, score, rle in zip(categories, boxes, instances.scores.tolist(), rles)
        ]

    def process(self, inputs, outputs):
        for model_input, output in zip(inputs, outputs):
            image_id = model_input["image_id"]
            if image_id not in self._dataset_dicts:
                raise KeyError(f"dataset {self._metadata.name!r} has no image with id {image_id!r}")
            record = self._dataset_dicts[image_id]
            self._records.append(
                {
                    "image_id": image_id,
                    "image": {"id": image_id, "height": record["height"], "width": record["width"]},
                    "ground_truth": self._gt_instances(record),
                    "detections": self._detections(image_id, output["instances"]),
                }
            )

    def evaluate(self):
        gathered = gather_on_main(self._records, self._distributed)
        if gathered is None:
            return {}
        records = list({r["image_id"]: r for r in itertools.chain(*gathered)}.values())
        records.sort(key=lambda r: self._dataset_order[r["image_id"]])
        if not records:
            logger.warning("PanFPNInstanceEvaluator: no prediction was processed; nothing to evaluate")
            return {}

        thing_categories = [
            {"id": int(self._dataset_ids[c]), "name": self._metadata.thing_classes[c]} for c in sorted(self._dataset_ids)
        ]
        gt_annotations = [r["ground_truth"] for r in records]
        ground_truth = {
            "images": [r["image"] for r in records],
            "annotations": [dict(a, id=i) for i, a in enumerate(itertools.chain(*gt_annotations), start=1)],
            "categories": thing_categories,
        }
        detections = list(itertools.chain(*(r["detections"] for r in records)))
        class_names = [c["name"] for c in thing_categories]
        results = OrderedDict()
        for task in self._tasks:
            results[task], _ = coco_ap(ground_truth, detections, task, class_names, self._backend)
            logger.info(f"Evaluation results for {task} ({self._backend} COCOeval, ground truth: "
                        f"{self.ground_truth_source}):\n" + create_small_table(
                {k: results[task][k] for k in AP_METRICS}
            ))
        return results
