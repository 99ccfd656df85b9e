"""PanFPNDatasetMapper: outputs in train and test mode, augmentation alignment, bad-data errors."""
import copy

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.data.detection_utils import read_image
from PIL import Image

from panfpn_lite.semantic_layout import SemanticLabelLayout
from panfpn_d2.config import add_panfpn_config
from panfpn_d2.data import PanFPNDatasetMapper, semantic_target_from_panoptic
from panfpn_d2.data.dataset_mapper import transform_id_map
from panfpn_lite.panoptic_format import read_panoptic_png


def make_cfg(train_name, **input_overrides):
    cfg = add_panfpn_config(get_cfg())
    cfg.DATASETS.TRAIN = (train_name,)
    cfg.INPUT.MIN_SIZE_TRAIN = (320,)
    cfg.INPUT.MAX_SIZE_TRAIN = 600
    cfg.INPUT.MIN_SIZE_TEST = 200
    cfg.INPUT.MAX_SIZE_TEST = 400
    for key, value in input_overrides.items():
        node, leaf = cfg.INPUT, key.split(".")
        for part in leaf[:-1]:
            node = node[part]
        node[leaf[-1]] = value
    return cfg


def fixed_mapper(name, augmentations, thing_mode="other"):
    return PanFPNDatasetMapper(
        True, augmentations=augmentations, image_format="BGR",
        semantic_layout=SemanticLabelLayout.from_metadata(MetadataCatalog.get(name), thing_mode),
    )


def assert_targets_consistent(out, thing_mode="other"):
    """Every instance mask lies on thing pixels of sem_seg, and boxes are the masks' tight boxes."""
    sem = out["sem_seg"]
    image = out["image"]
    masks = out["instances"].gt_masks.tensor
    assert sem.dtype == torch.int64 and image.dtype == torch.uint8
    assert sem.shape == image.shape[1:] == masks.shape[1:] == out["instances"].image_size
    if thing_mode == "other" and len(masks):
        assert (sem[masks.any(0)] == 0).all()
    for mask, box in zip(masks, out["instances"].gt_boxes.tensor):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("thing_mode", ["other", "all"])
def test_train_output(coco_sample, thing_mode):
    cfg = make_cfg(coco_sample)
    cfg.MODEL.PANFPN.SEM_SEG_THING_MODE = thing_mode
    record = DatasetCatalog.get(coco_sample)[0]
    out = PanFPNDatasetMapper(cfg, is_train=True)(record)
    assert out["image"].shape == (3, 320, 480)
    assert (out["height"], out["width"]) == (427, 640)
    assert len(out["instances"]) == 14 and set(out["instances"].gt_classes.tolist()) == {0, 32}
    labels = set(out["sem_seg"].unique().tolist())
    labels.discard(255)
    # "other": 0 + stuff 1..53; "all": person 0, sports ball 32, stuff from index 80 on.
    assert labels == ({0, 37, 40, 46} if thing_mode == "other" else {0, 32, 116, 119, 125})
    assert_targets_consistent(out, thing_mode)
    assert "instances" not in record  # the input dict is left alone


def test_test_output_keeps_original_size(coco_sample):
    out = PanFPNDatasetMapper(make_cfg(coco_sample), is_train=False)(DatasetCatalog.get(coco_sample)[1])
    assert out["image"].shape == (3, 200, 356)
    assert (out["height"], out["width"]) == (360, 640)
    assert "instances" not in out and "sem_seg" not in out


def test_flip_keeps_image_and_targets_aligned(coco_sample):
    record = DatasetCatalog.get(coco_sample)[0]
    resize = T.Resize((200, 300))
    plain = fixed_mapper(coco_sample, [resize])(record)
    flipped = fixed_mapper(coco_sample, [resize, T.RandomFlip(prob=1.0)])(record)
    torch.testing.assert_close(flipped["image"], plain["image"].flip(-1))
    torch.testing.assert_close(flipped["sem_seg"], plain["sem_seg"].flip(-1))
    torch.testing.assert_close(flipped["instances"].gt_masks.tensor, plain["instances"].gt_masks.tensor.flip(-1))
    boxes = plain["instances"].gt_boxes.tensor
    expected = torch.stack([300 - boxes[:, 2], boxes[:, 1], 300 - boxes[:, 0], boxes[:, 3]], 1)
    torch.testing.assert_close(flipped["instances"].gt_boxes.tensor, expected)


def test_resize_matches_nearest_resize_of_the_targets(coco_sample):
    meta = MetadataCatalog.get(coco_sample)
    record = DatasetCatalog.get(coco_sample)[1]  # 640x360
    pan = read_panoptic_png(record["pan_seg_file_name"])
    sem = semantic_target_from_panoptic(pan, record["segments_info"], SemanticLabelLayout.from_metadata(meta, "other"))
    # Exact 2x: every source pixel becomes a 2x2 block.
    out = fixed_mapper(coco_sample, [T.Resize((720, 1280))])(record)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), sem.repeat(2, 0).repeat(2, 1))
    # Any scale: the same as detectron2's (PIL nearest) resize of a uint8 semantic map.
    resize = T.ResizeTransform(360, 640, 217, 389)
    np.testing.assert_array_equal(
        semantic_target_from_panoptic(transform_id_map(T.TransformList([resize]), pan), record["segments_info"], SemanticLabelLayout.from_metadata(meta, "other")),
        resize.apply_segmentation(sem),
    )


def test_cityscapes_recipe_crop_and_color(coco_sample):
    cfg = make_cfg(
        coco_sample, MIN_SIZE_TRAIN=(180, 360, 720), MAX_SIZE_TRAIN=4096,
        **{"CROP.ENABLED": True, "CROP.TYPE": "absolute", "CROP.SIZE": [128, 256]},
    )
    cfg.INPUT.COLOR_AUG = True
    mapper = PanFPNDatasetMapper(cfg, is_train=True)
    kinds = [type(a).__name__ for a in mapper.augmentations.augs]
    assert kinds == ["ResizeShortestEdge", "RandomCrop_CategoryAreaConstraint", "RandomFlip",
                     "RandomBrightness", "RandomContrast", "RandomSaturation"]
    record = DatasetCatalog.get(coco_sample)[0]
    for _ in range(3):
        out = mapper(record)
        assert out["image"].shape == (3, 128, 256)
        assert_targets_consistent(out)


def test_category_area_constrained_crop_gets_a_semantic_map(coco_sample):
    crop = T.RandomCrop_CategoryAreaConstraint("absolute", (100, 100), 0.9, 255)
    out = fixed_mapper(coco_sample, [crop])(DatasetCatalog.get(coco_sample)[0])
    assert out["image"].shape == (3, 100, 100)
    assert_targets_consistent(out)


def test_training_needs_a_semantic_layout():
    with pytest.raises(ValueError, match="semantic_layout"):
        PanFPNDatasetMapper(True, augmentations=[], image_format="BGR")


@pytest.fixture
def sample_record(coco_sample):
    return copy.deepcopy(DatasetCatalog.get(coco_sample)[0])


def test_missing_files_are_named(coco_sample, sample_record, tmp_path):
    mapper = fixed_mapper(coco_sample, [])
    record = dict(sample_record, file_name=str(tmp_path / "gone.jpg"))
    with pytest.raises(FileNotFoundError, match=r"image .*gone\.jpg"):
        mapper(record)
    record = dict(sample_record, pan_seg_file_name=str(tmp_path / "gone.png"))
    with pytest.raises(FileNotFoundError, match=r"panoptic PNG .*gone\.png"):
        mapper(record)
    (tmp_path / "junk.png").write_bytes(b"not a png")
    record = dict(sample_record, pan_seg_file_name=str(tmp_path / "junk.png"))
    with pytest.raises(ValueError, match=r"junk\.png cannot be read"):
        mapper(record)


def test_segment_mismatch_is_named(coco_sample, sample_record):
    mapper = fixed_mapper(coco_sample, [])
    png = sample_record["pan_seg_file_name"]
    dropped = sample_record["segments_info"][3]["id"]
    record = dict(sample_record, segments_info=sample_record["segments_info"][:3] + sample_record["segments_info"][4:])
    with pytest.raises(ValueError, match=rf"{png}: panoptic PNG contains segment id\(s\) \[{dropped}\]"):
        mapper(record)
    extra = dict(sample_record["segments_info"][0], id=12345)
    record = dict(sample_record, segments_info=sample_record["segments_info"] + [extra])
    with pytest.raises(ValueError, match=rf"{png}: segments_info lists segment id\(s\) \[12345\]"):
        mapper(record)


def test_size_mismatch_is_named(coco_sample, sample_record, tmp_path):
    small = tmp_path / "small.png"
    Image.open(sample_record["pan_seg_file_name"]).crop((0, 0, 600, 427)).save(small)
    with pytest.raises(ValueError, match=r"small\.png is 600x427 .* image .*000000142238\.jpg is 640x427"):
        fixed_mapper(coco_sample, [])(dict(sample_record, pan_seg_file_name=str(small)))
    # The image itself against the dict's height/width (detectron2's check, which names the image).
    with pytest.raises(ValueError, match=r"000000142238\.jpg"):
        fixed_mapper(coco_sample, [])(dict(sample_record, height=100))


def test_image_is_read_in_the_configured_format(coco_sample, sample_record):
    out = fixed_mapper(coco_sample, [])(sample_record)
    bgr = read_image(sample_record["file_name"], format="BGR")
    np.testing.assert_array_equal(out["image"].permute(1, 2, 0).numpy(), bgr)
