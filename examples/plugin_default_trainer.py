#!/usr/bin/env python
"""
Using panfpn_d2 from another detectron2 project: detectron2's own DefaultTrainer
trains the PanFPN architecture after nothing more than ``import panfpn_d2`` and a config
with the plugin's keys (``panfpn_d2.config.load_config``).

DefaultTrainer's data loader is detectron2's DatasetMapper, which reads datasets in
detectron2's standard format: instance "annotations" plus a semantic PNG
("sem_seg_file_name"). This example writes the toy panoptic dataset in that format
(what such a project already has) and trains on it:

    python examples/plugin_default_trainer.py --max-iter 100 --output-dir output/plugin
"""
import argparse
import os

import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultTrainer
from detectron2.structures import BoxMode

import panfpn_d2  # noqa: F401  (registers PanFPN and the toy dataset)
from panfpn_d2.config import load_config
from panfpn_d2.data import semantic_target_from_panoptic
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout


def to_detectron2_format(panoptic_dicts, metadata, sem_seg_dir):
    """Standard detectron2 dicts (RLE instance annotations + semantic PNG) from panoptic ones."""
    os.makedirs(sem_seg_dir, exist_ok=True)
    converted = []
    for record in panoptic_dicts:
        pan_seg = read_panoptic_png(record["pan_seg_file_name"])
        semantic = semantic_target_from_panoptic(pan_seg, record["segments_info"], SemanticLabelLayout.from_metadata(metadata, "other"))
        sem_seg_file = os.path.join(sem_seg_dir, f"{record['image_id']}.png")
        Image.fromarray(semantic).save(sem_seg_file)
        annotations = []
        for segment in record["segments_info"]:
            if segment["isthing"]:
                rle = mask_util.encode(np.asfortranarray(pan_seg == segment["id"]))
                rle["counts"] = rle["counts"].decode("ascii")
                annotations.append({
                    "bbox": segment["bbox"], "bbox_mode": BoxMode.XYWH_ABS, "segmentation": rle,
                    "category_id": segment["category_id"], "iscrowd": segment["iscrowd"],
                })
        converted.append({**{k: record[k] for k in ("file_name", "image_id", "height", "width")},
                          "annotations": annotations, "sem_seg_file_name": sem_seg_file})
    return converted


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--output-dir", default="output/plugin_default_trainer")
    args = parser.parse_args()

    toy_meta = MetadataCatalog.get("panfpn_toy_train")
    dicts = to_detectron2_format(DatasetCatalog.get("panfpn_toy_train"), toy_meta,
                                 os.path.join(args.output_dir, "sem_seg"))
    DatasetCatalog.register("my_project_train", lambda: dicts)
    MetadataCatalog.get("my_project_train").set(
        thing_classes=toy_meta.thing_classes, stuff_classes=toy_meta.stuff_classes, ignore_label=255)

    # detectron2's defaults + the plugin's keys + the YAML + these overrides, frozen
    cfg = load_config(
        os.path.join(os.path.dirname(__file__), "..", "configs", "Toy-PanopticSegmentation", "panfpn_toy.yaml"),
        [
            "DATASETS.TRAIN", ("my_project_train",), "DATASETS.TEST", (), "INPUT.MASK_FORMAT", "bitmask",
            "SOLVER.MAX_ITER", args.max_iter, "OUTPUT_DIR", args.output_dir,
        ],
    )
    trainer = DefaultTrainer(cfg)  # detectron2's own trainer and DatasetMapper
    trainer.resume_or_load(resume=False)
    trainer.train()


if __name__ == "__main__":
    main()
