"""The metadata file written beside an export: what a runtime needs besides the graph.

Its schema (``format_version``, key names) is ``panfpn_lite.runtime.model``'s, which reads it.
"""
import json
import os

import torch
from detectron2.data import MetadataCatalog

import panfpn_d2
from panfpn_lite.panoptic_format import DatasetCategoryIds, dataset_categories
from panfpn_lite.runtime.model import FORMAT_VERSION, INPUT_NAME, METADATA_FILE, MODEL_FILES, OUTPUT_NAMES

from .graph import runtime_merge_settings
from .onnx import OPSET_VERSION


def export_metadata(cfg, model, export_format: str) -> dict:
    """The metadata of ``model`` (built from ``cfg``) exported in ``export_format``."""
    if not cfg.DATASETS.TEST:
        raise ValueError(
            "DATASETS.TEST is empty: the export's categories (dataset ids and names) are those of DATASETS.TEST[0]"
        )
    dataset = MetadataCatalog.get(cfg.DATASETS.TEST[0])
    label_to_category = model.semantic_label_to_category
    return {
        "format_version": FORMAT_VERSION,
        "format": export_format,
        "model_file": MODEL_FILES[export_format],
        "exported_by": {"panfpn_d2": panfpn_d2.__version__, "torch": torch.__version__, "onnx_opset": OPSET_VERSION},
        "weights": cfg.MODEL.WEIGHTS,
        "graph": {"input": INPUT_NAME, "outputs": list(OUTPUT_NAMES)},
        "input": {
            # The graph normalizes and pads; mean, std and divisibility are for reference.
            "format": cfg.INPUT.FORMAT,
            "pixel_mean": list(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": list(cfg.MODEL.PIXEL_STD),
            "min_size_test": cfg.INPUT.MIN_SIZE_TEST,
            "max_size_test": cfg.INPUT.MAX_SIZE_TEST,
            "size_divisibility": model.backbone.size_divisibility,
        },
        # pasteable_only: the graph's instances are only those the panoptic merge can paste
        # (MODEL.PANFPN.OUTPUTS panoptic only; deploy/graph.py)
        "instances": {"mask_threshold": 0.5, "score_thresh_test": cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST,
                      "pasteable_only": model.masks_only_for_pasteable},
        "semantic": {
            "common_stride": model.sem_seg_head.common_stride,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "label_to_category": None if label_to_category is None else label_to_category.tolist(),
        },
        "merge": {"enabled": model.combine_enabled, **runtime_merge_settings(model.merge_settings).to_metadata()},
        "dataset": {
            "name": dataset.name,
            "categories": dataset_categories(dataset),
            **DatasetCategoryIds.of_dataset(dataset).to_export(),
        },
    }


def write_metadata(metadata: dict, output_dir: str) -> str:
    path = os.path.join(output_dir, METADATA_FILE)
    with open(path, "w") as f:
        json.dump(metadata, f, indent=1)
    return path
