"""A tiny Cityscapes-format fixture, converted by cityscapesscripts' createPanopticImgs, then loaded and mapped."""
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from panfpn_d2.data import PanFPNDatasetMapper
from panfpn_d2.data.datasets import register_cityscapes_panoptic
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


@pytest.fixture
def cityscapes_root(tmp_path):
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

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
    convert2panoptic(str(tmp_path / "gtFine"), str(tmp_path / "gtFine"), setNames=["val"])
    return tmp_path


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
