"""panfpn-data convert: semantic + instance PNGs and COCO instances + stuff PNGs to COCO panoptic."""
import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panfpn_lite.data_tools.categories import read_category_table
from panfpn_lite.data_tools.check import check_dataset
from panfpn_lite.data_tools.cli import main
from panfpn_lite.data_tools.convert import (
    COCO_STUFF_RULES,
    ConversionError,
    LabelSample,
    convert_coco_stuff,
    convert_semantic_instance,
    pair_label_files,
)
from panfpn_lite.panoptic_format import read_panoptic_png
from tests.support.panoptic_datasets import HEIGHT, WIDTH, scene, write_images, write_label_dataset
from tests.support.panoptic_files import TOY_CATEGORIES


def run(argv) -> int:
    with pytest.raises(SystemExit) as exit_status:
        main(argv)
    return exit_status.value.code


def convert_labels(layout, out: Path, *extra) -> int:
    return run([
        "convert", "semantic-instance", "--images", layout["images"], "--semantic", layout["semantic"],
        "--instances", layout["instances"], "--categories", layout["categories"],
        "--output-json", str(out / "panoptic.json"), "--output-png-dir", str(out / "panoptic"), *extra,
    ])


def assert_nothing_written(out: Path):
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("cityscapes_ids", [False, True], ids=["instance-numbers", "cityscapes-ids"])
def test_semantic_instance_round_trips_and_passes_check(tmp_path, cityscapes_ids):
    layout = write_label_dataset(tmp_path / "in", count=3, cityscapes_ids=cityscapes_ids)
    out = tmp_path / "out"
    assert convert_labels(layout, out, *(["--cityscapes-ids"] if cityscapes_ids else [])) == 0
    result = check_dataset(str(out / "panoptic.json"), str(out / "panoptic"), layout["images"], workers=1)
    assert result.errors == []
    content = json.loads((out / "panoptic.json").read_text())
    assert content["categories"] == TOY_CATEGORIES
    assert [image["id"] for image in content["images"]] == ["scene0", "scene1", "scene2"]
    for index, annotation in enumerate(content["annotations"]):
        semantic, instance = scene(index)
        id_map = read_panoptic_png(str(out / "panoptic" / annotation["file_name"]))
        segments = {s["id"]: s for s in annotation["segments_info"]}
        assert np.array_equal(id_map == 0, semantic == 255)
        # Each (category, instance number) is one segment, and each segment one such pair.
        pairs = {}
        for segment_id, segment in segments.items():
            mask = id_map == segment_id
            assert set(semantic[mask].tolist()) == {segment["category_id"]}
            numbers = set(instance[mask].tolist()) if segment["category_id"] in (1, 2) else {0}
            assert len(numbers) == 1
            pairs[(segment["category_id"], numbers.pop())] = segment
        assert sorted(pairs) == [(1, 1), (1, 2), (2, 0), (2, 3), (7, 0), (9, 0)]
        assert [pairs[p]["iscrowd"] for p in sorted(pairs)] == [0, 0, 1, 0, 0, 0]
        if cityscapes_ids:
            assert sorted(segments) == [2, 7, 9, 1001, 1002, 2003]


def cityscapes_gtfine_tree(root: Path):
    """A gtFine val split of two images in Cityscapes' files and label ids (void, ignored, stuff, instances, crowd)."""
    city = root / "gtFine" / "val" / "lindau"
    city.mkdir(parents=True)
    images = root / "leftImg8bit" / "val" / "lindau"
    stems = []
    for frame in range(2):
        labels = np.full((HEIGHT, WIDTH), 7, dtype=np.int64)  # road
        labels[:10] = 23  # sky
        labels[:2] = 0  # unlabeled: void
        labels[10:14, :8] = 4  # static: not evaluated, void
        instances = labels.copy()
        labels[12:30, 10 + frame:20] = 24
        instances[12:30, 10 + frame:20] = 24000  # person instance 0
        labels[15:25, 30:45] = 26
        instances[15:25, 30:45] = 26001
        labels[30:36, 40:55] = 26  # a car group: crowd
        instances[30:36, 40:55] = 26
        stem = f"lindau_000000_{frame:06d}"
        Image.fromarray(labels.astype(np.uint8)).save(city / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(instances.astype(np.uint16)).save(city / f"{stem}_gtFine_instanceIds.png")
        stems.append(stem)
    write_images(images, [f"{stem}_leftImg8bit.png" for stem in stems])
    return city, images, stems


def test_cityscapes_ids_give_what_create_panoptic_imgs_writes(tmp_path):
    from cityscapesscripts.helpers.labels import labels
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    city, images, stems = cityscapes_gtfine_tree(tmp_path)
    reference = tmp_path / "reference"
    reference.mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(str(tmp_path / "gtFine"), str(reference), setNames=["val"])
    expected = json.loads((reference / "cityscapes_panoptic_val.json").read_text())

    samples = [
        LabelSample(stem, str(images / f"{stem}_leftImg8bit.png"), str(city / f"{stem}_gtFine_labelIds.png"),
                    str(city / f"{stem}_gtFine_instanceIds.png"), f"{stem}_gtFine_leftImg8bit.png",
                    f"{stem}_gtFine_panoptic.png")
        for stem in stems
    ]
    categories = [{"id": label.id, "name": label.name, "isthing": int(label.hasInstances), "color": list(label.color)}
                  for label in labels if not label.ignoreInEval]
    void_ids = [label.id for label in labels if label.ignoreInEval]
    out = tmp_path / "ours"
    convert_semantic_instance(samples, categories, str(out / "panoptic.json"), str(out / "panoptic"),
                              void_ids, cityscapes_ids=True, workers=1)
    ours = json.loads((out / "panoptic.json").read_text())
    assert ours["images"] == [{k: image[k] for k in ("id", "file_name", "height", "width")} for image in expected["images"]]
    assert ours["annotations"] == expected["annotations"]
    assert [(c["id"], c["isthing"]) for c in ours["categories"]] == [(c["id"], c["isthing"]) for c in expected["categories"]]
    for annotation in expected["annotations"]:
        name = annotation["file_name"]
        assert np.array_equal(
            read_panoptic_png(str(out / "panoptic" / name)),
            read_panoptic_png(str(reference / "cityscapes_panoptic_val" / name)),
        )


def test_a_csv_category_table(tmp_path):
    table = tmp_path / "categories.csv"
    table.write_text("id,name,isthing,color\n1,person,1,#dc143c\n2,car,yes,0 0 142\n7,sky,0,\n9,grass,false,107;142;35\n")
    assert read_category_table(str(table)) == [
        {"id": 1, "name": "person", "isthing": 1, "color": [220, 20, 60]},
        {"id": 2, "name": "car", "isthing": 1, "color": [0, 0, 142]},
        {"id": 7, "name": "sky", "isthing": 0},
        {"id": 9, "name": "grass", "isthing": 0, "color": [107, 142, 35]},
    ]
    table.write_text("id,name,isthing\n1,person,maybe\n")
    with pytest.raises(ValueError, match=f"{table}: row 2: isthing 'maybe'"):
        read_category_table(str(table))
    table.write_text("id,name\n1,person\n")
    with pytest.raises(ValueError, match=f"{table}: row 2 has no isthing"):
        read_category_table(str(table))
    duplicate = tmp_path / "categories.json"
    duplicate.write_text(json.dumps([{"id": 1, "name": "a", "isthing": 1}, {"id": 1, "name": "b"}]))
    with pytest.raises(ValueError, match=f"{duplicate}: category id 1 appears more than once") as error:
        read_category_table(str(duplicate))
    assert "category #1 (id 1, name 'b') has no 'isthing'" in str(error.value)


def test_unpaired_and_ambiguous_files_are_named(tmp_path):
    layout = write_label_dataset(tmp_path / "in", count=3)
    os.remove(os.path.join(layout["semantic"], "scene0.png"))
    os.remove(os.path.join(layout["images"], "scene1.jpg"))
    write_images(Path(layout["images"]), ["scene2.png"])
    with pytest.raises(ConversionError) as error:
        pair_label_files(layout["images"], layout["semantic"], layout["instances"])
    problems = error.value.problems
    assert f"{os.path.join(layout['images'], 'scene0.jpg')}: no {os.path.join(layout['semantic'], 'scene0.png')}" in problems
    assert f"{os.path.join(layout['semantic'], 'scene1.png')}: no image scene1.* in {layout['images']}" in problems
    assert (f"image folder {layout['images']}: scene2.jpg and scene2.png share the name scene2; which is meant is "
            "ambiguous") in problems


def test_bad_pixels_and_files_are_each_named_and_nothing_is_written(tmp_path, capsys):
    layout = write_label_dataset(tmp_path / "in", count=4)
    semantic = np.asarray(Image.open(os.path.join(layout["semantic"], "scene0.png"))).copy()
    semantic[0, :5] = 42
    Image.fromarray(semantic).save(os.path.join(layout["semantic"], "scene0.png"))
    Image.new("L", (10, 10)).save(os.path.join(layout["instances"], "scene1.png"))
    Image.new("RGB", (WIDTH, HEIGHT)).save(os.path.join(layout["semantic"], "scene2.png"))
    Path(layout["images"], "scene3.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "out"
    assert convert_labels(layout, out) == 1
    err = capsys.readouterr().err
    assert f"ERROR {os.path.join(layout['semantic'], 'scene0.png')}: category ids 42 (5 pixels) not in the category table nor ignored" in err
    assert f"ERROR sizes differ: {os.path.join(layout['images'], 'scene1.jpg')} 60x40" in err
    assert f"{os.path.join(layout['instances'], 'scene1.png')} 10x10" in err
    assert f"ERROR semantic PNG {os.path.join(layout['semantic'], 'scene2.png')} has mode RGB" in err
    assert f"ERROR image {os.path.join(layout['images'], 'scene3.jpg')} cannot be read" in err
    assert "nothing written" in err
    assert_nothing_written(out)


def test_cityscapes_ids_that_disagree_with_the_labels(tmp_path):
    layout = write_label_dataset(tmp_path / "in", count=1, cityscapes_ids=True)
    instances = os.path.join(layout["instances"], "scene0.png")
    values = np.asarray(Image.open(instances)).copy()
    values[6, 6] = 2001  # a car id over a person label
    Image.fromarray(values).save(instances)
    with pytest.raises(ConversionError, match=f"{instances}: 1 pixels have a label id"):
        convert_semantic_instance(pair_label_files(layout["images"], layout["semantic"], layout["instances"]),
                                  TOY_CATEGORIES, str(tmp_path / "o.json"), str(tmp_path / "o"), cityscapes_ids=True)
    assert_nothing_written(tmp_path / "o")
    assert not (tmp_path / "o.json").exists()


def test_category_ids_that_are_ignore_labels_and_existing_outputs(tmp_path):
    layout = write_label_dataset(tmp_path / "in", count=1)
    samples = pair_label_files(layout["images"], layout["semantic"], layout["instances"])
    with pytest.raises(ConversionError, match=r"category ids \[7\] are also ignore labels"):
        convert_semantic_instance(samples, TOY_CATEGORIES, str(tmp_path / "o.json"), str(tmp_path / "o"), void_ids=[7, 255])
    (tmp_path / "o").mkdir()
    with pytest.raises(ConversionError, match=f"{tmp_path / 'o'} already exists"):
        convert_semantic_instance(samples, TOY_CATEGORIES, str(tmp_path / "o.json"), str(tmp_path / "o"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "o"]  # no staging folder left behind


def coco_stuff_input(folder: Path):
    """One image: sky over grass (stuff) with a person label region; instances: a large person
    polygon, a smaller car RLE over it, a crowd of cars (uncompressed RLE) and a hidden person."""
    from pycocotools import mask as mask_utils

    write_images(folder / "images", ["000000000005.jpg"])
    semantic = np.full((HEIGHT, WIDTH), 7, dtype=np.uint8)
    semantic[20:] = 9
    semantic[:2] = 255
    semantic[30:40, 0:10] = 1  # a person in the stuff map that no instance covers: void
    (folder / "semantic").mkdir()
    Image.fromarray(semantic).save(folder / "semantic" / "000000000005.png")
    car = np.zeros((HEIGHT, WIDTH), dtype=np.uint8, order="F")
    car[10:20, 15:25] = 1
    car_rle = mask_utils.encode(car)
    car_rle["counts"] = car_rle["counts"].decode()
    crowd = np.zeros((HEIGHT, WIDTH), dtype=bool)
    crowd[25:30, 40:60] = True
    flat = crowd.T.ravel()
    changes = np.flatnonzero(np.diff(np.concatenate(([0], flat.astype(int), [0]))))
    counts = np.diff(np.concatenate(([0], changes, [flat.size]))).tolist()
    annotations = [
        {"id": 11, "image_id": 5, "category_id": 1, "iscrowd": 0,
         "segmentation": [[10, 5, 30, 5, 30, 25, 10, 25]]},  # x 10..30, y 5..25 (pycocotools' rasterisation)
        {"id": 12, "image_id": 5, "category_id": 2, "iscrowd": 0, "segmentation": car_rle},
        {"id": 13, "image_id": 5, "category_id": 2, "iscrowd": 1,
         "segmentation": {"size": [HEIGHT, WIDTH], "counts": counts}},
        {"id": 14, "image_id": 5, "category_id": 1, "iscrowd": 0,
         "segmentation": {"size": [HEIGHT, WIDTH], "counts": mask_utils.encode(np.asfortranarray(car))["counts"].decode()}},
    ]
    content = {"images": [{"id": 5, "file_name": "000000000005.jpg", "height": HEIGHT, "width": WIDTH}],
               "annotations": annotations, "categories": [c for c in TOY_CATEGORIES if c["isthing"]]}
    (folder / "instances.json").write_text(json.dumps(content))
    return semantic, car.astype(bool), crowd


def test_coco_stuff_rules_and_the_pixels_they_touched(tmp_path):
    from pycocotools import mask as mask_utils

    semantic, car, crowd = coco_stuff_input(tmp_path)
    person = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([[10, 5, 30, 5, 30, 25, 10, 25]], HEIGHT, WIDTH))).astype(bool)
    out = tmp_path / "out"
    counts = convert_coco_stuff(str(tmp_path / "images"), str(tmp_path / "instances.json"), str(tmp_path / "semantic"),
                                TOY_CATEGORIES, str(out / "panoptic.json"), str(out / "panoptic"), workers=1)
    assert check_dataset(str(out / "panoptic.json"), str(out / "panoptic"), str(tmp_path / "images")).errors == []
    annotation = json.loads((out / "panoptic.json").read_text())["annotations"][0]
    id_map = read_panoptic_png(str(out / "panoptic" / "000000000005.png"))
    segments = {s["id"]: s for s in annotation["segments_info"]}
    category = np.vectorize(lambda i: segments[i]["category_id"] if i else 0)(id_map)
    # The car (smaller) is on top of the person; the same-size person 14 after it, later in the JSON, on top of the car.
    assert np.all(category[car] == 1) and len({int(i) for i in id_map[car]}) == 1
    assert np.all(category[person & ~car] == 1) and np.all(category[crowd] == 2)
    assert sorted((s["category_id"], s["iscrowd"]) for s in segments.values()) == [(1, 0), (1, 0), (2, 1), (7, 0), (9, 0)]
    instances = person | car | crowd
    assert np.array_equal(category[~instances], np.where(np.isin(semantic, [7, 9]), semantic, 0)[~instances])
    assert counts["pixels per rule"] == {
        COCO_STUFF_RULES[0]: int(2 * car.sum()),  # the car over the person, person 14 over the car
        COCO_STUFF_RULES[1]: int((instances & np.isin(semantic, [7, 9])).sum()),
        COCO_STUFF_RULES[2]: int((~instances & (semantic == 1)).sum()),
    }
    assert counts["instances hidden by smaller ones"] == 1 and counts["images"] == 1


def test_coco_stuff_bad_annotations_and_files_are_named(tmp_path, capsys):
    coco_stuff_input(tmp_path)
    content = json.loads((tmp_path / "instances.json").read_text())
    content["annotations"][0]["segmentation"] = [[1, 2, 3]]
    content["annotations"][1]["category_id"] = 7
    content["annotations"][2]["segmentation"]["size"] = [10, 10]
    content["annotations"].append({"id": 15, "image_id": 6, "category_id": 1, "segmentation": []})
    content["images"].append({"id": 7, "file_name": "000000000007.jpg", "height": HEIGHT, "width": WIDTH})
    write_images(tmp_path / "images", ["000000000007.jpg"])
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps(content))
    argv = ["convert", "coco-stuff", "--images", str(tmp_path / "images"), "--instances-json", str(instances),
            "--semantic", str(tmp_path / "semantic"), "--categories", str(tmp_path / "categories.json"),
            "--output-json", str(tmp_path / "out" / "p.json"), "--output-png-dir", str(tmp_path / "out" / "p")]
    (tmp_path / "categories.json").write_text(json.dumps(TOY_CATEGORIES))
    assert run(argv) == 1
    assert f"ERROR {instances}: annotation 15 refers to image id 6, not in 'images'" in capsys.readouterr().err
    content["annotations"].pop()
    instances.write_text(json.dumps(content))
    assert run(argv) == 1
    err = capsys.readouterr().err
    where = f"{instances}: annotation {{}} of image 000000000005.jpg"
    assert f"ERROR {where.format(11)} has a polygon with fewer than 3 points" in err
    assert f"ERROR {where.format(12)} has category_id 7, not a thing category of the table" in err
    assert f"ERROR {where.format(13)} has an RLE of size [10, 10], the image is [40, 60]" in err
    assert f"ERROR semantic PNG {tmp_path / 'semantic' / '000000000007.png'} does not exist" in err
    assert_nothing_written(tmp_path / "out")
