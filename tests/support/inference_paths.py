"""Every inference path of one model: the eager PanFPN in fp32 and bf16 and ``panfpn-predict``'s
predictor on each backend and precision, each an image -> (id map, segments) function, compared
with eager fp32 over a dataset's images by pixel agreement and PQ. Used by the reduced-precision
tests and benchmarks/bench_backends.py."""
import contextlib
import io
from pathlib import Path

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor

from panfpn_d2.deploy.quantize import DEFAULT_CALIBRATION_COUNT
from panfpn_d2.tools.export import export_model
from panfpn_lite.panoptic_format import DatasetCategoryIds, dataset_categories
from panfpn_lite.pq import pq_compute
from panfpn_lite.prediction_writer import PNG_SUBDIR, PanopticPredictionWriter, image_record
from panfpn_lite.runtime.model import BACKEND_CLASSES
from panfpn_lite.runtime.precision import PrecisionError, check_precision, choose_eager_precision
from panfpn_lite.runtime.predict import PanopticPredictor

from .panoptic_agreement import category_agreement

EAGER_FP32 = "PanFPN eager fp32"
RUNTIME_PRECISIONS = ("fp32", "bf16", "int8")


def eager_predictor(cfg):
    """The demo's predictor (DefaultPredictor) as image -> (id map, segments)."""
    predictor = DefaultPredictor(cfg)

    def predict(image):
        with torch.no_grad():
            id_map, segments = predictor(image)["panoptic_seg"]
        return id_map.numpy(), segments

    return predict


def eager_paths(cfg, flags):
    """({EAGER_FP32: (predict, "fp32"), "PanFPN eager bf16": ... where this CPU runs it},
    [(path left out, why)])."""
    paths = {EAGER_FP32: (eager_predictor(cfg), "fp32")}
    left_out = []
    try:
        choose_eager_precision("bf16", "cpu", flags)
        cfg_bf16 = cfg.clone()
        cfg_bf16.merge_from_list(["MODEL.PANFPN.INFERENCE_PRECISION", "bf16"])
        paths["PanFPN eager bf16"] = (eager_predictor(cfg_bf16), "bf16")
    except PrecisionError as e:
        left_out.append(("PanFPN eager bf16", str(e)))
    return paths, left_out


def runtime_path_names(flags):
    """(["<backend> <precision>" this CPU runs], [(path left out, why)]) for an fp32 and an int8 export."""
    names, left_out = [], []
    for backend in BACKEND_CLASSES:
        for precision in RUNTIME_PRECISIONS:
            name = f"{backend} {precision}"
            try:
                check_precision(backend, precision, flags, quantized_model=precision == "int8")
                names.append(name)
            except PrecisionError as e:
                left_out.append((name, str(e)))
    return names, left_out


def panoptic_only(cfg):
    """``cfg`` with ``MODEL.PANFPN.OUTPUTS ("panoptic_seg",)``: the eager model runs, and the export
    keeps, the mask head only for the detections the merge can paste."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.PANFPN.OUTPUTS = ("panoptic_seg",)
    cfg.freeze()
    return cfg


def runtime_paths(cfg, work_dir: Path, calibration_folder, calibration_count: int, threads: int, flags, only=None):
    """``panfpn-predict``'s predictor on each backend and precision this CPU runs, on the panoptic-only
    export of ``cfg`` to ``work_dir`` (fp32, and int8 calibrated on ``calibration_folder``; the
    runtime makes panoptic maps only; with ``only``, just the paths it names):
    ({name: (predict, precision)}, [(path left out, why)])."""
    cfg = panoptic_only(cfg)
    export_model(cfg, "onnx", str(work_dir / "onnx"))
    export_model(cfg, "onnx", str(work_dir / "onnx_int8"), "int8", str(calibration_folder), calibration_count)
    names, left_out = runtime_path_names(flags)
    paths = {}
    for name in names if only is None else [name for name in names if name in only]:
        backend, precision = name.split()
        model_dir = work_dir / ("onnx_int8" if precision == "int8" else "onnx")
        paths[name] = (PanopticPredictor(BACKEND_CLASSES[backend](str(model_dir), threads, precision)).predict, precision)
    return paths, left_out


def dataset_images(dataset: str, input_format: str):
    """{image id: (file name, image in ``input_format``)} of a registered panoptic dataset."""
    return {
        record["image_id"]: (Path(record["file_name"]).name, read_image(record["file_name"], format=input_format))
        for record in DatasetCatalog.get(dataset)
    }


def panoptic_quality(predictions: dict, dataset: str, output: Path) -> float:
    """PQ (points) of {image id: (file name, id map, segments)} against ``dataset``'s ground truth,
    the predictions written to ``output`` by the prediction writer every tool uses."""
    metadata = MetadataCatalog.get(dataset)
    writer = PanopticPredictionWriter(str(output), DatasetCategoryIds.of_dataset(metadata))
    records, annotations = [], []
    for image_id, (file_name, id_map, segments) in predictions.items():
        annotations.append(writer.write_prediction(image_id, id_map, segments))
        records.append(image_record(image_id, file_name, id_map))
    prediction_json = writer.write_json(records, annotations, dataset_categories(metadata))
    with contextlib.redirect_stdout(io.StringIO()):  # its table: only PQ is wanted here
        results = pq_compute(metadata.panoptic_json, prediction_json, metadata.panoptic_root, str(output / PNG_SUBDIR))
    return 100 * results["All"]["pq"]


def compare_paths(paths: dict, dataset: str, input_format: str, work_dir: Path) -> dict:
    """{path: (share of pixels in a segment of the same category as EAGER_FP32's over all of
    ``dataset``'s images, PQ)} of each of ``paths`` ({name: (predict, precision)})."""
    images = dataset_images(dataset, input_format)
    predictions = {
        name: {image_id: predict(image) for image_id, (_, image) in images.items()} for name, (predict, _) in paths.items()
    }
    reference = predictions[EAGER_FP32]
    pixels = [reference[image_id][0].size for image_id in images]
    results = {}
    for name, by_image in predictions.items():
        agreement = np.average([category_agreement(reference[i], by_image[i]) for i in images], weights=pixels)
        pq = panoptic_quality(
            {i: (images[i][0], *by_image[i]) for i in images}, dataset, work_dir / name.replace(" ", "_")
        )
        results[name] = (float(agreement), pq)
    return results


def compare_every_path(cfg, calibration_folder, work_dir: Path, threads: int, flags, eager_flags=None):
    """(:func:`compare_paths` of every eager and runtime path of ``cfg`` this CPU runs over its
    DATASETS.TEST[0], [(path left out, why)]); the int8 export calibrated on the first
    DEFAULT_CALIBRATION_COUNT images of ``calibration_folder``; ``eager_flags`` (default ``flags``)
    decide the eager paths."""
    paths, left_out = eager_paths(cfg, flags if eager_flags is None else eager_flags)
    runtime, runtime_left_out = runtime_paths(
        cfg, work_dir / "export", calibration_folder, DEFAULT_CALIBRATION_COUNT, threads, flags
    )
    results = compare_paths({**paths, **runtime}, cfg.DATASETS.TEST[0], cfg.INPUT.FORMAT, work_dir / "predictions")
    return results, left_out + runtime_left_out
