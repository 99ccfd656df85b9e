"""One prediction, written by every tool that writes COCO panoptic predictions -- the evaluator
(TEST.WRITE_PANOPTIC_PNG), the demo (--write-panoptic) and panfpn-predict's writer -- gives the same
files: byte-identical PNGs and the same annotation; the demo's and panfpn-predict's JSON files are
byte-identical (the evaluator's lists the ground truth's images instead of the input files)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from panfpn_d2.evaluation import PanFPNPanopticEvaluator
from panfpn_d2.tools.demo import PanopticDemo
from panfpn_lite.panoptic_format import DatasetCategoryIds, dataset_categories, read_panoptic_png
from panfpn_lite.prediction_writer import PNG_SUBDIR, PREDICTIONS_JSON, PanopticPredictionWriter
from panfpn_lite.runtime.inputs import input_images
from panfpn_lite.runtime.predict import Progress, predict_folder
from panfpn_lite.semantic_layout import SemanticLabelLayout


@pytest.fixture
def prediction(sample_gt, sample_metadata):
    """The sample's first image as a model would output it, with arbitrary segment ids (1000 + 37 i),
    a thing score, and a listed segment left empty (a merge may list one that a later one covered)."""
    dataset, id_maps = sample_gt
    annotation = dataset["annotations"][0]
    categories = {c["id"]: c for c in dataset["categories"]}
    gt_map = id_maps[annotation["image_id"]]
    id_map = np.zeros(gt_map.shape, dtype=np.int32)
    segments = []
    for i, s in enumerate(annotation["segments_info"]):
        isthing = bool(categories[s["category_id"]]["isthing"])
        table = sample_metadata.thing_dataset_id_to_contiguous_id if isthing else sample_metadata.stuff_dataset_id_to_contiguous_id
        segment = {"id": 1000 + 37 * i, "isthing": isthing, "category_id": table[s["category_id"]]}
        if isthing:
            segment["score"] = 0.5 + i / 100
        id_map[gt_map == s["id"]] = segment["id"]
        segments.append(segment)
    segments.insert(1, dict(segments[0], id=999))  # listed, no pixel
    return annotation["image_id"], id_map, segments


class FixedRuntimePredictor:
    """panfpn-predict's predictor with a fixed panoptic output."""

    metadata = {"input": {"format": "RGB"}}

    def __init__(self, id_map, segments):
        self.output = (id_map, segments)

    def network_outputs(self, image):
        return None

    def panoptic(self, network_outputs, output_hw):
        return self.output


class FixedPredictor:
    def __init__(self, id_map, segments):
        self.output = (torch.from_numpy(id_map), segments)

    def __call__(self, image_bgr):
        return {"panoptic_seg": self.output}


def test_every_tool_writes_the_same_files(prediction, sample_metadata, tmp_path):
    image_id, id_map, segments = prediction
    stem = f"{image_id:012d}"
    image_path = tmp_path / f"{stem}.jpg"
    Image.fromarray(np.zeros((*id_map.shape, 3), dtype=np.uint8)).save(image_path)
    category_ids = DatasetCategoryIds.of_dataset(sample_metadata)
    categories = dataset_categories(sample_metadata)

    predict_dir = tmp_path / "predict"
    writer = PanopticPredictionWriter(str(predict_dir), category_ids)
    _, images, _ = input_images([str(image_path)], set())
    results, failures = predict_folder(FixedRuntimePredictor(id_map, segments), images, writer, 0, Progress(1))
    assert not failures
    ((image, annotation),) = results.values()
    writer.write_json([image], [annotation], categories)  # as panfpn-predict's main does
    demo_dir = tmp_path / "demo"
    layout = SemanticLabelLayout.from_metadata(sample_metadata, "other")
    PanopticDemo(FixedPredictor(id_map, segments), sample_metadata, layout).run_on_images(
        [str(image_path)], str(demo_dir), write_panoptic=True
    )
    evaluator_dir = tmp_path / "evaluator"
    evaluator = PanFPNPanopticEvaluator(
        sample_metadata.name, output_dir=str(evaluator_dir), write_panoptic_png=True, distributed=False
    )
    evaluator.reset()
    evaluator.process(
        [{"image_id": image_id, "file_name": str(image_path)}],
        [{"panoptic_seg": (torch.from_numpy(id_map), segments)}],
    )
    evaluator.evaluate()

    png = f"{PNG_SUBDIR}/{stem}.png"
    assert (demo_dir / png).read_bytes() == (predict_dir / png).read_bytes() == (evaluator_dir / png).read_bytes()
    assert (demo_dir / PREDICTIONS_JSON).read_bytes() == (predict_dir / PREDICTIONS_JSON).read_bytes()
    (written,) = json.loads((predict_dir / PREDICTIONS_JSON).read_text())["annotations"]
    (evaluated,) = json.loads((evaluator_dir / PREDICTIONS_JSON).read_text())["annotations"]
    assert evaluated == dict(written, image_id=image_id)

    # What the files hold: the non-empty segments renumbered 1..K in order, dataset category ids.
    listed = [s for s in segments if s["id"] != 999]
    assert [s["id"] for s in written["segments_info"]] == list(range(1, len(listed) + 1))
    assert [s["category_id"] for s in written["segments_info"]] == [category_ids.of_segment(s, image_id) for s in listed]
    assert [s.get("score") for s in written["segments_info"]] == [s.get("score") for s in listed]
    id_map_written = read_panoptic_png(str(predict_dir / png))
    for new_id, segment in enumerate(listed, start=1):
        np.testing.assert_array_equal(id_map_written == new_id, id_map == segment["id"])
