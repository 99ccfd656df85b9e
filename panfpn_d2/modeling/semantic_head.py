"""The semantic segmentation branch of Panoptic FPN (paper Fig. 3)."""
import math
from typing import Callable, Dict, Optional, Union

import fvcore.nn.weight_init as weight_init
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from ..config import SEM_SEG_AGGREGATIONS, SEM_SEG_LOSSES



@SEM_SEG_HEADS_REGISTRY.register()
class PanFPNSemSegHead(nn.Module):
    """
    Every FPN level goes through ``log2(stride / common_stride)`` stages of
    (3x3 conv, norm, ReLU, 2x bilinear upsampling) to the common stride (at least
    one conv for the finest level); the maps are summed or concatenated, a 1x1 conv
    predicts the classes, and the logits are upsampled to the input resolution.

    With ``aggregation="sum"`` the parameters and their names are those of
    detectron2's ``SemSegFPNHead``, so its checkpoints load unchanged.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        conv_dims: int,
        common_stride: int,
        loss_weight: float = 1.0,
        norm: Optional[Union[str, Callable]] = None,
        ignore_value: int = -1,
        aggregation: str = "sum",
        loss_type: str = "cross_entropy",
        loss_top_k: float = 1.0,
    ):
        """
        Args:
            input_shape: shapes (channels and stride) of the input features
            num_classes: number of semantic classes predicted
            conv_dims: channels of every upsampling stage (the paper's width, Table 1c)
            common_stride: the stride all levels are upsampled to before aggregation
            loss_weight: lambda_s, the weight of the semantic loss
            norm: normalization of the conv layers ("GN" in the paper)
            ignore_value: target label ignored by the loss
            aggregation: "sum" or "concat" of the upsampled levels (Table 1d)
            loss_type: "cross_entropy", or "bootstrap": cross entropy over the
                ``loss_top_k`` fraction of hardest labelled pixels only
            loss_top_k: fraction of labelled pixels kept by the bootstrap loss, in (0, 1]
        """
        super().__init__()
        if not input_shape:
            raise ValueError("PanFPNSemSegHead: input_shape (MODEL.SEM_SEG_HEAD.IN_FEATURES) is empty")
        if aggregation not in SEM_SEG_AGGREGATIONS:
            raise ValueError(
                f"MODEL.PANFPN.SEM_SEG_AGGREGATION must be one of {SEM_SEG_AGGREGATIONS}, got {aggregation!r}"
            )
        if loss_type not in SEM_SEG_LOSSES:
            raise ValueError(f"MODEL.PANFPN.SEM_SEG_LOSS must be one of {SEM_SEG_LOSSES}, got {loss_type!r}")
        if not 0.0 < loss_top_k <= 1.0:
            raise ValueError(f"MODEL.PANFPN.SEM_SEG_LOSS_TOP_K must be in (0, 1], got {loss_top_k}")
        levels = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [name for name, _ in levels]
        self.ignore_value = ignore_value
        self.common_stride = common_stride
        self.loss_weight = loss_weight
        self.aggregation = aggregation
        self.loss_type = loss_type
        self.loss_top_k = loss_top_k

        for name, shape in levels:
            num_stages = max(1, int(math.log2(shape.stride) - math.log2(common_stride)))
            stages = []
            for k in range(num_stages):
                conv = Conv2d(
                    shape.channels if k == 0 else conv_dims,
                    conv_dims,
                    kernel_size=3,
                    padding=1,
                    bias=not norm,
                    norm=get_norm(norm, conv_dims),
                    activation=F.relu,
                )
                weight_init.c2_msra_fill(conv)
                stages.append(conv)
                if shape.stride != common_stride:
                    stages.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            # Registered under the feature's name ("p2", ...), as detectron2's head does,
            # so that checkpoints share parameter names.
            self.add_module(name, nn.Sequential(*stages))
        predictor_in = conv_dims * (len(levels) if aggregation == "concat" else 1)
        self.predictor = Conv2d(predictor_in, num_classes, kernel_size=1)
        weight_init.c2_msra_fill(self.predictor)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head_cfg = cfg.MODEL.SEM_SEG_HEAD
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head_cfg.IN_FEATURES},
            "num_classes": head_cfg.NUM_CLASSES,
            "conv_dims": head_cfg.CONVS_DIM,
            "common_stride": head_cfg.COMMON_STRIDE,
            "loss_weight": head_cfg.LOSS_WEIGHT,
            "norm": head_cfg.NORM,
            "ignore_value": head_cfg.IGNORE_VALUE,
            "aggregation": cfg.MODEL.PANFPN.SEM_SEG_AGGREGATION,
            "loss_type": cfg.MODEL.PANFPN.SEM_SEG_LOSS,
            "loss_top_k": cfg.MODEL.PANFPN.SEM_SEG_LOSS_TOP_K,
        }

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        """
        Returns:
            in training: (None, {"loss_sem_seg": loss}); targets is (N, H, W) long
            in inference: ((N, num_classes, H, W) logits at input resolution, {})
        """
        logits = self.layers(features)
        if self.training:
            return None, self.losses(logits, targets)
        return self.upsample(logits), {}

    def layers(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits at the common stride."""
        maps = [getattr(self, name)(features[name]) for name in self.in_features]
        if self.aggregation == "sum":
            aggregated = maps[0]
            for m in maps[1:]:
                aggregated = aggregated + m
        else:
            aggregated = torch.cat(maps, dim=1)
        return self.predictor(aggregated)

    def upsample(self, logits: torch.Tensor) -> torch.Tensor:
        return F.interpolate(logits, scale_factor=self.common_stride, mode="bilinear", align_corners=False)

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        # float32 for the loss even under mixed precision
        logits = self.upsample(logits.float())
        return {"loss_sem_seg": self.loss_weight * self.pixel_loss(logits, targets)}

    def pixel_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_pixel = F.cross_entropy(logits, targets, reduction="none", ignore_index=self.ignore_value)
        labelled = per_pixel[targets != self.ignore_value]
        if labelled.numel() == 0:
            # No labelled pixel in the batch: a zero that keeps the graph connected
            # (cross entropy's mean would be 0/0 = NaN).
            return logits.sum() * 0.0
        if self.loss_type == "bootstrap":
            num_kept = max(1, int(math.ceil(self.loss_top_k * labelled.numel())))
            labelled = torch.topk(labelled, num_kept, sorted=False).values
        return labelled.mean()
