"""register_panoptic_dataset on the real COCO sample, the built-ins, and bad-data errors."""
import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from panfpn_lite.semantic_layout import SemanticLabelLayout
from panfpn_d2.data import instances_from_panoptic, register_panoptic_dataset, semantic_target_from_panoptic
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_d2.data.datasets import coco_panoptic_categories

from .conftest import SAMPLE_DIR

METADATA_KEYS = {
    "thing_classes", "thing_colors", "thing_dataset_id_to_contiguous_id", "stuff_classes", "stuff_colors",
    "stuff_dataset_id_to_contiguous_id", "category_dataset_ids", "ignore_label", "label_divisor",
    "evaluator_type", "panoptic_json", "panoptic_root", "image_root",
}


def raw_sample():
    with open(SAMPLE_DIR / "panoptic_examples.json") as f:
        return json.load(f)


def test_metadata_complete_and_consistent(coco_sample):
    meta = MetadataCatalog.get(coco_sample)
    assert METADATA_KEYS <= set(meta.as_dict())
    assert len(meta.thing_classes) == len(meta.thing_colors) == 80
    assert len(meta.stuff_classes) == len(meta.stuff_colors) == 54 and meta.stuff_classes[0] == "things"
    assert sorted(meta.thing_dataset_id_to_contiguous_id.values()) == list(range(80))
    assert sorted(meta.stuff_dataset_id_to_contiguous_id.values()) == list(range(1, 54))
    categories = {c["id"]: c for c in json.loads((SAMPLE_DIR / "panoptic_coco_categories.json").read_text())}
    assert meta.category_dataset_ids == list(categories)
    for dataset_id, contiguous in meta.thing_dataset_id_to_contiguous_id.items():
        assert categories[dataset_id]["isthing"] == 1
        assert meta.thing_classes[contiguous] == categories[dataset_id]["name"]
        assert meta.thing_colors[contiguous] == categories[dataset_id]["color"]
    for dataset_id, contiguous in meta.stuff_dataset_id_to_contiguous_id.items():
        assert categories[dataset_id]["isthing"] == 0
        assert meta.stuff_classes[contiguous] == categories[dataset_id]["name"]
    assert (meta.ignore_label, meta.label_divisor, meta.evaluator_type) == (255, 1000, "coco_panoptic_seg")
    assert meta.panoptic_json.endswith("panoptic_examples.json")


def test_targets_account_for_every_pixel(coco_sample):
    meta = MetadataCatalog.get(coco_sample)
    dicts = DatasetCatalog.get(coco_sample)
    raw_segments = {a["file_name"]: a["segments_info"] for a in raw_sample()["annotations"]}
    assert len(dicts) == 2
    for record in dicts:
        pan = read_panoptic_png(record["pan_seg_file_name"])
        assert pan.shape == (record["height"], record["width"])
        segments = record["segments_info"]
        sem_other = semantic_target_from_panoptic(pan, segments, SemanticLabelLayout.from_metadata(meta, "other"))
        sem_all = semantic_target_from_panoptic(pan, segments, SemanticLabelLayout.from_metadata(meta, "all"))
        instances = instances_from_panoptic(pan, segments)
        masks = instances.gt_masks.tensor.numpy()

        # Independent reference from the raw JSON (dataset ids), one segment at a time.
        covered = np.zeros(pan.shape, dtype=np.int64)
        mask_row = 0
        for raw in raw_segments[record["pan_seg_file_name"].split("/")[-1]]:
            pixels = pan == raw["id"]
            assert pixels.sum() == raw["area"]
            covered += pixels
            all_label = meta.category_dataset_ids.index(raw["category_id"])
            assert (sem_all[pixels] == all_label).all()
            if raw["category_id"] in meta.thing_dataset_id_to_contiguous_id:
                assert (sem_other[pixels] == 0).all()
                if not raw["iscrowd"]:
                    np.testing.assert_array_equal(masks[mask_row], pixels)
                    assert instances.gt_classes[mask_row] == meta.thing_dataset_id_to_contiguous_id[raw["category_id"]]
                    x, y, w, h = raw["bbox"]
                    assert instances.gt_boxes.tensor[mask_row].tolist() == [x, y, x + w, y + h]
                    mask_row += 1
                else:
                    assert not masks[:, pixels].any()  # crowd: in the semantic map, not an instance
            else:
                expected = meta.stuff_dataset_id_to_contiguous_id[raw["category_id"]]
                assert (sem_other[pixels] == expected).all()
        assert mask_row == len(instances)
        void = covered == 0
        assert covered.max() == 1 and (pan[void] == 0).all()
        assert (sem_other[void] == 255).all() and (sem_all[void] == 255).all()
        assert (sem_other != 255).sum() == (~void).sum()


def test_registration_touches_no_file(dataset_name, tmp_path):
    missing = tmp_path / "nowhere"
    meta = register_panoptic_dataset(
        dataset_name, str(missing / "x.json"), str(missing / "img"), str(missing / "png"),
        categories=coco_panoptic_categories(), gt_dir="extra",
    )
    assert len(meta.thing_classes) == 80 and meta.gt_dir == "extra"
    assert not missing.exists()
    with pytest.raises(FileNotFoundError, match=r"nowhere/x\.json"):
        DatasetCatalog.get(dataset_name)


def test_lazy_metadata_reads_categories_on_first_use(dataset_name, tmp_path):
    json_file = tmp_path / "later.json"
    meta = register_panoptic_dataset(dataset_name, str(json_file), "img", "png")
    with pytest.raises(FileNotFoundError, match=r"later\.json"):
        meta.thing_classes
    assert meta.get("thing_classes", None) is None  # unknown yet, e.g. to validate_config
    json_file.write_text(json.dumps({
        "images": [], "annotations": [],
        "categories": [{"id": 5, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0}],
    }))
    assert meta.thing_dataset_id_to_contiguous_id == {5: 0}
    assert meta.stuff_dataset_id_to_contiguous_id == {2: 1}
    assert meta.category_dataset_ids == [5, 2]
    assert len(meta.thing_colors[0]) == 3 and meta.thing_colors[0] != meta.stuff_colors[1]  # generated
    assert MetadataCatalog.get(dataset_name).get("thing_classes") == ["a"]


def test_builtins_registered():
    coco = MetadataCatalog.get("panfpn_coco_2017_val")
    assert coco.panoptic_json.endswith("coco/annotations/panoptic_val2017.json")
    assert coco.image_root.endswith("coco/val2017") and coco.panoptic_root.endswith("coco/panoptic_val2017")
    assert len(coco.thing_classes) == 80 and len(coco.stuff_classes) == 54
    for split in ("train", "val"):
        city = MetadataCatalog.get(f"panfpn_cityscapes_fine_panoptic_{split}")
        assert city.evaluator_type == "cityscapes_panoptic_seg"
        assert city.gt_dir.endswith(f"cityscapes/gtFine/{split}")
        assert len(city.category_dataset_ids) == 19 and len(city.thing_classes) == 8
        assert city.category_dataset_ids[0] == 7  # road, trainId 0
        assert "panfpn_coco_2017_" + split in DatasetCatalog.list()


def write_json(path, content):
    path.write_text(json.dumps(content))
    return str(path)


def sample_with(tmp_path, edit):
    content = raw_sample()
    edit(content)
    return write_json(tmp_path / "edited.json", content)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["annotations"][0]["segments_info"][0].update(category_id=999),
         r"edited\.json.*000000142238\.png.*category_id 999"),
        (lambda c: c["annotations"].pop(1), r"edited\.json.*000000439180\.jpg.*no annotation"),
        (lambda c: c["annotations"][1].update(image_id=7), r"edited\.json.*image id 7"),
        (lambda c: c["categories"].append(dict(c["categories"][0])), r"edited\.json.*category id 1 .*more than once"),
        (lambda c: c.pop("categories"), r"edited\.json.*categories"),
    ],
)
def test_bad_json_errors_name_the_file(dataset_name, tmp_path, edit, message):
    register_panoptic_dataset(dataset_name, sample_with(tmp_path, edit), "img", "png")
    with pytest.raises(ValueError, match=message):
        DatasetCatalog.get(dataset_name)


def test_unreadable_json_and_wrong_categories(dataset_name, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    register_panoptic_dataset(dataset_name, str(bad), "img", "png")
    with pytest.raises(ValueError, match=r"broken\.json cannot be read"):
        DatasetCatalog.get(dataset_name)
    other = dataset_name + "_train"
    register_panoptic_dataset(
        other, str(SAMPLE_DIR / "panoptic_examples.json"), "img", "png",
        categories=[{"id": 1, "name": "person", "isthing": 1}],
    )
    with pytest.raises(ValueError, match=r"panoptic_examples\.json: categories .* differ"):
        DatasetCatalog.get(other)


def test_duplicate_name(coco_sample):
    with pytest.raises(ValueError, match=f"{coco_sample}.*already registered"):
        register_panoptic_dataset(coco_sample, "a.json", "img", "png")
    with pytest.raises(ValueError, match="already registered"):
        register_panoptic_dataset("panfpn_toy_train", "a.json", "img", "png")


def test_image_without_things_or_stuff_is_valid(dataset_name, tmp_path):
    (tmp_path / "png").mkdir()
    pan = np.zeros((4, 5, 3), dtype=np.uint8)
    pan[:2, :, 0] = 9
    Image.fromarray(pan).save(tmp_path / "png" / "a.png")
    content = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 5}],
        "annotations": [{"image_id": 1, "file_name": "a.png",
                         "segments_info": [{"id": 9, "category_id": 3, "iscrowd": 0}]}],
        "categories": [{"id": 1, "name": "t", "isthing": 1}, {"id": 3, "name": "s", "isthing": 0}],
    }
    register_panoptic_dataset(dataset_name, write_json(tmp_path / "a.json", content), str(tmp_path), str(tmp_path / "png"))
    (record,) = DatasetCatalog.get(dataset_name)
    pan_seg = read_panoptic_png(record["pan_seg_file_name"])
    assert len(instances_from_panoptic(pan_seg, record["segments_info"])) == 0
    sem = semantic_target_from_panoptic(pan_seg, record["segments_info"], SemanticLabelLayout.from_metadata(MetadataCatalog.get(dataset_name), "other"))
    assert (sem[:2] == 1).all() and (sem[2:] == 255).all()
