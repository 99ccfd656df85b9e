#!/usr/bin/env python
"""
Run a PanFPN model on one image from Python and print its panoptic output: the segment-id map
and each segment's record (docs/inference.md describes them).

    python examples/infer_image.py --config-file configs/COCO-PanopticSegmentation/panfpn_R_50_1x.yaml \\
        --input photo.jpg --opts MODEL.WEIGHTS path/to/model_final.pth

The model is built from the config and its MODEL.WEIGHTS loaded by detectron2's
``DefaultPredictor``, which also resizes the image to the test size (INPUT.MIN_SIZE_TEST /
MAX_SIZE_TEST); the outputs are at the image's own size. Class names come from the metadata of
DATASETS.TEST[0], the dataset the model was configured to be evaluated on.
"""
import argparse

from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor

import panfpn_d2  # noqa: F401  (registers the PanFPN architecture and the datasets)
from panfpn_d2.config import load_config


def class_name(segment: dict, metadata) -> str:
    """The name of a segment's category_id: a contiguous thing id (things) or stuff id (stuff)."""
    names = metadata.get("thing_classes" if segment["isthing"] else "stuff_classes", None) if metadata else None
    return names[segment["category_id"]] if names else "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="a PanFPN config (.yaml)")
    parser.add_argument("--input", required=True, help="an image file")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    args = parser.parse_args(argv)

    cfg = load_config(args.config_file, args.opts)
    predictor = DefaultPredictor(cfg)  # builds the model, loads MODEL.WEIGHTS, eval mode
    image = read_image(args.input, format="BGR")  # (H, W, 3) uint8, DefaultPredictor's input
    outputs = predictor(image)

    id_map, segments_info = outputs["panoptic_seg"]
    print(f"image: {args.input}, {image.shape[0]}x{image.shape[1]}")
    print(f"panoptic_seg: id map {tuple(id_map.shape)} {id_map.dtype}; {len(segments_info)} segments")
    metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0]) if cfg.DATASETS.TEST else None
    for segment in segments_info:
        area = int((id_map == segment["id"]).sum())
        fields = ", ".join(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                           for key, value in segment.items())
        print(f"  {fields} ({class_name(segment, metadata)}, {area} px)")
    if "sem_seg" in outputs:
        print(f"sem_seg: logits {tuple(outputs['sem_seg'].shape)} (semantic labels x H x W)")
    if "instances" in outputs:
        print(f"instances: {len(outputs['instances'])} detections")
    return outputs


if __name__ == "__main__":
    main()
