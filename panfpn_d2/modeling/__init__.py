"""Panoptic FPN components; importing this registers the META_ARCH and SEM_SEG_HEAD."""
from .meta_arch import PanFPN
from .panoptic_merge import combine_semantic_and_instance_outputs
from .semantic_head import PanFPNSemSegHead
from .test_time_augmentation import PanFPNWithTTA
from .two_networks import PanFPNTwoNetworks

__all__ = [
    "PanFPN",
    "PanFPNSemSegHead",
    "PanFPNTwoNetworks",
    "PanFPNWithTTA",
    "combine_semantic_and_instance_outputs",
]
