"""Panoptic predictions of an exported PanFPN with ONNX Runtime or OpenVINO, without torch or detectron2.

    panfpn-predict --model DIR --input IMG|VIDEO|FOLDER|GLOB [...] --output OUT
        [--backend onnxruntime|openvino] [--precision fp32|bf16|int8|auto] [--threads N]
        [--decode-threads N] [--overwrite]

DIR is a folder written by ``python -m panfpn_d2.tools.export --format onnx``. Writes the COCO
panoptic layout of the demo's ``--write-panoptic``: ``OUT/panoptic_predictions/<image name>.png``,
each as soon as it is predicted, and ``OUT/panoptic_predictions.json`` at the end, with the
dataset's category ids. A video file (OpenCV, the ``video`` extra) is predicted frame by frame:
``<video name>_<frame>.png``, JSON file name ``<video file>#<frame>`` (frames from 0, 6 digits).
Decoding (a thread pool), the network and the merge and PNG writing (a writer thread) overlap.
Images whose PNG and JSON entry a previous run wrote are skipped unless ``--overwrite``. An
unreadable image is reported and skipped; the run ends with the list of failures and exit status 1.
"""
import argparse
import json
import os
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..merge_settings import MergeSettings
from ..panoptic_format import DatasetCategoryIds
from ..prediction_writer import PanopticPredictionWriter, image_record
from .inputs import InputImage, image_paths, input_images
from .merge import merge_panoptic
from .model import METADATA_FILE, OnnxPanFPN, OpenVinoPanFPN, open_model
from .postprocess import paste_masks, rescale_boxes, semantic_labels
from .precision import AUTO, BACKENDS, PRECISIONS
from .preprocess import resize_for_model


class PanopticPredictor:
    """Image -> (panoptic id map, segments with the model's contiguous category ids)."""

    def __init__(self, model: Union[OnnxPanFPN, OpenVinoPanFPN]):
        self.model = model
        self.metadata = model.metadata
        self.merge_settings = MergeSettings.from_metadata(self.metadata["merge"], METADATA_FILE)

    def predict(self, image: np.ndarray):
        """The panoptic prediction for one (H, W, 3) uint8 image in the model's input format, at its size."""
        return self.panoptic(self.network_outputs(image), image.shape[:2])

    def network_outputs(self, image: np.ndarray) -> Tuple[Dict[str, np.ndarray], Tuple[int, int]]:
        """(the graph's outputs, the resized size they refer to) for one image: the network's part."""
        input_meta = self.metadata["input"]
        model_input = resize_for_model(image, input_meta["min_size_test"], input_meta["max_size_test"])
        return self.model.run(model_input), model_input.shape[1:]

    def panoptic(self, network_outputs, output_hw: Tuple[int, int]):
        """(panoptic id map, segments) at ``output_hw`` from :meth:`network_outputs`: the host's part."""
        outputs, resized_hw = network_outputs
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


class InlineExecutor:
    """Runs each submitted call at once: the sequential path (``--decode-threads 0``), through the
    pipeline's own code."""

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as e:  # delivered by result(), as from a thread pool
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


class Progress:
    """A progress line on stderr: images done of the total and images/s (in place on a terminal,
    every tenth of the run otherwise)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream, self.done, self.failed = total, stream or sys.stderr, 0, 0
        self.start = time.perf_counter()
        self.in_place = self.stream.isatty()

    def update(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        if not (self.in_place or self.done == self.total or self.done % max(self.total // 10, 1) == 0):
            return
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        failures = f", {self.failed} failed" if self.failed else ""
        end = "\r" if self.in_place and self.done < self.total else "\n"
        self.stream.write(f"panfpn-predict: {self.done}/{self.total} images, {rate:.2f} images/s{failures}{end}")
        self.stream.flush()


def error_message(path: str, error: Exception) -> str:
    return str(error) if path in str(error) else f"{path}: {error}"


def previous_predictions(writer: PanopticPredictionWriter) -> Dict[str, Tuple[dict, dict]]:
    """{input file name: (image record, annotation)} of a previous run's predictions in the
    writer's folder whose PNG is there."""
    if not os.path.isfile(writer.json_path):
        return {}
    try:
        with open(writer.json_path, encoding="utf-8") as f:
            previous = json.load(f)
        images = {image["id"]: image for image in previous["images"]}
        records = [(images[a["image_id"]], a) for a in previous["annotations"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{writer.json_path}: not a readable predictions file ({e!r}); --overwrite predicts every image again"
        ) from e
    return {
        image["file_name"]: (image, annotation)
        for image, annotation in records
        if os.path.isfile(os.path.join(writer.png_dir, annotation["file_name"]))
    }


def predict_folder(
    predictor: PanopticPredictor,
    images: Sequence[InputImage],
    writer: PanopticPredictionWriter,
    decode_threads: int,
    progress: Progress,
) -> Tuple[Dict[str, Tuple[dict, dict]], List[str]]:
    """({image name: (image record, annotation)} of the images predicted and written, failure messages).

    Images are decoded by ``decode_threads`` threads ahead of the network (0: one after the other
    in this thread), run through the network here (both runtimes release the GIL while they
    compute), and merged and written by a writer thread; each image's files depend on it alone,
    so the output is that of the sequential path.
    """
    input_format = predictor.metadata["input"]["format"]
    def finish(image: InputImage, output_hw, network_outputs) -> Tuple[dict, dict]:
        id_map, segments = predictor.panoptic(network_outputs, output_hw)
        annotation = writer.write_prediction(image.image_id, id_map, segments)
        return image_record(image.image_id, image.name, id_map), annotation

    threaded = decode_threads > 0
    decoder = ThreadPoolExecutor(decode_threads, "panfpn-decode") if threaded else InlineExecutor()
    finisher = ThreadPoolExecutor(1, "panfpn-write") if threaded else InlineExecutor()
    window = 2 * decode_threads + 1
    results: Dict[str, Tuple[dict, dict]] = {}
    failures: List[str] = []

    def collect(item: InputImage, future: Future) -> None:
        try:
            results[item.name] = future.result()
        except Exception as e:  # a bad image is reported, the others are still written
            failures.append(error_message(item.name, e))
        progress.update(failed=item.name not in results)

    remaining = iter(images)
    decoding: deque = deque()
    writing: deque = deque()
    try:
        while True:
            while len(decoding) < window:
                item = next(remaining, None)
                if item is None:
                    break
                decoding.append((item, decoder.submit(item.read, input_format)))
            if not decoding:
                break
            item, decoded = decoding.popleft()
            try:
                image = decoded.result()
                outputs = predictor.network_outputs(image)
            except Exception as e:
                failures.append(error_message(item.name, e))
                progress.update(failed=True)
                continue
            writing.append((item, finisher.submit(finish, item, image.shape[:2], outputs)))
            while writing and (len(writing) > window or writing[0][1].done()):
                collect(*writing.popleft())
        while writing:
            collect(*writing.popleft())
    finally:
        decoder.shutdown(wait=True)
        finisher.shutdown(wait=True)
    return results, failures


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panfpn-predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, metavar="DIR", help="folder of an ONNX export")
    parser.add_argument("--input", required=True, nargs="+", metavar="IMG|VIDEO|FOLDER|GLOB",
                        help="image files, video files (each frame), folders of images, glob patterns")
    parser.add_argument("--output", required=True, metavar="OUT", help="folder for the COCO panoptic predictions")
    parser.add_argument("--backend", choices=BACKENDS, default="onnxruntime", help="runtime (default: onnxruntime)")
    parser.add_argument(
        "--precision", choices=PRECISIONS + (AUTO,), default="fp32",
        help="network precision (default fp32); auto: the fastest this CPU, backend and model file run",
    )
    parser.add_argument("--threads", type=int, default=None, help="the network's threads (default: the backend's choice)")
    parser.add_argument(
        "--decode-threads", type=int, default=2, metavar="N",
        help="threads decoding images ahead of the network (default 2; 0: no threads, one image after the other)",
    )
    parser.add_argument("--overwrite", action="store_true", help="predict images a previous run already wrote")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.decode_threads < 0:
        parser.error(f"--decode-threads {args.decode_threads}: expected 0 or more")
    try:
        paths = image_paths(args.input)
        model, precision, why = open_model(args.model, args.backend, args.precision, args.threads)
        print(f"panfpn-predict: {args.backend}, {precision} ({why})", file=sys.stderr)
        predictor = PanopticPredictor(model)
        writer = PanopticPredictionWriter(args.output, DatasetCategoryIds.from_export(predictor.metadata["dataset"]))
        done = {} if args.overwrite else previous_predictions(writer)
        names, todo, failures = input_images(paths, done.keys())
        skipped = sum(name in done for name in names)
        if skipped:
            print(
                f"panfpn-predict: skipping {skipped} images already in {args.output} (--overwrite to "
                "predict them again)",
                file=sys.stderr,
            )
        results, network_failures = predict_folder(predictor, todo, writer, args.decode_threads, Progress(len(todo)))
        failures += network_failures
        done.update(results)
        written = [done[name] for name in names if name in done]
        writer.write_json(
            [image for image, _ in written], [annotation for _, annotation in written],
            predictor.metadata["dataset"]["categories"],
        )
    except (ValueError, OSError, ImportError) as e:  # ModelFileError and PrecisionError are ValueErrors
        parser.exit(1, f"panfpn-predict: error: {e}\n")
    print(f"wrote {len(results)} predictions to {args.output} ({len(written)} in {writer.json_path})")
    if failures:
        total = len(names) + len(failures) - len(network_failures)  # an unreadable video counts once
        print(f"panfpn-predict: {len(failures)} of {total} images failed:", file=sys.stderr)
        for message in failures:
            print(f"  {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
