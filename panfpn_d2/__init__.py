"""Panoptic FPN as a detectron2 plugin."""
