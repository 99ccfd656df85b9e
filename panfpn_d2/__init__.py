"""
Panoptic Feature Pyramid Networks (Kirillov, Girshick, He, Dollar, CVPR 2019) as a
detectron2 plugin. ``import panfpn_d2`` registers the META_ARCH ``PanFPN``, the
SEM_SEG_HEAD ``PanFPNSemSegHead`` and the plugin's datasets; nothing else.
"""
from . import data  # noqa: F401  (registers the datasets)
from . import modeling  # noqa: F401  (registers the model components)
from .config import add_panfpn_config
from .data import register_panoptic_dataset
from .modeling import PanFPN, PanFPNSemSegHead, combine_semantic_and_instance_outputs

__version__ = "0.1.0"
__all__ = [
    "add_panfpn_config",
    "register_panoptic_dataset",
    "PanFPN",
    "PanFPNSemSegHead",
    "combine_semantic_and_instance_outputs",
]
