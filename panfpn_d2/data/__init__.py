"""Panoptic data: dataset registration, targets derived from panoptic PNGs, the dataset mapper.

Importing this package registers (names only, no file is read) the built-in datasets under
``$DETECTRON2_DATASETS``: ``panfpn_coco_2017_{train,val}``, ``panfpn_coco_2017_test-dev`` (images only),
``panfpn_cityscapes_fine_panoptic_{train,val}`` (panoptic files built from gtFine on first load),
``panfpn_ade20k_panoptic_{train,val}``, ``panfpn_mapillary_vistas_panoptic_{train,val}`` (v1.2) and
``panfpn_mapillary_vistas_v2_panoptic_{train,val}``; and the generated toy dataset ``panfpn_toy_{train,val}``.
"""
from .dataset_mapper import PanFPNDatasetMapper
from .datasets import register_builtin_datasets, register_panoptic_dataset
from .panoptic_targets import instances_from_panoptic, semantic_target_from_panoptic
from .toy import register_toy_datasets

__all__ = [
    "PanFPNDatasetMapper",
    "instances_from_panoptic",
    "register_panoptic_dataset",
    "semantic_target_from_panoptic",
]

register_builtin_datasets()
register_toy_datasets()
