"""Helpers of the export and runtime tests: models exported from a config, and the panoptic
maps of the eager model and of the runtime."""
from pathlib import Path

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model

from panfpn_d2.tools.export import export_model
from panfpn_d2.tools.random_weights import make_random_model_detect
from panfpn_lite.runtime.model import OnnxPanFPN
from panfpn_lite.runtime.predict import PanopticPredictor
from panfpn_lite.runtime.preprocess import read_image as runtime_read_image

from tests.support.inference_paths import eager_predictor
from tests.support.paths import COCO_SAMPLE
from tests.support.configs import r50_cfg

COCO_IMAGES = sorted((COCO_SAMPLE / "input_images").glob("*.jpg"))


def r50_parity_cfg(weights: Path, *opts):
    """The R50-FPN of the detectron2 parity test (COCO categories), weights from ``weights``."""
    cfg = r50_cfg("PanFPN", "PanFPNSemSegHead")
    cfg.merge_from_list(["DATASETS.TEST", ("panfpn_coco_2017_val",), "MODEL.WEIGHTS", str(weights), *opts])
    return cfg


def save_random_detecting_weights(cfg, path: Path, seed: int = 0) -> Path:
    """Random weights made to detect, with distinct scores, saved as a detectron2 checkpoint."""
    torch.manual_seed(seed)
    model = make_random_model_detect(build_model(cfg), class_weight_std=1e-4)
    DetectionCheckpointer(model, save_dir=str(path.parent)).save(path.stem)
    return path


def eager_panoptic(cfg, image_paths):
    """{image path: (id map, segments)} of the eager PanFPN, as the demo predicts them."""
    predict = eager_predictor(cfg)
    return {path: predict(read_image(str(path), format="BGR")) for path in image_paths}


def runtime_panoptic(model_dir, image_paths, input_format="BGR", backend=OnnxPanFPN):
    """{image path: (id map, segments)} of the runtime's predictor on ``backend`` (a class of
    ``panfpn_lite.runtime.model``), in fp32."""
    predictor = PanopticPredictor(backend(str(model_dir), num_threads=2))
    return {path: predictor.predict(runtime_read_image(str(path), input_format)) for path in image_paths}


def export(cfg, export_format, output_dir) -> Path:
    export_model(cfg, export_format, str(output_dir))
    return Path(output_dir)
