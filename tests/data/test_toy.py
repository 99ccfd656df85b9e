"""The generated toy dataset: deterministic, complete, atomic, registered and mappable."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from detectron2.data import DatasetCatalog, MetadataCatalog

from panfpn_d2.data import PanFPNDatasetMapper
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout
from panfpn_d2.data import toy
from panfpn_d2.data.toy import SPLITS, TOY_CATEGORIES, generate_toy_dataset, register_toy_datasets


def tree_bytes(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_deterministic_and_atomic(tmp_path):
    first = generate_toy_dataset(tmp_path / "a", num_train=5, num_val=2, size=64, workers=1)
    second = generate_toy_dataset(tmp_path / "b", num_train=5, num_val=2, size=64, workers=1)
    files = tree_bytes(first)
    assert len(files) == 2 + 2 * (5 + 2)
    assert files == tree_bytes(second)
    # Worker processes write the same files, whatever their number.
    for workers in (2, 3):
        assert tree_bytes(generate_toy_dataset(tmp_path / f"w{workers}", num_train=5, num_val=2, size=64, workers=workers)) == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "w2", "w3"]  # no partial folder left behind
    other_seed = generate_toy_dataset(tmp_path / "c", num_train=5, num_val=2, size=64, seed=1)
    assert tree_bytes(other_seed) != files
    # An existing dataset is reused as is.
    (first / "marker").write_text("kept")
    assert generate_toy_dataset(first, num_train=1, num_val=1) == first and (first / "marker").exists()


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    import panfpn_d2.data.toy as toy

    def fail(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(toy, "_write_image", fail)
    with pytest.raises(RuntimeError):
        generate_toy_dataset(tmp_path / "toy", workers=1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        generate_toy_dataset(tmp_path / "toy", workers=0)


def test_registered_toy_dataset(tmp_path, dataset_name):
    root = tmp_path / "toy"
    register_toy_datasets(root, name_prefix=dataset_name)
    meta = MetadataCatalog.get(f"{dataset_name}_val")
    assert meta.thing_classes == ["circle", "triangle", "rectangle"]
    assert meta.stuff_classes == ["things", "stripes", "checker", "dots"]
    assert not root.exists()  # registering writes nothing

    train = DatasetCatalog.get(f"{dataset_name}_train")
    val = DatasetCatalog.get(f"{dataset_name}_val")
    assert (len(train), len(val)) == (SPLITS["train"], SPLITS["val"])
    assert json.loads((root / "panoptic_val.json").read_text())["categories"] == TOY_CATEGORIES

    thing_counts = np.array([sum(s["isthing"] for s in d["segments_info"]) for d in train])
    stuff_classes = [{s["category_id"] for s in d["segments_info"] if not s["isthing"]} for d in train]
    thing_classes = {s["category_id"] for d in train for s in d["segments_info"] if s["isthing"]}
    assert thing_classes == {0, 1, 2} and set().union(*stuff_classes) == {1, 2, 3}
    assert thing_counts.mean() > 2.5 and thing_counts.max() >= 5 and (thing_counts == 0).any()
    areas = np.array([s["area"] for d in train for s in d["segments_info"] if s["isthing"]])
    assert (areas < 200).mean() > 0.1 and (areas > 600).mean() > 0.1  # small and large shapes
    assert any(len(classes) >= 2 for classes in stuff_classes)

    # Shapes overlap: in some images two different shapes share a border (one occludes the other).
    touching = 0
    for record in train[:40]:
        pan = read_panoptic_png(record["pan_seg_file_name"])
        assert pan.shape == (record["height"], record["width"]) == (128, 128)
        thing = pan % 1000 != 0  # toy segment ids: category * 1000 (+ instance number for things)
        border = thing[:, 1:] & thing[:, :-1] & (pan[:, 1:] != pan[:, :-1])
        touching += bool(border.any())
    assert touching >= 5

    # Each shape is one colour (up to pixel noise) around its class's base colour.
    thing_names = {c["id"]: c["name"] for c in TOY_CATEGORIES if c["isthing"]}
    for record in train[:20]:
        pan = read_panoptic_png(record["pan_seg_file_name"])
        image = np.asarray(Image.open(record["file_name"]), dtype=np.float64)
        for segment_id in np.unique(pan[pan % 1000 != 0]):
            pixels = image[pan == segment_id]
            base = np.asarray(toy.THING_BASE_COLORS[thing_names[segment_id // 1000]])
            assert pixels.std(axis=0).max() < 2 * toy.PIXEL_NOISE_STD
            assert (np.abs(pixels.mean(axis=0) - base) <= toy.THING_COLOR_JITTER + toy.PIXEL_NOISE_STD).all()

    mapper = PanFPNDatasetMapper(True, augmentations=[], image_format="BGR", semantic_layout=SemanticLabelLayout.from_metadata(meta, "all"))
    for record in val[:10]:
        out = mapper(record)
        assert out["image"].shape == (3, 128, 128)
        assert len(out["instances"]) == sum(s["isthing"] for s in record["segments_info"])
        assert set(out["sem_seg"].unique().tolist()) <= {0, 1, 2, 3, 4, 5, 255}


@pytest.mark.parametrize("name", sorted(toy.THING_BASE_COLORS))
def test_thing_colors_stand_out_from_the_background(name):
    """Drawn around the class's base colour, never closer to the background than the contrast
    limit, even on a background of that very colour."""
    rng = np.random.default_rng(0)
    base = np.asarray(toy.THING_BASE_COLORS[name])
    backgrounds = [base, np.clip(base + 30, 0, 255)] + list(rng.uniform(0, 255, (50, 3)))
    for background in backgrounds:
        color = toy._thing_color(rng, name, background)
        assert np.linalg.norm(color - background) >= toy.MIN_THING_CONTRAST
        assert (np.abs(color - base) <= toy.THING_COLOR_JITTER).all()


def test_builtin_toy_names_registered():
    meta = MetadataCatalog.get("panfpn_toy_train")
    assert meta.evaluator_type == "coco_panoptic_seg"
    assert meta.category_dataset_ids == [1, 2, 3, 11, 12, 13]
