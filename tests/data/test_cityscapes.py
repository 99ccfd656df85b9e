"""A tiny Cityscapes-format fixture: its panoptic files prepared by cityscapesscripts' createPanopticImgs
or built on first use (and compared with createPanopticImgs'), then loaded and mapped."""
import contextlib
import io
import json
import multiprocessing
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from panfpn_d2.data import PanFPNDatasetMapper
from panfpn_d2.data import cityscapes_panoptic
from panfpn_d2.data.cityscapes_panoptic import build_cityscapes_panoptic
from panfpn_d2.data.datasets import cityscapes_panoptic_categories, register_cityscapes_panoptic
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout

# Cityscapes label ids: 0 unlabeled (void), 7 road, 11 building, 23 sky, 24 person, 26 car.
IMAGES = ("zurich_000001_000019", "zurich_000002_000019")


def instance_ids(seed):
    ids = np.full((32, 64), 11, dtype=np.uint16)
    ids[:8] = 23
    ids[24:] = 7
    ids[0, :5] = 0
    ids[14:26, 4 + seed:14 + seed] = 26000  # car instance 0
    ids[16:26, 20:34] = 26001  # car instance 1
    ids[10:26, 40:44] = 24000  # person
    ids[20:26, 50:60] = 26  # cars without instance id: a crowd region
    return ids


def write_cityscapes_tree(tmp_path):
    """gtFine (labelIds, instanceIds) and leftImg8bit of a two-image val split, in Cityscapes' names."""
    gt_dir = tmp_path / "gtFine" / "val" / "zurich"
    image_dir = tmp_path / "leftImg8bit" / "val" / "zurich"
    gt_dir.mkdir(parents=True)
    image_dir.mkdir(parents=True)
    for seed, image_id in enumerate(IMAGES):
        ids = instance_ids(seed)
        Image.fromarray(ids).save(gt_dir / f"{image_id}_gtFine_instanceIds.png")
        label_ids = np.where(ids >= 1000, ids // 1000, ids).astype(np.uint8)
        Image.fromarray(label_ids).save(gt_dir / f"{image_id}_gtFine_labelIds.png")
        rgb = np.random.default_rng(seed).integers(0, 255, (32, 64, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(image_dir / f"{image_id}_leftImg8bit.png")
    return tmp_path


def create_panoptic_imgs(gt_fine, output):
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    os.makedirs(output, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(str(gt_fine), str(output), setNames=["val"])


@pytest.fixture
def cityscapes_root(tmp_path):
    """The tree with its panoptic files prepared by createPanopticImgs, as users did before."""
    write_cityscapes_tree(tmp_path)
    create_panoptic_imgs(tmp_path / "gtFine", tmp_path / "gtFine")
    return tmp_path


def assert_same_panoptic_files(ours_json, ours_png_dir, reference_json, reference_png_dir):
    with open(ours_json) as f:
        ours = json.load(f)
    with open(reference_json) as f:
        reference = json.load(f)
    assert ours == reference
    for annotation in reference["annotations"]:
        name = annotation["file_name"]
        np.testing.assert_array_equal(
            read_panoptic_png(os.path.join(ours_png_dir, name)), read_panoptic_png(os.path.join(reference_png_dir, name))
        )


def test_first_use_builds_what_create_panoptic_imgs_writes(tmp_path, dataset_name):
    root = write_cityscapes_tree(tmp_path / "cityscapes")
    gt_fine = root / "gtFine"
    meta = register_cityscapes_panoptic(dataset_name, str(root), "val")
    # gtFine is writable: the files go to createPanopticImgs' usual place; registering wrote nothing.
    assert meta.panoptic_json == str(gt_fine / "cityscapes_panoptic_val.json")
    assert not os.path.exists(meta.panoptic_json)
    dicts = DatasetCatalog.get(dataset_name)
    assert [d["image_id"] for d in dicts] == list(IMAGES)
    create_panoptic_imgs(gt_fine, tmp_path / "reference")
    assert_same_panoptic_files(
        meta.panoptic_json, meta.panoptic_root,
        tmp_path / "reference" / "cityscapes_panoptic_val.json", tmp_path / "reference" / "cityscapes_panoptic_val",
    )
    # A second registration finds them prepared and builds nothing.
    assert cityscapes_panoptic.panoptic_folder(str(gt_fine), "val") == str(gt_fine)


def test_prepared_files_are_used_as_they_are(cityscapes_root, dataset_name):
    json_file = cityscapes_root / "gtFine" / "cityscapes_panoptic_val.json"
    written = json_file.stat().st_mtime_ns
    register_cityscapes_panoptic(dataset_name, str(cityscapes_root), "val")
    assert len(DatasetCatalog.get(dataset_name)) == 2
    assert json_file.stat().st_mtime_ns == written
    assert not (cityscapes_root / "gtFine" / ".cityscapes_panoptic_val.lock").exists()


def test_the_cache_folder_of_the_environment_variable(tmp_path, dataset_name, monkeypatch):
    root = write_cityscapes_tree(tmp_path / "cityscapes")
    monkeypatch.setenv("PANFPN_DATA_CACHE", str(tmp_path / "cache"))
    meta = register_cityscapes_panoptic(dataset_name, str(root), "val")
    assert meta.panoptic_json.startswith(str(tmp_path / "cache" / "cityscapes") + os.sep)
    assert len(DatasetCatalog.get(dataset_name)) == 2
    assert os.path.isfile(meta.panoptic_json) and len(os.listdir(meta.panoptic_root)) == 2
    assert sorted(os.listdir(root / "gtFine")) == ["val"]


def test_an_unwritable_gtfine_caches_under_the_home_folder(tmp_path, monkeypatch):
    root = write_cityscapes_tree(tmp_path / "cityscapes")
    monkeypatch.delenv("PANFPN_DATA_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    gt_fine = str(root / "gtFine")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if path == gt_fine else real_access(path, mode))
    folder = cityscapes_panoptic.panoptic_folder(gt_fine, "val")
    assert folder.startswith(str(tmp_path / "home" / ".cache" / "panfpn_d2" / "cityscapes") + os.sep)


def test_missing_ground_truth_is_named(tmp_path, dataset_name):
    register_cityscapes_panoptic(dataset_name, str(tmp_path), "val")
    with pytest.raises(FileNotFoundError, match=r"gtFine/val/\*/\*_instanceIds.png"):
        DatasetCatalog.get(dataset_name)
    assert not (tmp_path / "gtFine").exists()


def _build(root):
    build_cityscapes_panoptic(
        str(root / "gtFine"), str(root / "leftImg8bit" / "val"), "val", str(root / "gtFine"), cityscapes_panoptic_categories()
    )


def test_processes_building_at_once_share_one_build(tmp_path):
    root = write_cityscapes_tree(tmp_path / "cityscapes")
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_build, args=(root,)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    # Nothing staged is left: only the ground truth, the lock, the JSON and the PNG folder.
    assert sorted(os.listdir(root / "gtFine")) == [
        ".cityscapes_panoptic_val.lock", "cityscapes_panoptic_val", "cityscapes_panoptic_val.json", "val"
    ]
    create_panoptic_imgs(root / "gtFine", tmp_path / "reference")
    assert_same_panoptic_files(
        root / "gtFine" / "cityscapes_panoptic_val.json", root / "gtFine" / "cityscapes_panoptic_val",
        tmp_path / "reference" / "cityscapes_panoptic_val.json", tmp_path / "reference" / "cityscapes_panoptic_val",
    )


def test_cityscapes_load_and_map(cityscapes_root, dataset_name):
    meta = register_cityscapes_panoptic(dataset_name, str(cityscapes_root), "val")
    assert meta.gt_dir == str(cityscapes_root / "gtFine" / "val")
    dicts = DatasetCatalog.get(dataset_name)
    assert [d["image_id"] for d in dicts] == list(IMAGES)
    record = dicts[0]
    assert record["file_name"] == str(cityscapes_root / "leftImg8bit/val/zurich/zurich_000001_000019_leftImg8bit.png")
    assert record["pan_seg_file_name"].endswith("cityscapes_panoptic_val/zurich_000001_000019_gtFine_panoptic.png")
    crowd = [s for s in record["segments_info"] if s["iscrowd"]]
    assert [(s["category_id"], s["isthing"]) for s in crowd] == [(2, True)]  # car: thing contiguous 2

    mapper = PanFPNDatasetMapper(
        True, augmentations=[], image_format="RGB",
        semantic_layout=SemanticLabelLayout.from_metadata(MetadataCatalog.get(dataset_name), "all"),
    )
    out = mapper(record)
    expected_ids = instance_ids(0)
    semantic_ids = np.where(expected_ids >= 1000, expected_ids // 1000, expected_ids)
    # "all" layout is the trainId order: road 0, building 2, sky 10, person 11, car 13.
    train_id = {0: 255, 7: 0, 11: 2, 23: 10, 24: 11, 26: 13}
    np.testing.assert_array_equal(out["sem_seg"].numpy(), np.vectorize(train_id.get)(semantic_ids))
    instances = out["instances"]
    assert instances.gt_classes.tolist() == [0, 2, 2]  # person, car, car (the crowd left out)
    for mask in instances.gt_masks.tensor.numpy():
        segment_ids = np.unique(expected_ids[mask])
        assert len(segment_ids) == 1 and segment_ids[0] >= 1000
        np.testing.assert_array_equal(mask, expected_ids == segment_ids[0])
