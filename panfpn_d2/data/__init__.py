"""Panoptic data: dataset registration, targets derived from panoptic PNGs, the dataset mapper."""
from .panoptic_targets import instances_from_panoptic, semantic_target_from_panoptic

__all__ = ["instances_from_panoptic", "semantic_target_from_panoptic"]
