"""ADE20K and Mapillary Vistas panoptic: registration and dicts on small synthetic copies of their layouts."""
import json
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

import panfpn_d2.data  # noqa: F401  (registers the built-in names)
from panfpn_d2.data import PanFPNDatasetMapper
from panfpn_d2.data.ade20k import ade20k_panoptic_categories, register_ade20k_panoptic
from panfpn_d2.data.mapillary_vistas import mapillary_vistas_v12_categories, register_mapillary_vistas_panoptic
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout
from tests.support.panoptic_files import write_panoptic_files

HEIGHT, WIDTH = 24, 32


def id_map_and_segments(thing_id, stuff_id, seed):
    """Stuff background (segment 1), two thing instances (segments 2, 3), a void corner."""
    id_map = np.ones((HEIGHT, WIDTH), dtype=np.int64)
    id_map[4:12, 2 + seed:10 + seed] = 2
    id_map[14:22, 16:28] = 3
    id_map[:2, :2] = 0
    segments = [{"id": 1, "category_id": stuff_id}, {"id": 2, "category_id": thing_id}, {"id": 3, "category_id": thing_id}]
    return id_map, segments


def write_images(folder, names):
    os.makedirs(folder, exist_ok=True)
    for seed, name in enumerate(names):
        rgb = np.random.default_rng(seed).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(os.path.join(folder, name))


def test_the_ade20k_table_is_the_150_class_benchmark():
    from detectron2.data.datasets.builtin_meta import ADE20K_SEM_SEG_CATEGORIES

    categories = ade20k_panoptic_categories()
    assert [c["id"] for c in categories] == list(range(150))
    assert sum(c["isthing"] for c in categories) == 100
    # The same classes in the same order as detectron2's ADE20K semantic set (synonym lists may differ).
    assert [c["name"].split(",")[0] for c in categories] == [n.split(",")[0] for n in ADE20K_SEM_SEG_CATEGORIES]
    names = {c["name"]: c["isthing"] for c in categories}
    assert names["person"] == 1 and names["car"] == 1 and names["sky"] == 0 and names["wall"] == 0


def ade20k_layout(root, split_folder="validation", split="val"):
    """ADEChallengeData2016/{images/<split_folder>, ade20k_panoptic_<split>.json, ade20k_panoptic_<split>/}."""
    ade = root / "ADEChallengeData2016"
    ids = [f"ADE_{split}_{i:08d}" for i in (1, 2)]
    # person (12) and car (20) are things, wall (0) and sky (2) stuff
    images = [(image_id, *id_map_and_segments(12 if k == 0 else 20, 0 if k == 0 else 2, k)) for k, image_id in enumerate(ids)]
    write_panoptic_files(ade, f"ade20k_panoptic_{split}", images, ade20k_panoptic_categories())
    write_images(ade / "images" / split_folder, [f"{i}.jpg" for i in ids])
    return ade, ids


def test_ade20k_registers_and_loads(tmp_path, dataset_name):
    ade, ids = ade20k_layout(tmp_path)
    meta = register_ade20k_panoptic(dataset_name, str(ade), "val")
    assert (len(meta.thing_classes), len(meta.stuff_classes)) == (100, 51)  # stuff + the shared 'things'
    dicts = DatasetCatalog.get(dataset_name)
    assert [d["image_id"] for d in dicts] == ids
    assert dicts[0]["file_name"] == str(ade / "images" / "validation" / f"{ids[0]}.jpg")
    assert dicts[0]["pan_seg_file_name"] == str(ade / "ade20k_panoptic_val" / f"{ids[0]}.png")
    person = meta.thing_dataset_id_to_contiguous_id[12]
    assert [(s["category_id"], s["isthing"]) for s in dicts[0]["segments_info"]] == [(1, False), (person, True), (person, True)]


def ade20k_raw_layout(root):
    """ADEChallengeData2016 as downloaded: images/validation/*.jpg, annotations/validation/*.png (semantic:
    0 void, k = category k-1), annotations_instance/validation/*.png (RGB: instance class, instance number)."""
    ade = root / "ADEChallengeData2016"
    semantic = np.full((HEIGHT, WIDTH), 1, dtype=np.uint8)  # wall (category 0, stuff)
    semantic[:6] = 3  # sky (2)
    semantic[20:, :4] = 0  # void
    semantic[8:18, 4:12] = 13  # person (12)
    semantic[8:18, 20:30] = 21  # car (20)
    semantic[2:4, 28:32] = 13  # person pixels no instance covers: void
    instance = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    person, car = ade20k_things().index(12) + 1, ade20k_things().index(20) + 1  # instance classes
    instance[8:18, 4:8] = (person, 1, 0)
    instance[8:18, 8:12] = (person, 2, 0)
    instance[8:18, 20:30] = (car, 3, 0)
    instance[4:8, 20:24] = (car, 3, 0)  # the car also covers sky and wall pixels: it is on top
    for folder in ("annotations", "annotations_instance"):
        (ade / folder / "validation").mkdir(parents=True)
    Image.fromarray(semantic).save(ade / "annotations" / "validation" / "ADE_val_00000001.png")
    Image.fromarray(instance).save(ade / "annotations_instance" / "validation" / "ADE_val_00000001.png")
    write_images(ade / "images" / "validation", ["ADE_val_00000001.jpg"])
    return ade, semantic, instance


def ade20k_things():
    return [c["id"] for c in ade20k_panoptic_categories() if c["isthing"]]


def test_ade20k_panoptic_files_are_built_on_first_use(tmp_path, dataset_name):
    ade, semantic, instance = ade20k_raw_layout(tmp_path)
    meta = register_ade20k_panoptic(dataset_name, str(ade), "val")
    assert meta.panoptic_json == str(ade / "ade20k_panoptic_val.json") and not os.path.exists(meta.panoptic_json)
    (record,) = DatasetCatalog.get(dataset_name)
    content = json.loads((ade / "ade20k_panoptic_val.json").read_text())
    assert content["images"] == [{"id": "ADE_val_00000001", "file_name": "ADE_val_00000001.jpg", "height": HEIGHT, "width": WIDTH}]
    assert [(c["id"], c["isthing"]) for c in content["categories"]] == [(c["id"], c["isthing"]) for c in ade20k_panoptic_categories()]
    id_map = read_panoptic_png(record["pan_seg_file_name"])
    category_of = {s["id"]: s["category_id"] for s in content["annotations"][0]["segments_info"]}
    # Expected per pixel: (dataset category, instance number) or None for void.
    expected = np.where(instance[..., 1] > 0, -1, np.where(np.isin(semantic, [1, 3]), semantic.astype(int) - 1, -2))
    for (y, x), want in np.ndenumerate(expected):
        segment = int(id_map[y, x])
        if want == -2:
            assert segment == 0, (y, x)
        elif want == -1:
            assert category_of[segment] == ade20k_things()[instance[y, x, 0] - 1], (y, x)
        else:
            assert category_of[segment] == want, (y, x)
    # one segment per instance number, one per stuff category
    numbers = {int(id_map[y, x]): int(instance[y, x, 1]) for (y, x), n in np.ndenumerate(instance[..., 1]) if n}
    assert sorted(numbers.values()) == [1, 2, 3] and len(numbers) == 3
    assert sorted(c for c in category_of.values() if c in (0, 2)) == [0, 2]
    assert not any(p.name.startswith(".panfpn") for p in ade.iterdir())  # nothing staged is left


def test_ade20k_conversion_names_bad_annotations(tmp_path, dataset_name):
    ade, _, instance = ade20k_raw_layout(tmp_path)
    instance[0, 0] = (101, 9, 0)  # an instance class outside 1..100
    instance[0, 1] = (ade20k_things().index(20) + 1, 1, 0)  # instance 1 is a person elsewhere
    Image.fromarray(instance).save(ade / "annotations_instance" / "validation" / "ADE_val_00000001.png")
    write_images(ade / "images" / "validation", ["ADE_val_00000002.jpg"])  # no annotations at all
    register_ade20k_panoptic(dataset_name, str(ade), "val")
    with pytest.raises(ValueError) as error:
        DatasetCatalog.get(dataset_name)
    message = str(error.value)
    assert "ADE_val_00000001.png: instance classes [101] outside 1..100" in message
    assert "ADE_val_00000001.png: instances [1] have more than one class" in message
    assert "ADE20K semantic PNG " + str(ade / "annotations" / "validation" / "ADE_val_00000002.png") + " does not exist" in message
    assert not (ade / "ade20k_panoptic_val.json").exists() and not (ade / "ade20k_panoptic_val").exists()


def test_ade20k_without_images_names_what_is_missing(tmp_path, dataset_name):
    register_ade20k_panoptic(dataset_name, str(tmp_path / "ADEChallengeData2016"), "train")
    with pytest.raises(FileNotFoundError, match=r"no panoptic JSON .*ade20k_panoptic_train\.json and no images .*training/\*\.jpg"):
        DatasetCatalog.get(dataset_name)
    assert not (tmp_path / "ADEChallengeData2016").exists()


def test_ade20k_json_with_other_things_and_stuff_is_refused(tmp_path, dataset_name):
    ade, _ = ade20k_layout(tmp_path)
    json_file = ade / "ade20k_panoptic_val.json"
    content = json.loads(json_file.read_text())
    content["categories"][0]["isthing"] = 1
    json_file.write_text(json.dumps(content))
    register_ade20k_panoptic(dataset_name, str(ade), "val")
    with pytest.raises(ValueError, match="differ from the registered ones"):
        DatasetCatalog.get(dataset_name)


# A v2.0-style category list (its categories are only read from the JSON).
V2_CATEGORIES = [
    {"id": 1, "name": "Bird", "supercategory": "animal--bird", "isthing": 1, "color": [165, 42, 42]},
    {"id": 3, "name": "Curb", "supercategory": "construction--barrier--curb", "isthing": 0, "color": [196, 196, 196]},
    {"id": 20, "name": "Person", "supercategory": "human--person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 28, "name": "Sky", "supercategory": "nature--sky", "isthing": 0, "color": [70, 130, 180]},
]


def mapillary_layout(root, panoptic_folder, json_name, categories, split_folder="validation"):
    """mapillary_vistas/<split_folder>/images/<key>.jpg and <panoptic_folder>/{<json_name>, <key>.png}.
    Category ids: 3 Curb (stuff), 20 Person (thing), 28 Sky (stuff), as in v1.2."""
    split_root = root / "mapillary_vistas" / split_folder
    keys = ["--jRsD9anHdGxv4ZOCQktA", "_1Gn_xkw7sa_i9GU4mkxxQ"]
    images = [(key, *id_map_and_segments(20, 28 if k else 3, k)) for k, key in enumerate(keys)]
    folder = split_root / panoptic_folder
    json_file, _ = write_panoptic_files(folder.parent, folder.name, images, categories)
    os.replace(json_file, folder / json_name)
    write_images(split_root / "images", [f"{key}.jpg" for key in keys])
    return root / "mapillary_vistas", keys


def test_the_mapillary_v12_table():
    categories = mapillary_vistas_v12_categories()
    assert [c["id"] for c in categories] == list(range(1, 66))
    assert sum(c["isthing"] for c in categories) == 37
    assert {c["name"]: c["isthing"] for c in categories if c["id"] in (3, 20, 28)} == {"Curb": 0, "Person": 1, "Sky": 0}


@pytest.mark.parametrize(
    "version, panoptic_folder, json_name",
    [("v1.2", "v1.2/panoptic", "panoptic_2018.json"), ("v2.0", "v2.0/panoptic", "panoptic_2020.json"),
     ("v1.2", "panoptic", "panoptic_2018.json")],
    ids=["v1.2", "v2.0", "v1.2-unversioned-folder"],
)
def test_mapillary_registers_loads_and_maps(tmp_path, dataset_name, version, panoptic_folder, json_name):
    categories = mapillary_vistas_v12_categories() if version == "v1.2" else V2_CATEGORIES
    root, keys = mapillary_layout(tmp_path, panoptic_folder, json_name, categories)
    meta = register_mapillary_vistas_panoptic(dataset_name, str(root), "val", version)
    folder = root / "validation" / panoptic_folder
    assert meta.panoptic_json == str(folder / json_name)
    # Categories as the dataset's JSON lists them, thing/stuff from its isthing.
    assert meta.thing_classes == [c["name"] for c in categories if c["isthing"]]
    assert meta.stuff_classes == ["things"] + [c["name"] for c in categories if not c["isthing"]]
    assert meta.thing_colors == [c["color"] for c in categories if c["isthing"]]
    dicts = DatasetCatalog.get(dataset_name)
    assert [d["file_name"] for d in dicts] == [str(root / "validation" / "images" / f"{k}.jpg") for k in keys]
    assert dicts[1]["pan_seg_file_name"] == str(folder / f"{keys[1]}.png")

    mapper = PanFPNDatasetMapper(
        True, augmentations=[], image_format="RGB",
        semantic_layout=SemanticLabelLayout.from_metadata(MetadataCatalog.get(dataset_name), "other"),
    )
    out = mapper(dicts[0])
    person = meta.thing_dataset_id_to_contiguous_id[20]
    assert out["instances"].gt_classes.tolist() == [person, person]
    semantic = out["sem_seg"].numpy()
    # void corner, curb, and thing pixels as 'things' in the 'other' layout
    assert (semantic[0, 0], semantic[23, 0], semantic[5, 5]) == (255, meta.stuff_dataset_id_to_contiguous_id[3], 0)


def test_a_mapillary_v12_json_with_other_categories_is_refused(tmp_path, dataset_name):
    root, _ = mapillary_layout(tmp_path, "v1.2/panoptic", "panoptic_2018.json", V2_CATEGORIES)
    register_mapillary_vistas_panoptic(dataset_name, str(root), "val", "v1.2")
    with pytest.raises(ValueError, match="panoptic_2018.json: categories .* differ from the registered ones"):
        DatasetCatalog.get(dataset_name)


def test_mapillary_rejects_an_unknown_version(tmp_path, dataset_name):
    with pytest.raises(ValueError, match="version 'v3'"):
        register_mapillary_vistas_panoptic(dataset_name, str(tmp_path), "val", "v3")


def test_builtin_names_are_registered():
    for name in ("panfpn_ade20k_panoptic_train", "panfpn_mapillary_vistas_panoptic_val", "panfpn_mapillary_vistas_v2_panoptic_train"):
        assert name in DatasetCatalog
    assert MetadataCatalog.get("panfpn_mapillary_vistas_v2_panoptic_val").panoptic_json.endswith(
        os.path.join("mapillary_vistas", "validation", "v2.0", "panoptic", "panoptic_2020.json")
    )
