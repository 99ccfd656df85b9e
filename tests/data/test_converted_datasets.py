"""A dataset converted by panfpn-data registers and gives the training targets of its labels."""
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from panfpn_d2.data import instances_from_panoptic, register_panoptic_dataset, semantic_target_from_panoptic
from panfpn_lite.data_tools.categories import config_keys
from panfpn_lite.data_tools.cli import main
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout
from tests.support.panoptic_datasets import scene, write_label_dataset
from tests.support.panoptic_files import TOY_CATEGORIES


def test_a_converted_label_dataset_registers_and_round_trips(tmp_path, dataset_name):
    layout = write_label_dataset(tmp_path / "in", count=3)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_status:
        main(["convert", "semantic-instance", "--images", layout["images"], "--semantic", layout["semantic"],
              "--instances", layout["instances"], "--categories", layout["categories"],
              "--output-json", str(out / "panoptic.json"), "--output-png-dir", str(out / "panoptic")])
    assert exit_status.value.code == 0
    register_panoptic_dataset(dataset_name, str(out / "panoptic.json"), layout["images"], str(out / "panoptic"))
    records = DatasetCatalog.get(dataset_name)
    metadata = MetadataCatalog.get(dataset_name)
    assert metadata.thing_classes == ["person", "car"] and metadata.stuff_classes == ["things", "sky", "grass"]
    for mode, keys in config_keys(TOY_CATEGORIES).items():
        assert keys["MODEL.SEM_SEG_HEAD.NUM_CLASSES"] == SemanticLabelLayout.from_metadata(metadata, mode).num_classes
        assert keys["MODEL.ROI_HEADS.NUM_CLASSES"] == len(metadata.thing_classes)
    all_layout = SemanticLabelLayout.from_metadata(metadata, "all")
    for index, record in enumerate(records):
        assert record["file_name"].endswith(f"scene{index}.jpg")
        semantic, instance = scene(index)
        pan_seg = read_panoptic_png(record["pan_seg_file_name"])
        target = semantic_target_from_panoptic(pan_seg, record["segments_info"], all_layout)
        label_of = {dataset_id: label for label, dataset_id in enumerate(metadata.category_dataset_ids)}
        expected = np.vectorize(lambda c: label_of.get(int(c), 255))(semantic)
        assert np.array_equal(target, expected)
        instances = instances_from_panoptic(pan_seg, record["segments_info"])
        # persons 1 and 2 and car 3; the car crowd is no instance target
        assert sorted(instances.gt_classes.tolist()) == [0, 0, 1]
        masks = instances.gt_masks.tensor.numpy()
        assert sorted(int(m.sum()) for m in masks) == sorted(int((instance == k).sum()) for k in (1, 2, 3))
