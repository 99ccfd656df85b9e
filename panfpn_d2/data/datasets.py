"""Register any COCO-panoptic dataset (a JSON + a folder of PNGs) with detectron2, no offline step.

Metadata follows detectron2's "separated" panoptic convention (see docs/design.md). Nothing
here touches the disk at registration: the JSON is read when the dataset is loaded, or when its
category metadata is first used if the categories were not given up front.
"""
import json
import os
from typing import Callable, Dict, List, Optional, Sequence

from detectron2.data import DatasetCatalog, Metadata, MetadataCatalog
from detectron2.structures import BoxMode
from detectron2.utils.file_io import PathManager

from panfpn_lite.panoptic_format import CATEGORY_METADATA_KEYS, category_metadata

IGNORE_LABEL = 255
LABEL_DIVISOR = 1000
# Folder names of the train / val splits in ADE20K's and Mapillary Vistas' downloads.
SPLIT_FOLDERS = {"train": "training", "val": "validation"}


def _read_json(json_file: str, required=("images", "annotations", "categories")) -> dict:
    try:
        with PathManager.open(json_file) as f:
            content = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"panoptic JSON {json_file} does not exist") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"panoptic JSON {json_file} cannot be read: {e}") from e
    missing = [k for k in required if k not in content]
    if missing:
        raise ValueError(f"panoptic JSON {json_file} has no {missing} (not in COCO panoptic format)")
    return content


class LazyPanopticMetadata(Metadata):
    """Metadata whose category keys are read from ``panoptic_json`` on first use (annotated datasets).

    Lets a dataset be registered before its files exist, without repeating its categories in code.
    """

    def __getattr__(self, key):
        if key in CATEGORY_METADATA_KEYS:
            json_file = self.__dict__["panoptic_json"]
            # Bypass Metadata.__setattr__: it would look the key up again, re-entering here.
            self.__dict__.update(category_metadata(_read_json(json_file)["categories"], json_file))
            return self.__dict__[key]
        return super().__getattr__(key)

    def get(self, key, default=None):
        # "The value if known": before the JSON exists (e.g. a config validated before the data
        # is downloaded) the category keys are unknown, not an error; attribute access still raises.
        if key in CATEGORY_METADATA_KEYS and key not in self.__dict__ and not PathManager.exists(self.__dict__["panoptic_json"]):
            return default
        return super().get(key, default)

    def as_dict(self):
        for key in CATEGORY_METADATA_KEYS:
            getattr(self, key)
        return super().as_dict()


def read_instances_json(json_file: str) -> Dict:
    """{image id: [COCO annotations]} of a COCO instances JSON (overlapping polygons / RLEs)."""
    content = _read_json(json_file, required=("images", "annotations", "categories"))
    per_image = {image["id"]: [] for image in content["images"]}
    for annotation in content["annotations"]:
        if annotation["image_id"] not in per_image:
            raise ValueError(
                f"instances JSON {json_file}: annotation {annotation.get('id')} refers to image id "
                f"{annotation['image_id']!r}, which is not in 'images'"
            )
        per_image[annotation["image_id"]].append(annotation)
    return per_image


def instance_annotations(annotations: List[dict], thing_map: Dict[int, int], json_file: str) -> List[dict]:
    """detectron2 "annotations" of an image from its COCO instance annotations (contiguous ids)."""
    converted = []
    for annotation in annotations:
        if annotation["category_id"] not in thing_map:
            raise ValueError(
                f"instances JSON {json_file}: annotation {annotation.get('id')} has category_id "
                f"{annotation['category_id']}, not a thing category of the panoptic JSON"
            )
        converted.append(
            {
                "bbox": annotation["bbox"],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": thing_map[annotation["category_id"]],
                "segmentation": annotation["segmentation"],
                "iscrowd": int(annotation.get("iscrowd", 0)),
            }
        )
    return converted


def load_image_info_json(json_file: str, image_root: str, image_file_for: Optional[Callable[[dict], str]] = None):
    """detectron2 dataset dicts of an unannotated split (e.g. COCO test-dev's image info JSON):
    file_name, image_id, height, width per image; nothing to train or score on."""
    images = _read_json(json_file, required=("images",))["images"]
    seen = set()
    for image in images:
        if image["id"] in seen:
            raise ValueError(f"image info JSON {json_file}: image id {image['id']!r} appears more than once")
        seen.add(image["id"])
    return [
        {
            "file_name": image_file_for(image) if image_file_for else os.path.join(image_root, image["file_name"]),
            "image_id": image["id"],
            "height": image["height"],
            "width": image["width"],
        }
        for image in images
    ]


def load_panoptic_json(
    json_file: str,
    image_root: str,
    panoptic_root: str,
    categories: Optional[Sequence[dict]] = None,
    image_file_for: Optional[Callable[[dict], str]] = None,
    instances_json: Optional[str] = None,
) -> List[dict]:
    """detectron2 dataset dicts of a COCO-panoptic JSON (segments_info with contiguous category ids).

    ``categories``: if given (what the metadata was registered with), the JSON's must match.
    ``image_file_for``: maps a JSON image record to its image path (default image_root/file_name).
    ``instances_json``: a COCO instances JSON of the same images; each dict then also has detectron2's
    "annotations" (overlapping instances, the mapper's instance targets).
    """
    content = _read_json(json_file)
    json_categories = content["categories"]
    if categories is not None:
        expected = [(c["id"], bool(c["isthing"])) for c in categories]
        found = [(c.get("id"), bool(c.get("isthing"))) for c in json_categories]
        if expected != found:
            raise ValueError(
                f"panoptic JSON {json_file}: categories (id, isthing) {found} differ from the "
                f"registered ones {expected}"
            )
    meta = category_metadata(json_categories, json_file)
    thing_map = meta["thing_dataset_id_to_contiguous_id"]
    stuff_map = meta["stuff_dataset_id_to_contiguous_id"]

    images = {}
    for image in content["images"]:
        if image["id"] in images:
            raise ValueError(f"panoptic JSON {json_file}: image id {image['id']!r} appears more than once")
        images[image["id"]] = image
    annotations = {}
    for ann in content["annotations"]:
        image_id = ann["image_id"]
        if image_id not in images:
            raise ValueError(
                f"panoptic JSON {json_file}: annotation {ann.get('file_name')} refers to image id "
                f"{image_id!r}, which is not in 'images'"
            )
        if image_id in annotations:
            raise ValueError(f"panoptic JSON {json_file}: image id {image_id!r} has more than one annotation")
        annotations[image_id] = ann

    instances = read_instances_json(instances_json) if instances_json else None
    dataset_dicts = []
    for image_id, image in images.items():
        if image_id not in annotations:
            raise ValueError(
                f"panoptic JSON {json_file}: image {image.get('file_name')} (id {image_id!r}) has no annotation"
            )
        ann = annotations[image_id]
        segments_info = []
        for segment in ann["segments_info"]:
            dataset_id = segment["category_id"]
            if dataset_id not in thing_map and dataset_id not in stuff_map:
                raise ValueError(
                    f"panoptic JSON {json_file}: segment {segment['id']} of {ann['file_name']} has "
                    f"category_id {dataset_id}, which is not in 'categories'"
                )
            isthing = dataset_id in thing_map
            segments_info.append(
                {
                    "id": segment["id"],
                    "category_id": thing_map[dataset_id] if isthing else stuff_map[dataset_id],
                    "isthing": isthing,
                    "iscrowd": int(segment.get("iscrowd", 0)),
                    "area": segment.get("area"),
                    "bbox": segment.get("bbox"),
                }
            )
        record = {
            "file_name": image_file_for(image) if image_file_for else os.path.join(image_root, image["file_name"]),
            "image_id": image_id,
            "height": image["height"],
            "width": image["width"],
            "pan_seg_file_name": os.path.join(panoptic_root, ann["file_name"]),
            "segments_info": segments_info,
        }
        if instances is not None:
            if image_id not in instances:
                raise ValueError(f"instances JSON {instances_json}: no image with id {image_id!r} of {json_file}")
            record["annotations"] = instance_annotations(instances[image_id], thing_map, instances_json)
        dataset_dicts.append(record)
    return dataset_dicts


def register_panoptic_dataset(
    name: str,
    json_file: str,
    image_root: str,
    panoptic_root: str,
    *,
    evaluator_type: str = "coco_panoptic_seg",
    categories: Optional[Sequence[dict]] = None,
    image_file_for: Optional[Callable[[dict], str]] = None,
    prepare: Optional[Callable[[], object]] = None,
    has_annotations: bool = True,
    instances_json: Optional[str] = None,
    **extra_metadata,
) -> Metadata:
    """Register a COCO-panoptic dataset (any category ids) in DatasetCatalog and MetadataCatalog.

    Args:
        json_file: the panoptic JSON (images, annotations with segments_info, categories).
        image_root: folder of the images; panoptic_root: folder of the panoptic PNGs.
        evaluator_type: "coco_panoptic_seg" or "cityscapes_panoptic_seg".
        categories: the JSON's categories, if known in code: the metadata is then complete at once.
            Otherwise the category metadata is read from the JSON on first use.
        image_file_for: maps a JSON image record to its image path (default image_root/file_name).
        prepare: called before the dataset is loaded, e.g. to generate its files; needs ``categories``
            (the lazy metadata reads the JSON on its own).
        has_annotations: False for a split without ground truth (COCO test-dev): ``json_file`` is then
            an image info JSON (only "images" is read), ``panoptic_root`` may be None, ``categories``
            are required, and evaluation writes a submission (PNG + JSON) instead of metrics.
        instances_json: a COCO instances JSON of the same images (e.g. COCO's instances_val2017.json):
            instance training targets and AP ground truth then come from it (overlapping instances,
            as in Mask R-CNN's setting) instead of from the panoptic PNGs (non-overlapping).
        extra_metadata: further metadata keys (e.g. Cityscapes' gt_dir).
    Returns the dataset's Metadata. Touches no file.
    """
    if not has_annotations and categories is None:
        raise ValueError(f"dataset {name!r}: a split without annotations needs 'categories' (its JSON lists none)")
    existing = MetadataCatalog.get(name) if name in MetadataCatalog else None
    if name in DatasetCatalog or (existing is not None and set(existing.__dict__) - {"name"}):
        raise ValueError(f"dataset name {name!r} is already registered")
    if prepare is not None and categories is None:
        raise ValueError(f"dataset {name!r}: 'prepare' needs 'categories' (its JSON may not exist yet)")
    categories = None if categories is None else [dict(c) for c in categories]

    def load() -> List[dict]:
        if prepare is not None:
            prepare()
        if not has_annotations:
            return load_image_info_json(json_file, image_root, image_file_for)
        return load_panoptic_json(json_file, image_root, panoptic_root, categories, image_file_for, instances_json)

    DatasetCatalog.register(name, load)
    metadata = Metadata(name=name) if categories is not None else LazyPanopticMetadata(name=name)
    metadata.set(
        evaluator_type=evaluator_type,
        ignore_label=IGNORE_LABEL,
        label_divisor=LABEL_DIVISOR,
        panoptic_json=json_file,
        panoptic_root=panoptic_root,
        image_root=image_root,
        has_annotations=has_annotations,
        instances_json=instances_json,
        **extra_metadata,
    )
    if categories is not None:
        metadata.set(**category_metadata(categories, name))
    MetadataCatalog[name] = metadata
    return metadata


def coco_panoptic_categories() -> List[dict]:
    """COCO 2017 panoptic's 133 categories (80 things, 53 stuff), in the JSON's order."""
    from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

    return [{k: c[k] for k in ("id", "name", "isthing", "color")} for c in COCO_CATEGORIES]


def cityscapes_panoptic_categories() -> List[dict]:
    """The 19 evaluated Cityscapes classes (8 things) as createPanopticImgs writes them (label ids, trainId order).

    detectron2's copy of cityscapesscripts' labels: registering the splits needs no ``panfpn_d2[cityscapes]``.
    """
    from detectron2.data.datasets.builtin_meta import CITYSCAPES_CATEGORIES

    return [{"id": c["id"], "name": c["name"], "isthing": c["isthing"], "color": list(c["color"])} for c in CITYSCAPES_CATEGORIES]


def register_cityscapes_panoptic(name: str, cityscapes_root: str, split: str) -> Metadata:
    """Register a Cityscapes fine split in createPanopticImgs' panoptic format (label ids).

    Uses ``gtFine/cityscapes_panoptic_<split>.json`` + ``gtFine/cityscapes_panoptic_<split>/`` if
    cityscapesscripts' createPanopticImgs wrote them; otherwise the same files are built from
    ``gtFine/<split>/<city>/*_instanceIds.png`` (and ``*_labelIds.png``) on first load and cached
    (where: :mod:`panfpn_d2.data.cityscapes_panoptic`). Images:
    ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png``.
    """
    from .cityscapes_panoptic import build_cityscapes_panoptic, panoptic_files, panoptic_folder

    gt_fine = os.path.join(cityscapes_root, "gtFine")
    image_root = os.path.join(cityscapes_root, "leftImg8bit", split)
    folder = panoptic_folder(gt_fine, split)
    json_file, png_dir = panoptic_files(folder, split)
    categories = cityscapes_panoptic_categories()

    # createPanopticImgs writes image file names "<image id>_gtFine_leftImg8bit.png" (it only swaps
    # the suffix of the instanceIds file), so the image path is rebuilt from the image id.
    def image_file(image: dict) -> str:
        image_id = str(image["id"])
        city = image_id.rsplit("_", 2)[0]
        return os.path.join(image_root, city, f"{image_id}_leftImg8bit.png")

    return register_panoptic_dataset(
        name,
        json_file,
        image_root,
        png_dir,
        evaluator_type="cityscapes_panoptic_seg",
        categories=categories,
        image_file_for=image_file,
        prepare=lambda: build_cityscapes_panoptic(gt_fine, image_root, split, folder, categories),
        # detectron2's Cityscapes evaluators search <gt_dir>/<city>/*_gtFine_* files.
        gt_dir=os.path.join(gt_fine, split),
    )


def register_builtin_datasets(root: Optional[str] = None) -> None:
    """Under ``root`` ($DETECTRON2_DATASETS, default "datasets"): COCO 2017, Cityscapes fine, ADE20K and
    Mapillary Vistas (v1.2, v2.0) panoptic train/val, and COCO 2017 test-dev (no annotations)."""
    from .ade20k import register_ade20k_panoptic
    from .mapillary_vistas import register_mapillary_vistas_panoptic

    root = root if root is not None else os.getenv("DETECTRON2_DATASETS", "datasets")
    for split in ("train", "val"):
        register_ade20k_panoptic(f"panfpn_ade20k_panoptic_{split}", os.path.join(root, "ADEChallengeData2016"), split)
        mapillary = os.path.join(root, "mapillary_vistas")
        register_mapillary_vistas_panoptic(f"panfpn_mapillary_vistas_panoptic_{split}", mapillary, split, "v1.2")
        register_mapillary_vistas_panoptic(f"panfpn_mapillary_vistas_v2_panoptic_{split}", mapillary, split, "v2.0")
    coco = os.path.join(root, "coco")
    for split in ("train", "val"):
        # detectron2's layout has COCO's instances JSON beside the panoptic one: instance targets
        # and AP then use its overlapping instances, as Mask R-CNN's (and detectron2's) setting does.
        instances_json = os.path.join(coco, "annotations", f"instances_{split}2017.json")
        register_panoptic_dataset(
            f"panfpn_coco_2017_{split}",
            os.path.join(coco, "annotations", f"panoptic_{split}2017.json"),
            os.path.join(coco, f"{split}2017"),
            os.path.join(coco, f"panoptic_{split}2017"),
            categories=coco_panoptic_categories(),
            instances_json=instances_json if os.path.isfile(instances_json) else None,
        )
        register_cityscapes_panoptic(f"panfpn_cityscapes_fine_panoptic_{split}", os.path.join(root, "cityscapes"), split)
    # Table 4a's split: images only; --eval-only writes the COCO panoptic server's submission.
    register_panoptic_dataset(
        "panfpn_coco_2017_test-dev",
        os.path.join(coco, "annotations", "image_info_test-dev2017.json"),
        os.path.join(coco, "test2017"),
        None,
        categories=coco_panoptic_categories(),
        has_annotations=False,
    )
