"""Config keys of the plugin. All new keys live under ``MODEL.PANFPN``.

Keys detectron2 already has are read where they mean the same thing:
  * lambda_s: ``MODEL.SEM_SEG_HEAD.LOSS_WEIGHT`` (0 builds no semantic branch)
  * lambda_i: ``MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT`` (0 builds no RPN / ROI heads)
  * semantic branch width: ``MODEL.SEM_SEG_HEAD.CONVS_DIM``
  * the merge: ``MODEL.PANOPTIC_FPN.COMBINE.{ENABLED, OVERLAP_THRESH, STUFF_AREA_LIMIT,
    INSTANCES_CONFIDENCE_THRESH}``
"""
from detectron2.config import CfgNode as CN


def add_panfpn_config(cfg):
    """Add the plugin's keys to a detectron2 config, in place. Safe to call twice."""
    if "PANFPN" in cfg.MODEL:
        return cfg
    cfg.MODEL.PANFPN = CN()
    # How thing pixels are labelled in the semantic branch: "other" (one shared
    # 'other' class, label 0, the COCO setting) or "all" (one class per category,
    # in the dataset's category order, the Cityscapes setting).
    cfg.MODEL.PANFPN.SEM_SEG_THING_MODE = "other"
    # How the semantic branch aggregates its upsampled FPN levels: "sum" or "concat".
    cfg.MODEL.PANFPN.SEM_SEG_AGGREGATION = "sum"
    # Semantic loss: "cross_entropy" or "bootstrap" (cross entropy over the hardest pixels only).
    cfg.MODEL.PANFPN.SEM_SEG_LOSS = "cross_entropy"
    # For "bootstrap": the fraction of labelled pixels (hardest first) kept in the loss.
    cfg.MODEL.PANFPN.SEM_SEG_LOSS_TOP_K = 0.15
    # "combine": both branches' losses every iteration; "alternate": one branch per
    # iteration, instance first, in turns.
    cfg.MODEL.PANFPN.LOSS_SCHEDULE = "combine"
    # Grouped FPN: the instance branch sees the first half of the FPN channels and
    # the semantic branch the second half.
    cfg.MODEL.PANFPN.GROUPED_FPN = False
    # Train-time photometric augmentation (brightness/contrast/saturation), the Cityscapes recipe.
    cfg.MODEL.PANFPN.COLOR_AUG = False
    # CPU only: False runs the ROI heads without oneDNN, which re-plans its kernels for
    # every new number of boxes (seconds per training step); the backbone keeps it.
    cfg.MODEL.PANFPN.ROI_HEADS_ONEDNN = True
    # What inference returns (all three: whatever the model's branches give, as detectron2); without
    # "instances", the mask head runs only on the detections the panoptic merge can paste.
    cfg.MODEL.PANFPN.OUTPUTS = ("sem_seg", "instances", "panoptic_seg")
    # Evaluation: also write predictions as COCO panoptic PNG + JSON (for a benchmark server).
    cfg.MODEL.PANFPN.EVAL_WRITE_PANOPTIC_PNG = False
    # Evaluation on Cityscapes: where cityscapesscripts' prediction files go ("": the system's
    # temporary folder); a multi-machine run needs a folder every machine sees.
    cfg.MODEL.PANFPN.EVAL_TEMP_ROOT = ""
    return cfg
