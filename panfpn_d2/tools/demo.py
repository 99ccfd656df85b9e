"""Run a PanFPN model on images, a video or a webcam and draw its panoptic output.

    python -m panfpn_d2.tools.demo --config-file C --input IMG|FOLDER|GLOB [...] --output DIR \\
        [--write-panoptic] [--confidence-threshold T] [--opts KEY VALUE ...]
    python -m panfpn_d2.tools.demo --config-file C --video-input VIDEO --output DIR
    python -m panfpn_d2.tools.demo --config-file C --webcam --output DIR

Overlays are drawn by detectron2's Visualizer with the class names and colours of
``cfg.DATASETS.TEST[0]``: the panoptic segmentation when the model makes one, otherwise the
semantic segmentation and/or the instances of the branches it has. Images are written to
``DIR/<input file name>``, a video to ``DIR/<video name>.mp4``, the webcam to ``DIR/webcam.mp4``
(until Ctrl-C or ``--max-frames``). With ``--write-panoptic`` the panoptic predictions of images
are also written in COCO panoptic format: ``DIR/panoptic_predictions/<name>.png`` and
``DIR/panoptic_predictions.json`` (dataset category ids).
"""
import argparse
import logging
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import tqdm

from ..utils.env import import_extra

# before detectron2's visualizers, which import cv2 themselves
cv2 = import_extra("cv2", "demo", "panfpn_d2.tools.demo")

from detectron2.data import Metadata, MetadataCatalog  # noqa: E402
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor
from detectron2.utils.logger import setup_logger
from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, Visualizer

from panfpn_lite.panoptic_format import DatasetCategoryIds, dataset_categories
from panfpn_lite.prediction_writer import PanopticPredictionWriter, image_record
from panfpn_lite.runtime.inputs import image_paths
from panfpn_lite.semantic_layout import SemanticLabelLayout

from ..config import load_config, model_outputs, semantic_layout
from .cli import add_config_arguments

logger = logging.getLogger(__name__)

VIDEO_FOURCC = "mp4v"


def semantic_label_metadata(metadata, layout: SemanticLabelLayout) -> Metadata:
    """Metadata whose ``stuff_classes``/``stuff_colors`` are indexed by the semantic branch's labels.

    In the "other" thing mode the labels are the stuff contiguous ids (0 = 'things'), as in the
    dataset's metadata; in the "all" mode they are the layout's, one per category.
    """
    if layout.thing_mode == "other":
        return metadata
    return Metadata(
        name=f"{metadata.name} (semantic labels)",
        thing_classes=metadata.thing_classes,
        thing_colors=metadata.thing_colors,
        stuff_classes=layout.class_names,
        stuff_colors=layout.colors,
    )


def drawn_outputs(cfg) -> Tuple[str, ...]:
    """The model outputs the demo draws: the panoptic segmentation alone when the model makes one
    (then the mask head runs only for the instances it pastes), else what the model gives."""
    outputs = model_outputs(cfg)
    return ("panoptic_seg",) if "panoptic_seg" in outputs else outputs


class PanopticDemo:
    """Predicts with a ``DefaultPredictor`` and draws what the model outputs."""

    def __init__(self, predictor: DefaultPredictor, metadata, layout: SemanticLabelLayout):
        self.predictor = predictor
        self.metadata = metadata
        self.semantic_metadata = semantic_label_metadata(metadata, layout)

    @classmethod
    def from_config(cls, cfg):
        if not cfg.DATASETS.TEST:
            raise ValueError(
                "DATASETS.TEST is empty: the demo draws with the class names and colours of DATASETS.TEST[0]"
            )
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.PANFPN.OUTPUTS = drawn_outputs(cfg)
        cfg.freeze()
        return cls(DefaultPredictor(cfg), MetadataCatalog.get(cfg.DATASETS.TEST[0]), semantic_layout(cfg))

    def predict(self, image_bgr: np.ndarray) -> dict:
        """The model's outputs for one BGR image, on the CPU."""
        predictions = self.predictor(image_bgr)
        if "panoptic_seg" in predictions:
            id_map, segments_info = predictions["panoptic_seg"]
            predictions["panoptic_seg"] = (id_map.cpu(), segments_info)
        if "sem_seg" in predictions:
            predictions["sem_seg"] = predictions["sem_seg"].cpu()
        if "instances" in predictions:
            predictions["instances"] = predictions["instances"].to("cpu")
        return predictions

    def metadata_for(self, predictions: dict):
        return self.metadata if "panoptic_seg" in predictions else self.semantic_metadata

    @staticmethod
    def drawing_steps(predictions: dict) -> list:
        """(Visualizer method, arguments) for each layer to draw: the panoptic segmentation, or
        whichever of the semantic segmentation and the instances the model gave."""
        if "panoptic_seg" in predictions:
            id_map, segments_info = predictions["panoptic_seg"]
            # Copies: the Visualizer writes an "area" into the segment dicts it is given.
            return [("draw_panoptic_seg_predictions", (id_map, [dict(s) for s in segments_info]))]
        steps = []
        if "sem_seg" in predictions:
            steps.append(("draw_sem_seg", (predictions["sem_seg"].argmax(dim=0),)))
        if "instances" in predictions:
            steps.append(("draw_instance_predictions", (predictions["instances"],)))
        if not steps:
            raise ValueError(f"the model's output has nothing to draw (keys: {sorted(predictions)})")
        return steps

    def draw(self, image_rgb: np.ndarray, predictions: dict) -> np.ndarray:
        """The overlay (RGB) of the predictions on an image."""
        visualizer = Visualizer(image_rgb, self.metadata_for(predictions), instance_mode=ColorMode.IMAGE)
        for method, arguments in self.drawing_steps(predictions):
            output = getattr(visualizer, method)(*arguments)
        return output.get_image()

    def draw_video_frame(self, video_visualizer: VideoVisualizer, frame_rgb: np.ndarray, predictions: dict):
        """The overlay (RGB) of one frame; the VideoVisualizer keeps instance colours across frames."""
        for method, arguments in self.drawing_steps(predictions):
            frame_rgb = getattr(video_visualizer, method)(frame_rgb, *arguments).get_image()
        return frame_rgb

    def run_on_images(self, paths: Sequence[str], output_dir: str, write_panoptic: bool = False) -> List[str]:
        """Write the overlay of each image to ``output_dir``; return the files written."""
        os.makedirs(output_dir, exist_ok=True)
        writer = PanopticPredictionWriter(output_dir, DatasetCategoryIds.of_dataset(self.metadata)) if write_panoptic else None
        written, images, annotations = [], [], []
        for path in tqdm.tqdm(paths, desc="images", unit="image", disable=len(paths) < 2):
            image_bgr = read_image(path, format="BGR")
            predictions = self.predict(image_bgr)
            overlay_path = os.path.join(output_dir, os.path.basename(path))
            overlay = self.draw(image_bgr[:, :, ::-1], predictions)
            if not cv2.imwrite(overlay_path, np.ascontiguousarray(overlay[:, :, ::-1])):
                raise OSError(f"could not write {overlay_path}")
            written.append(overlay_path)
            if write_panoptic:
                if "panoptic_seg" not in predictions:
                    raise ValueError(
                        "--write-panoptic: the model makes no panoptic output (it needs "
                        "MODEL.PANOPTIC_FPN.COMBINE.ENABLED True)"
                    )
                image_id = os.path.splitext(os.path.basename(path))[0]
                id_map, segments_info = predictions["panoptic_seg"]
                annotations.append(writer.write_prediction(image_id, id_map.numpy(), segments_info))
                written.append(writer.png_path(annotations[-1]))
                images.append(image_record(image_id, os.path.basename(path), id_map))
        if write_panoptic:
            written.append(writer.write_json(images, annotations, dataset_categories(self.metadata)))
        return written

    def run_on_video(self, capture: cv2.VideoCapture, output_path: str, max_frames: Optional[int] = None) -> int:
        """Write the overlaid frames of a capture (file or camera) to ``output_path``; return their number."""
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        total = min(total, max_frames) if total > 0 and max_frames else (total if total > 0 else max_frames)
        fps = capture.get(cv2.CAP_PROP_FPS)
        writer = video_visualizer = None
        num_frames = 0
        progress = tqdm.tqdm(total=total, desc="frames", unit="frame")
        try:
            for frame_bgr in _frames(capture, max_frames):
                predictions = self.predict(frame_bgr)
                if video_visualizer is None:
                    video_visualizer = VideoVisualizer(self.metadata_for(predictions), ColorMode.IMAGE)
                    height, width = frame_bgr.shape[:2]
                    writer = cv2.VideoWriter(
                        output_path, cv2.VideoWriter_fourcc(*VIDEO_FOURCC), fps if fps > 0 else 30.0, (width, height)
                    )
                    if not writer.isOpened():
                        raise OSError(f"could not open {output_path} for writing ({VIDEO_FOURCC} video)")
                overlay = self.draw_video_frame(video_visualizer, frame_bgr[:, :, ::-1], predictions)
                writer.write(np.ascontiguousarray(overlay[:, :, ::-1]))
                num_frames += 1
                progress.update()
        except KeyboardInterrupt:
            logger.info(f"interrupted after {num_frames} frames")
        finally:
            progress.close()
            if writer is not None:
                writer.release()
        return num_frames


def _frames(capture: cv2.VideoCapture, max_frames: Optional[int]) -> Iterator[np.ndarray]:
    count = 0
    while max_frames is None or count < max_frames:
        ok, frame = capture.read()
        if not ok:
            return
        count += 1
        yield frame


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", nargs="+", metavar="IMG|FOLDER|GLOB", help="images, folders of images or globs")
    source.add_argument("--video-input", metavar="FILE", help="a video file")
    source.add_argument("--webcam", action="store_true", help="camera 0, until Ctrl-C or --max-frames")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the overlays")
    parser.add_argument(
        "--write-panoptic", action="store_true", help="also write image predictions as COCO panoptic PNG + JSON"
    )
    parser.add_argument(
        "--confidence-threshold",
        type=float,
        default=None,
        help="minimum instance score, for detection and for the panoptic merge (default: the config's)",
    )
    parser.add_argument("--max-frames", type=int, default=None, help="stop a video or the webcam after N frames")
    add_config_arguments(parser)
    return parser


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="detectron2")
    setup_logger(name="panfpn_d2")
    opts = list(args.opts)
    if args.confidence_threshold is not None:
        opts += [
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST", args.confidence_threshold,
            "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", args.confidence_threshold,
        ]
    cfg = load_config(args.config_file, opts)
    demo = PanopticDemo.from_config(cfg)
    with torch.no_grad():
        if args.input:
            written = demo.run_on_images(image_paths(args.input), args.output, args.write_panoptic)
            logger.info(f"wrote {len(written)} files to {args.output}")
            return
        os.makedirs(args.output, exist_ok=True)
        if args.webcam:
            capture, name = cv2.VideoCapture(0), "webcam"
        else:
            capture, name = cv2.VideoCapture(args.video_input), os.path.splitext(os.path.basename(args.video_input))[0]
        if not capture.isOpened():
            raise OSError(f"could not open {'camera 0' if args.webcam else repr(args.video_input)}")
        output_path = os.path.join(args.output, f"{name}.mp4")
        try:
            num_frames = demo.run_on_video(capture, output_path, args.max_frames)
        finally:
            capture.release()
        logger.info(f"wrote {num_frames} frames to {output_path}")


if __name__ == "__main__":
    main()
