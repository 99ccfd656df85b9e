"""R50-FPNx2 (the paper's Table 3a/3b): Mask R-CNN alone and Semantic FPN alone, trained
independently, merged into one panoptic output by the same heuristic as Panoptic FPN.

The paper's central comparison: Panoptic FPN gives "comparable accuracy with roughly half the
compute" of these two networks.
"""
import logging
import os
from pathlib import Path
from typing import Dict, List

import torch
from torch import nn

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import META_ARCH_REGISTRY, build_model

from ..config import (
    TWO_NETWORKS_ARCH, has_instance_branch, has_semantic_branch, load_config, merge_settings, model_outputs,
)
from ..model_zoo import configs_root
from .meta_arch import PanFPN
from .panoptic_merge import merge_outputs

logger = logging.getLogger(__name__)

KEY_PREFIX = "MODEL.PANFPN.TWO_NETWORKS."


def resolve_config_path(value: str, key: str) -> str:
    """The file a TWO_NETWORKS config key names: absolute, relative to the current directory, or
    relative to the shipped configs (``panfpn_d2.model_zoo.configs_root()``: the wheel's copy or the
    clone's configs/)."""
    if not value:
        raise ValueError(f"{KEY_PREFIX}{key} is empty: META_ARCHITECTURE {TWO_NETWORKS_ARCH!r} needs both configs")
    candidates = [Path(value)] if os.path.isabs(value) else [Path(value), configs_root() / value]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"{KEY_PREFIX}{key} = {value!r}: no such file (tried {[str(c) for c in candidates]})")


def build_branch_network(cfg, role: str) -> PanFPN:
    """The Mask R-CNN-alone (role "INSTANCE") or Semantic-FPN-alone (role "SEMANTIC") network of the
    x2 config ``cfg``, built from its own config on cfg's device, with its checkpoint loaded."""
    two = cfg.MODEL.PANFPN.TWO_NETWORKS
    config_file = resolve_config_path(two[f"{role}_CONFIG"], f"{role}_CONFIG")
    wanted_instances, wanted_semantic = role == "INSTANCE", role == "SEMANTIC"
    # the x2 model merges the two networks' outputs itself
    output = "instances" if wanted_instances else "sem_seg"
    branch_cfg = load_config(config_file, ["MODEL.DEVICE", cfg.MODEL.DEVICE, "MODEL.PANFPN.OUTPUTS", (output,)])
    has_instances, has_semantic = has_instance_branch(branch_cfg), has_semantic_branch(branch_cfg)
    if branch_cfg.MODEL.META_ARCHITECTURE != "PanFPN" or (has_instances, has_semantic) != (
        wanted_instances, wanted_semantic
    ):
        what = "Mask R-CNN alone (SEM_SEG_HEAD.LOSS_WEIGHT 0)" if wanted_instances else (
            "Semantic FPN alone (PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT 0)")
        raise ValueError(
            f"{KEY_PREFIX}{role}_CONFIG = {config_file}: must configure a PanFPN that is {what}; it has "
            f"META_ARCHITECTURE {branch_cfg.MODEL.META_ARCHITECTURE!r}, lambda_i "
            f"{branch_cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT}, lambda_s {branch_cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT}"
        )
    if wanted_semantic and branch_cfg.MODEL.PANFPN.SEM_SEG_THING_MODE != cfg.MODEL.PANFPN.SEM_SEG_THING_MODE:
        raise ValueError(
            f"{KEY_PREFIX}SEMANTIC_CONFIG = {config_file} has MODEL.PANFPN.SEM_SEG_THING_MODE "
            f"{branch_cfg.MODEL.PANFPN.SEM_SEG_THING_MODE!r} but the x2 config {cfg.MODEL.PANFPN.SEM_SEG_THING_MODE!r}: "
            "its semantic evaluation reads the x2 config's"
        )
    network = build_model(branch_cfg)
    weights = two[f"{role}_WEIGHTS"]
    if weights:
        DetectionCheckpointer(network).load(weights)
    else:
        logger.warning(f"{KEY_PREFIX}{role}_WEIGHTS is empty: that network is untrained unless MODEL.WEIGHTS "
                       "holds a whole x2 checkpoint")
    return network


@META_ARCH_REGISTRY.register()
class PanFPNTwoNetworks(nn.Module):
    """Two independently trained networks evaluated as one panoptic model (R50-FPNx2): the
    ``instances`` of a Mask R-CNN-alone PanFPN, the ``sem_seg`` of a Semantic-FPN-alone PanFPN,
    and their ``panoptic_seg`` by the merge PanFPN uses (:func:`.panoptic_merge.merge_outputs`), with the x2
    config's MODEL.PANOPTIC_FPN.COMBINE settings. Inference only: train each network with its own
    config (MODEL.PANFPN.TWO_NETWORKS.{INSTANCE,SEMANTIC}_CONFIG)."""

    def __init__(self, cfg):
        super().__init__()
        self.instance_network = build_branch_network(cfg, "INSTANCE")
        self.semantic_network = build_branch_network(cfg, "SEMANTIC")
        self.combine_enabled = cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED
        self.merge_settings = merge_settings(cfg)
        self.outputs = model_outputs(cfg)

    @property
    def device(self) -> torch.device:
        return self.instance_network.device

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """One dict per image with the keys of MODEL.PANFPN.OUTPUTS: "instances", "sem_seg" and (unless
        COMBINE.ENABLED is False) "panoptic_seg" by default."""
        if self.training:
            raise RuntimeError(
                f"{TWO_NETWORKS_ARCH} is evaluated only: train its two networks with their own configs "
                f"({KEY_PREFIX}INSTANCE_CONFIG and {KEY_PREFIX}SEMANTIC_CONFIG)"
            )
        instance_results = self.instance_network(batched_inputs)
        semantic_results = self.semantic_network(batched_inputs)
        results = []
        for instance_result, semantic_result in zip(instance_results, semantic_results):
            result = {"sem_seg": semantic_result["sem_seg"], "instances": instance_result["instances"]}
            if "panoptic_seg" in self.outputs:
                result["panoptic_seg"] = merge_outputs(
                    result, self.merge_settings, self.semantic_network.semantic_label_to_category
                )
            results.append({name: result[name] for name in self.outputs})
        return results
