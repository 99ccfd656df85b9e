"""Cityscapes' panoptic ground truth (what cityscapesscripts' createPanopticImgs writes), built from
``gtFine`` on first use.

Where: files already in createPanopticImgs' usual place (``gtFine/cityscapes_panoptic_<split>.json``
and folder) are used as they are. Otherwise they are built on first load into
``$PANFPN_DATA_CACHE/cityscapes/<key>/`` if that variable is set, else into ``gtFine`` itself (the
usual place, so cityscapesscripts and detectron2 find them too) when it is writable, else into
``~/.cache/panfpn_d2/cityscapes/<key>/``; ``<key>`` names the gtFine folder (a hash of its path).

The conversion is panfpn_lite's ``convert_semantic_instance`` with Cityscapes' instance id encoding.
Several processes (DDP) may load at once: one builds under an exclusive lock while the others wait,
then find the JSON (written last, by an atomic rename) and reuse it. Torch-free.
"""
import glob
import hashlib
import os
from typing import List, Tuple

from panfpn_lite.data_tools.convert import LabelSample, convert_semantic_instance

CACHE_ENV = "PANFPN_DATA_CACHE"
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
    if os.path.isfile(panoptic_files(gt_fine, split)[0]):
        return gt_fine
    key = hashlib.sha1(os.path.abspath(gt_fine).encode()).hexdigest()[:16]
    if os.getenv(CACHE_ENV):
        return os.path.join(os.getenv(CACHE_ENV), "cityscapes", key)
    # A missing gtFine counts as writable: loading then names the missing files, not a cache folder.
    if not os.path.isdir(gt_fine) or os.access(gt_fine, os.W_OK):
        return gt_fine
    return os.path.join(os.path.expanduser("~/.cache/panfpn_d2"), "cityscapes", key)


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
    import fcntl  # POSIX only, as detectron2's training is

    json_file, png_dir = panoptic_files(folder, split)
    if os.path.isfile(json_file):
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f".cityscapes_panoptic_{split}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if os.path.isfile(json_file):  # built by another process while this one waited
            return
        samples = gtfine_samples(gt_fine, image_root, split)
        table = [dict(c, supercategory=CITYSCAPES_SUPERCATEGORIES[c["id"]]) for c in categories]
        void_ids = [i for i in CITYSCAPES_LABEL_IDS if i not in CITYSCAPES_SUPERCATEGORIES]
        convert_semantic_instance(
            samples, table, json_file, png_dir, void_ids, cityscapes_ids=True, workers=min(8, os.cpu_count() or 1)
        )
