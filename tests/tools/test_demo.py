"""The demo on generated toy images with a random-weight toy model that detects."""
import json

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from PIL import Image

from tests.support.paths import TOY_CONFIG as TOY_CONFIG_PATH
from panfpn_d2.data.toy import render_toy_image
from panfpn_d2.tools import demo
from panfpn_d2.config import load_config
from panfpn_lite.semantic_layout import SemanticLabelLayout
from panfpn_d2.tools.random_weights import make_random_model_detect

TOY_CONFIG = str(TOY_CONFIG_PATH)
# Three thing classes: random-weight scores are ~1/3, under the merge's default 0.5.
THRESHOLD = "0.3"


@pytest.fixture(scope="module")
def toy_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        Image.fromarray(render_toy_image(rng, 128)[0]).save(images / f"toy{index}.png")
    torch.manual_seed(0)
    model = make_random_model_detect(build_model(load_config(TOY_CONFIG)))
    weights = root / "toy_random.pth"
    torch.save({"model": model.state_dict()}, weights)
    return images, weights


def run_demo(*args, weights, opts=()):
    demo.main([*args, "--config-file", TOY_CONFIG, "--opts", "MODEL.WEIGHTS", str(weights), *opts])


def test_folder_gives_overlays_and_coco_panoptic_predictions(toy_setup, tmp_path):
    images, weights = toy_setup
    run_demo("--input", str(images), "--output", str(tmp_path), "--write-panoptic",
             "--confidence-threshold", THRESHOLD, weights=weights)

    metadata = MetadataCatalog.get("panfpn_toy_val")
    with open(tmp_path / "panoptic_predictions.json") as f:
        predictions = json.load(f)
    assert [c["id"] for c in predictions["categories"]] == metadata.category_dataset_ids
    assert sorted(a["image_id"] for a in predictions["annotations"]) == ["toy0", "toy1"]
    for annotation in predictions["annotations"]:
        source = cv2.imread(str(images / f"{annotation['image_id']}.png"))
        overlay = cv2.imread(str(tmp_path / f"{annotation['image_id']}.png"))
        assert overlay.shape == source.shape and not np.array_equal(overlay, source)

        rgb = np.asarray(Image.open(tmp_path / "panoptic_predictions" / annotation["file_name"]), dtype=np.int64)
        id_map = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        assert id_map.shape == source.shape[:2]
        segments = annotation["segments_info"]
        assert set(np.unique(id_map)) - {0} == {s["id"] for s in segments}
        for segment in segments:
            assert segment["area"] == int((id_map == segment["id"]).sum())
        thing_ids = set(metadata.thing_dataset_id_to_contiguous_id)
        stuff_ids = set(metadata.stuff_dataset_id_to_contiguous_id)
        assert any(s["category_id"] in thing_ids for s in segments)
        assert any(s["category_id"] in stuff_ids for s in segments)
        assert all(s["category_id"] in thing_ids | stuff_ids for s in segments)


def test_semantic_only_model_draws_and_writes_its_stuff_only_output(toy_setup, tmp_path):
    images, weights = toy_setup
    image = images / "toy0.png"
    semantic_only = ["MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", "0.0"]
    run_demo("--input", str(image), "--output", str(tmp_path), "--write-panoptic", weights=weights, opts=semantic_only)
    overlay = cv2.imread(str(tmp_path / "toy0.png"))
    assert overlay.shape == cv2.imread(str(image)).shape
    with open(tmp_path / "panoptic_predictions.json") as f:
        (annotation,) = json.load(f)["annotations"]
    stuff_ids = set(MetadataCatalog.get("panfpn_toy_val").stuff_dataset_id_to_contiguous_id)
    assert annotation["segments_info"] and all(s["category_id"] in stuff_ids for s in annotation["segments_info"])
    with pytest.raises(ValueError, match="no panoptic output"):
        run_demo("--input", str(image), "--output", str(tmp_path), "--write-panoptic", weights=weights,
                 opts=[*semantic_only, "MODEL.PANOPTIC_FPN.COMBINE.ENABLED", "False"])


def test_video_frames_are_drawn(toy_setup, tmp_path):
    images, weights = toy_setup
    video = tmp_path / "clip.mp4"
    frame = cv2.imread(str(images / "toy0.png"))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, frame.shape[1::-1])
    for _ in range(3):
        writer.write(frame)
    writer.release()
    run_demo("--video-input", str(video), "--output", str(tmp_path / "out"), "--max-frames", "2",
             "--confidence-threshold", THRESHOLD, weights=weights)
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    ok, drawn = capture.read()
    assert ok and drawn.shape == frame.shape


def test_image_paths_from_files_folders_and_globs(tmp_path):
    for name in ("a.jpg", "b.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert demo.image_paths([str(tmp_path)]) == [str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]
    assert demo.image_paths([str(tmp_path / "*.png")]) == [str(tmp_path / "b.png")]
    with pytest.raises(FileNotFoundError, match="missing"):
        demo.image_paths([str(tmp_path / "missing")])
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="a.jpg"):
        demo.image_paths([str(tmp_path), str(other)])


def test_semantic_labels_of_the_all_mode_name_every_category():
    metadata = MetadataCatalog.get("panfpn_toy_val")
    labels = demo.semantic_label_metadata(metadata, SemanticLabelLayout.from_metadata(metadata, "all"))
    assert labels.stuff_classes == ["circle", "triangle", "rectangle", "stripes", "checker", "dots"]
    assert demo.semantic_label_metadata(metadata, SemanticLabelLayout.from_metadata(metadata, "other")) is metadata


def test_demo_asks_the_model_only_for_what_it_draws():
    panoptic = load_config(TOY_CONFIG, ["MODEL.WEIGHTS", ""])
    assert demo.PanopticDemo.from_config(panoptic).predictor.model.outputs == ("panoptic_seg",)
    semantic = load_config(TOY_CONFIG, ["MODEL.WEIGHTS", "", "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", "0.0"])
    assert demo.PanopticDemo.from_config(semantic).predictor.model.outputs == ("panoptic_seg",)  # stuff only
    unmerged = load_config(TOY_CONFIG, ["MODEL.WEIGHTS", "", "MODEL.PANOPTIC_FPN.COMBINE.ENABLED", "False"])
    assert demo.PanopticDemo.from_config(unmerged).predictor.model.outputs == ("sem_seg", "instances")
    assert panoptic.MODEL.PANFPN.OUTPUTS == ("sem_seg", "instances", "panoptic_seg")  # the caller's config is left alone
