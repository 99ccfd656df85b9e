"""Panoptic predictions of an exported PanFPN with ONNX Runtime, without torch or detectron2.

    panfpn-predict --model DIR --input IMG|FOLDER|GLOB [...] --output OUT [--threads N]

DIR is a folder written by ``python -m panfpn_d2.tools.export --format onnx``. Writes the COCO
panoptic layout of the demo's ``--write-panoptic``: ``OUT/panoptic_predictions.json`` and
``OUT/panoptic_predictions/<image name>.png``, with the dataset's category ids. Every image is
predicted before anything is written, so an error leaves OUT as it was.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

import numpy as np

from ..merge_settings import MergeSettings
from ..panoptic_format import DatasetCategoryIds
from .inputs import image_paths
from .merge import merge_panoptic
from .model import METADATA_FILE, OnnxPanFPN
from .postprocess import paste_masks, rescale_boxes, semantic_labels
from .preprocess import read_image, resize_for_model
from .writer import write_panoptic_predictions


class PanopticPredictor:
    """Image -> (panoptic id map, segments with the model's contiguous category ids)."""

    def __init__(self, model: OnnxPanFPN):
        self.model = model
        self.metadata = model.metadata
        self.merge_settings = MergeSettings.from_metadata(self.metadata["merge"], METADATA_FILE)

    def predict(self, image: np.ndarray):
        """The panoptic prediction for one (H, W, 3) uint8 image in the model's input format, at its size."""
        input_meta = self.metadata["input"]
        model_input = resize_for_model(image, input_meta["min_size_test"], input_meta["max_size_test"])
        outputs = self.model.run(model_input)
        resized_hw, output_hw = model_input.shape[1:], image.shape[:2]
        semantic = semantic_labels(
            outputs["semantic_logits"], self.metadata["semantic"]["common_stride"], resized_hw, output_hw
        )
        boxes, nonempty = rescale_boxes(outputs["boxes"], resized_hw, output_hw)
        masks = paste_masks(
            outputs["mask_probs"][nonempty], boxes[nonempty], output_hw, self.metadata["instances"]["mask_threshold"]
        )
        return merge_panoptic(
            outputs["scores"][nonempty],
            outputs["classes"][nonempty],
            masks,
            semantic,
            self.merge_settings,
            self.metadata["semantic"]["label_to_category"],
        )


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panfpn-predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, metavar="DIR", help="folder of an ONNX export")
    parser.add_argument("--input", required=True, nargs="+", metavar="IMG|FOLDER|GLOB", help="images")
    parser.add_argument("--output", required=True, metavar="OUT", help="folder for the COCO panoptic predictions")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: its own choice)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    try:
        paths = image_paths(args.input)
        predictor = PanopticPredictor(OnnxPanFPN(args.model, args.threads))
        input_format = predictor.metadata["input"]["format"]
        predictions = []
        for path in paths:
            id_map, segments = predictor.predict(read_image(path, input_format))
            image_id = os.path.splitext(os.path.basename(path))[0]
            predictions.append(
                {
                    "image_id": image_id,
                    "file_name": os.path.basename(path),
                    "id_map": id_map,
                    "segments": segments,
                }
            )
        dataset = predictor.metadata["dataset"]
        written = write_panoptic_predictions(
            args.output, predictions, dataset["categories"], DatasetCategoryIds.from_export(dataset)
        )
    except (ValueError, OSError) as e:  # ModelFileError and ImageReadError are ValueErrors
        parser.exit(1, f"panfpn-predict: error: {e}\n")
    print(f"wrote {len(written)} files to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
