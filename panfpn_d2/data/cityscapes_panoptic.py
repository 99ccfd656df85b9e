"""Cityscapes' panoptic ground truth (what cityscapesscripts' createPanopticImgs writes), built from
``gtFine`` on first use.

Where: createPanopticImgs' usual place is ``gtFine`` (``gtFine/cityscapes_panoptic_<split>.json`` and
folder); files there are used as they are, otherwise :func:`first_use.output_folder` decides (gtFine
itself when writable). The conversion is panfpn_lite's ``convert_semantic_instance`` with Cityscapes'
instance id encoding, run once across processes (:func:`first_use.build_once`). Torch-free.
"""
import glob
import os
from typing import List, Tuple

from panfpn_lite.data_tools.convert import LabelSample, convert_semantic_instance

from .first_use import build_once, output_folder
# Cityscapes' label ids are 0..33 (and -1, license plate, which no PNG holds).
CITYSCAPES_LABEL_IDS = range(34)
# createPanopticImgs' "supercategory" of the evaluated labels: the "category" column of
# cityscapesscripts' helpers/labels.py.
CITYSCAPES_SUPERCATEGORIES = {
    7: "flat", 8: "flat", 11: "construction", 12: "construction", 13: "construction", 17: "object",
    19: "object", 20: "object", 21: "nature", 22: "nature", 23: "sky", 24: "human", 25: "human",
    26: "vehicle", 27: "vehicle", 28: "vehicle", 31: "vehicle", 32: "vehicle", 33: "vehicle",
}


def panoptic_files(folder: str, split: str) -> Tuple[str, str]:
    """(JSON, PNG folder) of a split in ``folder``, named as createPanopticImgs names them."""
    return os.path.join(folder, f"cityscapes_panoptic_{split}.json"), os.path.join(folder, f"cityscapes_panoptic_{split}")


def panoptic_folder(gt_fine: str, split: str) -> str:
    """The folder holding a split's panoptic JSON and PNGs: prepared, or where first use builds them."""
    return output_folder(gt_fine, f"cityscapes_panoptic_{split}.json", "cityscapes")


def gtfine_samples(gt_fine: str, image_root: str, split: str) -> List[LabelSample]:
    """The images of ``gtFine/<split>``, found and named as createPanopticImgs does (its instanceIds files, sorted)."""
    instance_files = sorted(glob.glob(os.path.join(gt_fine, split, "*", "*_instanceIds.png")))
    if not instance_files:
        raise FileNotFoundError(
            f"no Cityscapes ground truth {os.path.join(gt_fine, split, '*', '*_instanceIds.png')} "
            f"(needed to build the panoptic files of the {split!r} split)"
        )
    samples = []
    for instance_file in instance_files:
        stem = os.path.basename(instance_file)[: -len("_gtFine_instanceIds.png")]
        city = os.path.basename(os.path.dirname(instance_file))
        samples.append(
            LabelSample(
                image_id=stem,
                image_file=os.path.join(image_root, city, f"{stem}_leftImg8bit.png"),
                semantic_file=instance_file.replace("_instanceIds.png", "_labelIds.png"),
                instance_file=instance_file,
                image_name=f"{stem}_gtFine_leftImg8bit.png",
                png_name=f"{stem}_gtFine_panoptic.png",
            )
        )
    return samples


def build_cityscapes_panoptic(gt_fine: str, image_root: str, split: str, folder: str, categories: List[dict]) -> None:
    """Write createPanopticImgs' JSON and PNGs of ``gtFine/<split>`` into ``folder`` unless they are there.

    ``categories``: the evaluated labels (id, name, isthing, color); every other label id is void.
    """
    json_file, png_dir = panoptic_files(folder, split)
    if os.path.isfile(json_file):
        return
    samples = gtfine_samples(gt_fine, image_root, split)  # names missing ground truth before any folder is made

    def build():
        table = [dict(c, supercategory=CITYSCAPES_SUPERCATEGORIES[c["id"]]) for c in categories]
        void_ids = [i for i in CITYSCAPES_LABEL_IDS if i not in CITYSCAPES_SUPERCATEGORIES]
        convert_semantic_instance(
            samples, table, json_file, png_dir, void_ids, cityscapes_ids=True, workers=min(8, os.cpu_count() or 1)
        )

    build_once(json_file, build)
