"""Panoptic quality of the model's ``panoptic_seg`` output, without the PNG round trip."""
import itertools
import json
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils.file_io import PathManager
from hotcoco import mask as hotcoco_mask
from hotcoco import panoptic as hotcoco_panoptic
from tabulate import tabulate

from panfpn_lite.image_ids import integer_image_ids
from panfpn_lite.panoptic_format import DatasetCategoryIds, dataset_categories, read_panoptic_png
from panfpn_lite.pq import GROUPS, is_scored, panopticapi_results, per_category_table
from panfpn_lite.pq_breakdown import CAUSES, PQBreakdown, breakdown_tables
from panfpn_lite.pq_report import require_matplotlib, write_report
from panfpn_lite.prediction_writer import PanopticPredictionWriter
from panfpn_lite.segment_runs import SegmentRuns

from .gather import gather_on_main

logger = logging.getLogger(__name__)

_GROUP_SUFFIX = {"All": "", "Things": "_th", "Stuff": "_st"}


def _metadata_path(metadata, key: str) -> str:
    if not hasattr(metadata, key):
        raise KeyError(f"dataset {metadata.name!r}: metadata has no {key!r}, which panoptic evaluation needs")
    return PathManager.get_local_path(getattr(metadata, key))


def _percent(fraction: float) -> float:
    # hotcoco's -1.0 means "no category to average": not a score, so NaN rather than -100.
    return float("nan") if fraction < 0 else 100.0 * fraction


# The categories a model's panoptic output can score on: a joint model all of them, Mask R-CNN
# alone things only, Semantic FPN alone stuff only (the paper's Table 2, lambda = 0 rows).
SCOPE_GROUPS = {"all": GROUPS, "things": ("Things",), "stuff": ("Stuff",)}


def detectron2_panoptic_results(
    hotcoco_results: dict, categories: Dict[int, dict], scope: str = "all"
) -> Dict[str, float]:
    """PQ/SQ/RQ overall, ``_th`` (things) and ``_st`` (stuff), and ``PQ-<name>``, ``SQ-<name>``,
    ``RQ-<name>`` for every category with a segment on either side, all in percent.

    With scope "things" (or "stuff"), only that group is reported: PQ/SQ/RQ are those over the
    thing (stuff) categories, equal to PQ_th/SQ_th/RQ_th (PQ_st/...), and per-class metrics are
    given for those categories only.

    Per-class keys use "-" as detectron2's "AP-<name>" and "IoU-<name>" do, so that
    ``print_csv_format`` leaves them out of its copy-paste line.
    """
    groups = SCOPE_GROUPS[scope]
    results = {}
    if scope != "all":
        for metric in ("pq", "sq", "rq"):
            results[metric.upper()] = _percent(hotcoco_results[groups[0]][metric])
    for group in groups:
        for metric in ("pq", "sq", "rq"):
            results[metric.upper() + _GROUP_SUFFIX[group]] = _percent(hotcoco_results[group][metric])
    for category_id, class_result in hotcoco_results["per_class"].items():
        if not is_scored(class_result):
            continue
        if scope != "all" and bool(categories[int(category_id)]["isthing"]) != (scope == "things"):
            continue
        name = categories[int(category_id)]["name"]
        for metric in ("pq", "sq", "rq"):
            results[f"{metric.upper()}-{name}"] = 100.0 * class_result[metric]
    return results


def detectron2_breakdown_results(breakdown: dict, scope: str = "all") -> Dict[str, float]:
    """``panfpn_lite.pq_breakdown``'s PQ by size (``PQ_small``...), boundary PQ (``PQ_boundary``) and
    PQ with each kind of error fixed (``PQ_fixed_<cause>``), in percent, for the scope's groups
    (suffixes as ``PQ_th``/``PQ_st``; with scope "things" or "stuff", unsuffixed too)."""
    groups = SCOPE_GROUPS[scope]
    sources = {f"PQ_{size}": by_size for size, by_size in breakdown["by_size"].items()}
    sources["PQ_boundary"] = breakdown["boundary"]
    sources.update({f"PQ_fixed_{cause}": breakdown["errors"]["fixed"][cause] for cause in CAUSES})
    results = {}
    for name, source in sources.items():
        if scope != "all":
            results[name] = 100.0 * source[groups[0]]["pq"]
        for group in groups:
            results[name + _GROUP_SUFFIX[group]] = 100.0 * source[group]["pq"]
    return results


def _predicted_id_map(record: dict) -> np.ndarray:
    """A compact record's segment-id map (its RLEs decoded; 0 where no segment is)."""
    id_map = np.zeros((record["height"], record["width"]), dtype=np.int64)
    if record["segments"]:
        masks = hotcoco_mask.decode([s["segmentation"] for s in record["segments"]])
        for position, segment in enumerate(record["segments"]):
            id_map[masks[:, :, position] > 0] = segment["id"]
    return id_map


def _image_pair(gt_annotations: dict, gt_folder: str, record: dict) -> tuple:
    """(gt id map, gt segments_info, predicted id map, predicted segments_info) of a compact record
    (``gt_annotations``: the ground truth's annotations by image id)."""
    gt_annotation = gt_annotations[record["image_id"]]
    return (
        read_panoptic_png(os.path.join(gt_folder, gt_annotation["file_name"])),
        gt_annotation["segments_info"],
        _predicted_id_map(record),
        [{"id": s["id"], "category_id": s["category_id"]} for s in record["segments"]],
    )


def detectron2_panoptic_table(hotcoco_results: dict, scope: str = "all") -> str:
    """The table detectron2's COCOPanopticEvaluator logs (the scope's rows only)."""
    rows = [
        [group] + [_percent(hotcoco_results[group][m]) for m in ("pq", "sq", "rq")] + [hotcoco_results[group]["n"]]
        for group in SCOPE_GROUPS[scope]
    ]
    return tabulate(
        rows,
        headers=["", "PQ", "SQ", "RQ", "#categories"],
        tablefmt="pipe",
        floatfmt=".3f",
        stralign="center",
        numalign="center",
    )


class PanFPNPanopticEvaluator(DatasetEvaluator):
    """PQ, SQ, RQ (all / things / stuff / per class) of ``outputs[i]["panoptic_seg"]``.

    ``process`` turns each predicted id map into one COCO RLE per segment (ids renumbered 1..K,
    category ids mapped back to the dataset's); only these compact records are kept and, in a
    distributed run, gathered to the main process, which runs one hotcoco evaluation against the
    dataset's COCO panoptic JSON and PNGs (metadata ``panoptic_json``, ``panoptic_root``).
    Pixels of id 0 are void and stay void. Images evaluated are the images processed.

    ``scope`` says which categories the model segments: "all", "things" (Mask R-CNN alone: PQ
    over the thing categories) or "stuff" (Semantic FPN alone: PQ over the stuff categories); see
    :func:`detectron2_panoptic_results`.

    On a dataset registered without annotations (``has_annotations`` False: COCO test-dev) there is
    nothing to score: ``evaluate`` writes the submission (PNGs + JSON, see ``write_panoptic_png``)
    and returns no metrics.

    With ``write_panoptic_png``, each rank also writes its predictions as COCO panoptic PNGs to
    ``output_dir/panoptic_predictions/`` and the main process writes
    ``output_dir/panoptic_predictions.json`` (e.g. for a benchmark server), through
    :class:`panfpn_lite.prediction_writer.PanopticPredictionWriter`.

    The per-category table (PQ/SQ/RQ/TP/FP/FN, sorted by PQ) is logged. With ``pq_breakdown``
    (TEST.PQ_BREAKDOWN), PQ by segment size, boundary PQ and the error breakdown are computed as
    ``panfpn-pq --breakdown`` computes them, logged, and returned (:func:`detectron2_breakdown_results`).
    With ``pq_report`` (TEST.PQ_REPORT), that breakdown is also drawn as ``panfpn-pq --report`` draws
    it, over the input images, in ``output_dir/pq_report/index.html`` (:mod:`panfpn_lite.pq_report`).
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: Optional[str] = None,
        *,
        write_panoptic_png: bool = False,
        distributed: bool = True,
        scope: str = "all",
        pq_breakdown: bool = False,
        pq_report: bool = False,
    ):
        if scope not in SCOPE_GROUPS:
            raise ValueError(f"PanFPNPanopticEvaluator: scope must be one of {tuple(SCOPE_GROUPS)}, got {scope!r}")
        self._scope = scope
        self._pq_breakdown = pq_breakdown
        if pq_report:
            if output_dir is None:
                raise ValueError("PanFPNPanopticEvaluator: pq_report needs an output_dir")
            require_matplotlib()  # now, not after the inference
        self._report_dir = os.path.join(output_dir, "pq_report") if pq_report else None
        metadata = MetadataCatalog.get(dataset_name)
        self._dataset_ids = DatasetCategoryIds.of_dataset(metadata)
        self._metadata = metadata
        self._distributed = distributed
        if write_panoptic_png and output_dir is None:
            raise ValueError("PanFPNPanopticEvaluator: write_panoptic_png needs an output_dir")
        self._writer = PanopticPredictionWriter(output_dir, self._dataset_ids) if write_panoptic_png else None
        self._records: List[dict] = []

    def reset(self):
        self._records = []

    def process(self, inputs, outputs):
        for model_input, output in zip(inputs, outputs):
            id_map, segments_info = output["panoptic_seg"]
            if isinstance(id_map, torch.Tensor):
                id_map = id_map.cpu().numpy()
            image_id = model_input["image_id"]
            if segments_info is None:
                raise ValueError(
                    f"image_id {image_id}: panoptic_seg has segments_info None (label_divisor format); "
                    "PanFPN outputs an id map with segments_info"
                )
            record = self._encode(image_id, id_map, segments_info)
            record["file_name"] = model_input.get("file_name")  # the report's overlays draw over it
            if self._writer is not None:
                # Its segment ids are the record's: both number the non-empty segments 1..K in order.
                png_name = os.path.splitext(os.path.basename(model_input["file_name"]))[0] + ".png"
                record["annotation"] = self._writer.write_prediction(image_id, id_map, segments_info, png_name)
            self._records.append(record)

    def _encode(self, image_id, id_map: np.ndarray, segments_info: List[dict]) -> dict:
        """The compact record of one prediction: a COCO RLE per non-empty segment, ids 1..K."""
        runs = SegmentRuns(id_map)
        listed = {int(s["id"]) for s in segments_info}
        unlisted = [int(i) for i in runs.ids if i != 0 and int(i) not in listed]
        if unlisted:
            raise ValueError(
                f"image_id {image_id}: panoptic_seg id map has segment id(s) {unlisted[:20]} that are not in "
                f"segments_info (listed: {sorted(listed)[:20]}); only id 0 may be void"
            )
        # Listed but overwritten or empty: nothing to score.
        present = [s for s in segments_info if runs.area(int(s["id"])) > 0]
        rles = runs.rles([int(s["id"]) for s in present])
        segments = [
            {
                "id": position + 1,
                "source_id": int(segment["id"]),
                "category_id": self._dataset_ids.of_segment(segment, image_id),
                "area": runs.area(int(segment["id"])),
                "segmentation": rle,
            }
            for position, (segment, rle) in enumerate(zip(present, rles))
        ]
        return {"image_id": image_id, "height": runs.height, "width": runs.width, "segments": segments}

    def _gathered_records(self) -> Optional[List[dict]]:
        gathered = gather_on_main(self._records, self._distributed)
        return None if gathered is None else list(itertools.chain(*gathered))

    def evaluate(self):
        records = self._gathered_records()
        if records is None:
            return {}
        # The last record of an image wins, should a sampler ever repeat one.
        records = list({r["image_id"]: r for r in records}.values())
        if not records:
            logger.warning("PanFPNPanopticEvaluator: no prediction was processed; nothing to evaluate")
            return {}
        if not self._metadata.get("has_annotations", True):
            self._write_submission(records)
            return {}

        gt_json_file = _metadata_path(self._metadata, "panoptic_json")
        gt_folder = _metadata_path(self._metadata, "panoptic_root")
        with open(gt_json_file) as f:
            gt_dataset = json.load(f)
        # Image ids stay as the dataset gives them (Cityscapes': strings); hotcoco gets integers,
        # one mapping from the ground truth's image list for ground truth and predictions alike.
        integer_ids = integer_image_ids(image["id"] for image in gt_dataset["images"])
        unknown = [r["image_id"] for r in records if r["image_id"] not in integer_ids]
        if unknown:
            raise KeyError(f"{gt_json_file}: no image with id(s) {unknown[:20]} among the predicted ones")
        evaluated_ids = {r["image_id"] for r in records}
        if len(evaluated_ids) < len(integer_ids):
            logger.warning(f"Panoptic evaluation of {len(evaluated_ids)} of the {len(integer_ids)} images of {gt_json_file}")
        gt_images = {image["id"]: image for image in gt_dataset["images"]}
        images = [
            dict(gt_images[i], id=integer_ids[i]) for i in sorted(evaluated_ids, key=integer_ids.__getitem__)
        ]
        gt_subset = dict(
            gt_dataset,
            images=images,
            annotations=[
                dict(a, image_id=integer_ids[a["image_id"]])
                for a in gt_dataset["annotations"]
                if a["image_id"] in evaluated_ids
            ],
        )
        predicted_segments = [
            {
                "id": segment_number,
                "image_id": integer_ids[r["image_id"]],
                "category_id": s["category_id"],
                "segmentation": s["segmentation"],
                "area": s["area"],
                "iscrowd": 0,
            }
            for segment_number, (r, s) in enumerate(
                ((r, s) for r in records for s in r["segments"]), start=1
            )
        ]
        predictions = {"images": images, "categories": gt_dataset["categories"], "annotations": predicted_segments}
        evaluation = hotcoco_panoptic.PanopticEval(gt_subset, predictions, gt_folder=gt_folder)
        evaluation.evaluate()
        hotcoco_results = evaluation.results()
        categories = {int(c["id"]): c for c in gt_dataset["categories"]}
        logger.info(
            f"Panoptic Evaluation Results ({self._scope} categories):\n"
            + detectron2_panoptic_table(hotcoco_results, self._scope)
        )
        logger.info("Per category, by PQ:\n" + "\n".join(per_category_table(hotcoco_results["per_class"], gt_dataset["categories"])))
        results = detectron2_panoptic_results(hotcoco_results, categories, self._scope)
        if self._pq_breakdown or self._report_dir:
            diagnosis = self._breakdown(gt_dataset, gt_folder, records)
            breakdown = diagnosis.result()
            logger.info("PQ by size, boundary PQ, errors:\n" + "\n".join(breakdown_tables(dict(hotcoco_results, **breakdown))))
        if self._pq_breakdown:
            results.update(detectron2_breakdown_results(breakdown, self._scope))
        if self._report_dir:
            self._write_report(dict(panopticapi_results(hotcoco_results), **breakdown), diagnosis, gt_dataset, gt_folder, records)

        if self._writer is not None:
            self._write_predictions_json(gt_dataset, records)
        return OrderedDict({"panoptic_seg": results})

    @staticmethod
    def _breakdown(gt_dataset: dict, gt_folder: str, records: List[dict]) -> PQBreakdown:
        """The ``PQBreakdown`` of the records against their ground truth PNGs."""
        breakdown = PQBreakdown(gt_dataset["categories"])
        gt_annotations = {a["image_id"]: a for a in gt_dataset["annotations"]}
        for record in records:
            breakdown.add(*_image_pair(gt_annotations, gt_folder, record), str(record["image_id"]))
        return breakdown

    def _write_report(self, results: dict, diagnosis: PQBreakdown, gt_dataset: dict, gt_folder: str, records: List[dict]):
        by_name = {str(r["image_id"]): r for r in records}
        gt_annotations = {a["image_id"]: a for a in gt_dataset["annotations"]}
        page = write_report(
            self._report_dir, results, diagnosis,
            load_pair=lambda name: _image_pair(gt_annotations, gt_folder, by_name[name]),
            photo_file=lambda name: by_name[name].get("file_name"),
        )
        logger.info(f"Wrote the PQ report to {page}")

    def _write_submission(self, records: List[dict]):
        """A split without ground truth (COCO test-dev): the PNGs written in ``process`` and a JSON of
        the dataset's images, categories and one annotation per image, for the COCO panoptic server."""
        if self._writer is None:
            raise ValueError(
                f"dataset {self._metadata.name!r} has no annotations: nothing to score; evaluate it with "
                "write_panoptic_png (build_evaluator does) to write a submission"
            )
        not_integer = [r["image_id"] for r in records if not isinstance(r["image_id"], int)]
        if not_integer:
            raise ValueError(
                f"dataset {self._metadata.name!r}: the COCO panoptic server needs integer image ids, got "
                f"{not_integer[:10]}"
            )
        with PathManager.open(PathManager.get_local_path(self._metadata.panoptic_json)) as f:
            images = json.load(f)["images"]
        evaluated = {r["image_id"] for r in records}
        missing = [image["id"] for image in images if image["id"] not in evaluated]
        if missing:
            logger.warning(f"Submission for {self._metadata.name!r} lacks {len(missing)} of its {len(images)} images")
        self._write_predictions_json({"images": images, "categories": dataset_categories(self._metadata)}, records)

    def _write_predictions_json(self, gt_dataset: dict, records: List[dict]):
        path = self._writer.write_json(**dict(gt_dataset, annotations=[r["annotation"] for r in records]))
        logger.info(f"Wrote panoptic predictions to {path} and {self._writer.png_dir}/")
