"""Same data, same targets: PanFPNDatasetMapper's training targets, derived from the panoptic PNG,
equal those of detectron2's DatasetMapper on the prepared files (a semantic PNG, RLE instance
annotations) after the same resize, pixel for pixel."""
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.structures import BoxMode
from PIL import Image

from panfpn_d2.data import semantic_target_from_panoptic
from panfpn_d2.evaluation.instance_evaluation import thing_segment_rles
from panfpn_lite.panoptic_format import read_panoptic_png
from panfpn_lite.semantic_layout import SemanticLabelLayout

from .test_dataset_mapper import fixed_mapper

# Scales of the resize: exact halving / doubling, and ones whose nearest sampling hits exact ties
# between two source pixels (2/3, 0.75, 1.25, 1.5, COCO's 800 px shorter side).
SCALES = (0.5, 2 / 3, 0.75, 1.25, 1.5, 2.0, "800")


def detectron2_record(record, layout, folder):
    """``record`` as detectron2's DatasetMapper reads it: a semantic PNG and instance annotations."""
    semantic = semantic_target_from_panoptic(read_panoptic_png(record["pan_seg_file_name"]), record["segments_info"], layout)
    sem_seg_file = folder / f"{record['image_id']}.png"
    Image.fromarray(semantic).save(sem_seg_file)
    annotations = [
        {"bbox": s["bbox"], "bbox_mode": BoxMode.XYWH_ABS, "category_id": s["category_id"], "segmentation": rle,
         "iscrowd": int(s.get("iscrowd", 0))}
        for s, rle in thing_segment_rles(record)
    ]
    return {"file_name": record["file_name"], "height": record["height"], "width": record["width"],
            "sem_seg_file_name": str(sem_seg_file), "annotations": annotations}


@pytest.mark.parametrize("scale", SCALES)
def test_targets_equal_detectron2_mappers_after_resize(coco_sample, scale, tmp_path):
    layout = SemanticLabelLayout.from_metadata(MetadataCatalog.get(coco_sample), "other")
    for record in DatasetCatalog.get(coco_sample):
        h, w = record["height"], record["width"]
        factor = 800 / min(h, w) if scale == "800" else scale
        augmentations = [T.Resize((int(round(h * factor)), int(round(w * factor))))]
        ours = fixed_mapper(coco_sample, augmentations)(record)
        theirs = DatasetMapper(
            True, augmentations=augmentations, image_format="BGR", use_instance_mask=True,
            instance_mask_format="bitmask", recompute_boxes=True,
        )(detectron2_record(record, layout, tmp_path))
        assert np.array_equal(ours["image"].numpy(), theirs["image"].numpy())
        assert np.array_equal(ours["sem_seg"].numpy(), theirs["sem_seg"].numpy()), f"image {record['image_id']}"
        assert np.array_equal(ours["instances"].gt_classes.numpy(), theirs["instances"].gt_classes.numpy())
        assert np.array_equal(ours["instances"].gt_masks.tensor.numpy(), theirs["instances"].gt_masks.tensor.numpy())
        assert np.array_equal(ours["instances"].gt_boxes.tensor.numpy(), theirs["instances"].gt_boxes.tensor.numpy())
