"""Everything about the config: the plugin's keys, their allowed values, the checks, which branches a
config builds, the semantic label layout it implies, and the one config loader.

New keys live under ``MODEL.PANFPN`` (the model), ``INPUT`` (data) and ``TEST`` (evaluation).
Keys detectron2 already has are read where they mean the same thing:
  * lambda_s: ``MODEL.SEM_SEG_HEAD.LOSS_WEIGHT`` (0 builds no semantic branch)
  * lambda_i: ``MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT`` (0 builds no RPN / ROI heads)
  * semantic branch width: ``MODEL.SEM_SEG_HEAD.CONVS_DIM``
  * the merge: ``MODEL.PANOPTIC_FPN.COMBINE.{ENABLED, OVERLAP_THRESH, STUFF_AREA_LIMIT,
    INSTANCES_CONFIDENCE_THRESH}``
"""
import os
from typing import List, Optional, Sequence, Tuple

from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog

from panfpn_lite.merge_settings import MergeSettings
from panfpn_lite.runtime.precision import EAGER_PRECISIONS
from panfpn_lite.semantic_layout import THING_MODES, SemanticLabelLayout

LOSS_SCHEDULES = ("combine", "alternate")
SEM_SEG_AGGREGATIONS = ("sum", "concat")
SEM_SEG_LOSSES = ("cross_entropy", "bootstrap")
# What inference can return, in detectron2's order.
OUTPUTS = ("sem_seg", "instances", "panoptic_seg")
ROI_ALIGN_CPU_BACKWARDS = ("torchvision", "separable")
# Which evaluators score a test set: this project's, or detectron2's stock ones.
EVALUATOR_SETS = ("panfpn", "detectron2")

__all__ = [
    "EVALUATOR_SETS",
    "LOSS_SCHEDULES",
    "OUTPUTS",
    "ROI_ALIGN_CPU_BACKWARDS",
    "SEM_SEG_AGGREGATIONS",
    "SEM_SEG_LOSSES",
    "THING_MODES",
    "add_panfpn_config",
    "has_instance_branch",
    "has_semantic_branch",
    "layout_dataset_names",
    "load_config",
    "merge_settings",
    "model_outputs",
    "resolve_outputs",
    "semantic_label_to_category",
    "semantic_layout",
    "validate_config",
]

# META_ARCHITECTURE of R50-FPNx2 (Table 3a/3b): two independently trained networks merged.
TWO_NETWORKS_ARCH = "PanFPNTwoNetworks"


def add_panfpn_config(cfg):
    """Add the plugin's keys to a detectron2 config, in place. Safe to call twice."""
    if "PANFPN" in cfg.MODEL:
        return cfg
    cfg.MODEL.PANFPN = CN()
    # How thing pixels are labelled in the semantic branch, one of THING_MODES: "other" (one shared
    # 'other' class, label 0, the COCO setting) or "all" (one class per category, in the dataset's
    # category order, the Cityscapes setting).
    cfg.MODEL.PANFPN.SEM_SEG_THING_MODE = "other"
    # How the semantic branch aggregates its upsampled FPN levels, one of SEM_SEG_AGGREGATIONS.
    cfg.MODEL.PANFPN.SEM_SEG_AGGREGATION = "sum"
    # Semantic loss, one of SEM_SEG_LOSSES: "bootstrap" is cross entropy over the hardest pixels only.
    cfg.MODEL.PANFPN.SEM_SEG_LOSS = "cross_entropy"
    # For "bootstrap": the fraction of labelled pixels (hardest first) kept in the loss.
    cfg.MODEL.PANFPN.SEM_SEG_LOSS_TOP_K = 0.15
    # One of LOSS_SCHEDULES: "combine", both branches' losses every iteration; "alternate", one
    # branch per iteration, instance first, in turns.
    cfg.MODEL.PANFPN.LOSS_SCHEDULE = "combine"
    # Grouped FPN: the instance branch sees the first half of the FPN channels and
    # the semantic branch the second half.
    cfg.MODEL.PANFPN.GROUPED_FPN = False
    # CPU training, one of ROI_ALIGN_CPU_BACKWARDS: ROIAlign's backward as torchvision's serial
    # loop or as matrix products on small maps (modeling/roi_align.py).
    cfg.MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD = "torchvision"
    # What inference returns, a subset of OUTPUTS (all three: what the model's branches give, as
    # detectron2); without "instances", the mask head runs only on the detections the merge can paste.
    cfg.MODEL.PANFPN.OUTPUTS = OUTPUTS
    # The numeric precision of the network at inference (--eval-only, the demo, TTA), one of
    # EAGER_PRECISIONS: "bf16" autocast on CPUs with bf16 units, "fp16" autocast on CUDA, "auto"
    # (bf16 where the CPU has bf16 units, else fp32; docs/deployment.md); the merge and
    # post-processing run in fp32 always.
    cfg.MODEL.PANFPN.INFERENCE_PRECISION = "fp32"
    # Train-time colour augmentation: SSD's photometric distortion (data/color_augmentation.py), the
    # paper's recipe for its largest semantic segmentation backbones only.
    cfg.INPUT.COLOR_AUG = False
    # The crop's cap on the area of one semantic category (detectron2 declares it from v0.6's
    # successors on; 1.0 = no cap, a plain random crop).
    if "SINGLE_CATEGORY_MAX_AREA" not in cfg.INPUT.CROP:
        cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 1.0
    # Evaluation: also write predictions as COCO panoptic PNG + JSON (for a benchmark server).
    cfg.TEST.WRITE_PANOPTIC_PNG = False
    # Evaluation: also PQ by segment size, boundary PQ and the error breakdown (a second pass over
    # the ground truth PNGs; docs/diagnosing_pq.md).
    cfg.TEST.PQ_BREAKDOWN = False
    # Evaluation: also that breakdown drawn as a static HTML page, OUTPUT_DIR/inference/<dataset>/
    # pq_report/index.html (panfpn-pq --report; needs matplotlib, the "report" extra).
    cfg.TEST.PQ_REPORT = False
    # Evaluation on Cityscapes: where cityscapesscripts' prediction files go ("": the system's
    # temporary folder); a multi-machine run needs a folder every machine sees.
    cfg.TEST.CITYSCAPES_TEMP_ROOT = ""
    # Evaluation: one of EVALUATOR_SETS, "panfpn" (this project's evaluators) or "detectron2" (its
    # COCOPanopticEvaluator, SemSegEvaluator, COCOEvaluator and Cityscapes evaluators, whose
    # ground-truth files are made from the panoptic ones under OUTPUT_DIR/detectron2_evaluation).
    cfg.TEST.EVALUATORS = "panfpn"
    # R50-FPNx2 (META_ARCHITECTURE "PanFPNTwoNetworks"): two networks, each from its own config file
    # (absolute, relative to the current directory, or to this repository's configs/) and checkpoint.
    cfg.MODEL.PANFPN.TWO_NETWORKS = CN()
    # Config of the Mask R-CNN-alone network (MODEL.SEM_SEG_HEAD.LOSS_WEIGHT 0).
    cfg.MODEL.PANFPN.TWO_NETWORKS.INSTANCE_CONFIG = ""
    # Its trained checkpoint ("": not loaded; then MODEL.WEIGHTS must hold a whole x2 checkpoint).
    cfg.MODEL.PANFPN.TWO_NETWORKS.INSTANCE_WEIGHTS = ""
    # Config of the Semantic-FPN-alone network (MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT 0).
    cfg.MODEL.PANFPN.TWO_NETWORKS.SEMANTIC_CONFIG = ""
    # Its trained checkpoint ("": not loaded).
    cfg.MODEL.PANFPN.TWO_NETWORKS.SEMANTIC_WEIGHTS = ""
    return cfg


def load_config(config_file: str, opts: Sequence = ()):
    """The frozen config of ``config_file`` (detectron2's defaults + the plugin's keys) with the
    ``KEY VALUE`` overrides in ``opts``: the one way this project builds a config."""
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"config file {config_file!r}: no such file")
    if len(opts) % 2:
        raise ValueError(f"config overrides come as KEY VALUE pairs, got an odd number of items: {list(opts)}")
    cfg = add_panfpn_config(get_cfg())
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def has_instance_branch(cfg) -> bool:
    """Whether the model has an RPN and ROI heads (lambda_i > 0; R50-FPNx2 always)."""
    return cfg.MODEL.META_ARCHITECTURE == TWO_NETWORKS_ARCH or cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT > 0


def has_semantic_branch(cfg) -> bool:
    """Whether the model has a semantic branch (lambda_s > 0; R50-FPNx2 always)."""
    return cfg.MODEL.META_ARCHITECTURE == TWO_NETWORKS_ARCH or cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT > 0


def resolve_outputs(requested, has_instances: bool, has_semantic: bool, combine_enabled: bool) -> Tuple[str, ...]:
    """
    What inference returns (MODEL.PANFPN.OUTPUTS), in ``OUTPUTS`` order. The default, all of
    ``OUTPUTS``, means what the model can give (as detectron2: a branch-less output is left
    out); any other request must be a non-empty subset of ``OUTPUTS`` whose outputs the model
    can all give. Raises a ValueError naming the key otherwise.
    """
    requested = tuple(requested)
    needs = {
        "sem_seg": (has_semantic, "a semantic branch (MODEL.SEM_SEG_HEAD.LOSS_WEIGHT > 0)"),
        "instances": (has_instances, "an instance branch (MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT > 0)"),
        # of either branch alone too: things only, or stuff only (Table 2's lambda = 0 rows)
        "panoptic_seg": (combine_enabled, "MODEL.PANOPTIC_FPN.COMBINE.ENABLED"),
    }
    if sorted(requested) == sorted(OUTPUTS):
        return tuple(name for name in OUTPUTS if needs[name][0])
    unknown = [name for name in requested if name not in OUTPUTS]
    if not requested or unknown or len(set(requested)) != len(requested):
        raise ValueError(
            f"MODEL.PANFPN.OUTPUTS must be a non-empty list of distinct names from {OUTPUTS}, got {requested}"
        )
    for name in requested:
        available, what = needs[name]
        if not available:
            raise ValueError(f"MODEL.PANFPN.OUTPUTS lists {name!r}, which needs {what}")
    return tuple(name for name in OUTPUTS if name in requested)


def model_outputs(cfg) -> Tuple[str, ...]:
    """What the config's model returns at inference (:func:`resolve_outputs` of MODEL.PANFPN.OUTPUTS)."""
    return resolve_outputs(
        cfg.MODEL.PANFPN.OUTPUTS, has_instance_branch(cfg), has_semantic_branch(cfg),
        cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED,
    )


def merge_settings(cfg) -> MergeSettings:
    """The panoptic merge's settings: MODEL.PANOPTIC_FPN.COMBINE's thresholds (ENABLED is an output
    switch, see :func:`model_outputs`)."""
    combine = cfg.MODEL.PANOPTIC_FPN.COMBINE
    return MergeSettings(
        overlap_thresh=combine.OVERLAP_THRESH,
        stuff_area_limit=combine.STUFF_AREA_LIMIT,
        instances_confidence_thresh=combine.INSTANCES_CONFIDENCE_THRESH,
    )


def layout_dataset_names(cfg) -> List[str]:
    """The datasets whose categories define the model's labels: DATASETS.TRAIN, else DATASETS.TEST.
    They must share one category layout (the first one's)."""
    names = list(cfg.DATASETS.TRAIN) or list(cfg.DATASETS.TEST)
    if names:
        first = MetadataCatalog.get(names[0]).get("category_dataset_ids", None)
        for name in names[1:]:
            other = MetadataCatalog.get(name).get("category_dataset_ids", None)
            if other != first:
                raise ValueError(
                    f"datasets {names[0]!r} and {name!r} have different categories ({first} vs {other}); "
                    "one semantic label layout cannot serve both"
                )
    return names


def semantic_layout(cfg) -> Optional[SemanticLabelLayout]:
    """The semantic label layout of the config's thing mode on its layout dataset
    (:func:`layout_dataset_names`); None when the config names no dataset."""
    names = layout_dataset_names(cfg)
    if not names:
        return None
    return SemanticLabelLayout.from_metadata(MetadataCatalog.get(names[0]), cfg.MODEL.PANFPN.SEM_SEG_THING_MODE)


def semantic_label_to_category(cfg) -> Optional[List[int]]:
    """For each semantic label, the stuff contiguous id of its panoptic segment, or -1 to discard
    its pixels (the merge's table); None without a semantic branch.

    Without a dataset only the "other" layout is known: label 0 (things) is discarded and label k
    is stuff contiguous id k.
    """
    if not has_semantic_branch(cfg):
        return None
    layout = semantic_layout(cfg)
    if layout is not None:
        return layout.stuff_contiguous_ids
    if cfg.MODEL.PANFPN.SEM_SEG_THING_MODE == "other":
        return [-1] + list(range(1, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES))
    raise ValueError(
        "MODEL.PANFPN.SEM_SEG_THING_MODE='all' needs the dataset's category order (metadata "
        "'category_dataset_ids'), but DATASETS.TRAIN "
        "and DATASETS.TEST are empty"
    )


def validate_config(cfg) -> None:
    """Raise a ValueError naming the key of any inconsistent setting."""
    choices = {
        "MODEL.PANFPN.SEM_SEG_THING_MODE": (cfg.MODEL.PANFPN.SEM_SEG_THING_MODE, THING_MODES),
        "MODEL.PANFPN.LOSS_SCHEDULE": (cfg.MODEL.PANFPN.LOSS_SCHEDULE, LOSS_SCHEDULES),
        "MODEL.PANFPN.SEM_SEG_AGGREGATION": (cfg.MODEL.PANFPN.SEM_SEG_AGGREGATION, SEM_SEG_AGGREGATIONS),
        "MODEL.PANFPN.SEM_SEG_LOSS": (cfg.MODEL.PANFPN.SEM_SEG_LOSS, SEM_SEG_LOSSES),
        "MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD": (cfg.MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD, ROI_ALIGN_CPU_BACKWARDS),
        "TEST.EVALUATORS": (cfg.TEST.EVALUATORS, EVALUATOR_SETS),
        "MODEL.PANFPN.INFERENCE_PRECISION": (cfg.MODEL.PANFPN.INFERENCE_PRECISION, EAGER_PRECISIONS),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {value!r}")
    weights = {
        "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT": cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT,
        "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT,
    }
    for key, value in weights.items():
        if value < 0:
            raise ValueError(f"{key} (a lambda of the joint loss) must be >= 0, got {value}")
    if not has_instance_branch(cfg) and not has_semantic_branch(cfg):
        raise ValueError(f"{' and '.join(weights)} are both 0: nothing to train")
    model_outputs(cfg)  # raises, naming the key, on a MODEL.PANFPN.OUTPUTS the model cannot give
    if cfg.MODEL.PANFPN.GROUPED_FPN and cfg.MODEL.FPN.OUT_CHANNELS % 2:
        raise ValueError(
            f"MODEL.PANFPN.GROUPED_FPN splits the FPN channels in halves: MODEL.FPN.OUT_CHANNELS "
            f"must be even, got {cfg.MODEL.FPN.OUT_CHANNELS}"
        )
    if cfg.TEST.PQ_REPORT and not cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED:
        raise ValueError("TEST.PQ_REPORT reports on the panoptic output, which MODEL.PANOPTIC_FPN.COMBINE.ENABLED False turns off")

    names = layout_dataset_names(cfg)
    if not names:
        return
    metadata = MetadataCatalog.get(names[0])
    thing_mode = cfg.MODEL.PANFPN.SEM_SEG_THING_MODE
    expected = {}
    if has_semantic_branch(cfg):
        if thing_mode == "other" and metadata.get("stuff_classes", None) is not None:
            expected["MODEL.SEM_SEG_HEAD.NUM_CLASSES"] = (
                cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, len(metadata.stuff_classes), "stuff classes + 'other'")
        if thing_mode == "all" and metadata.get("category_dataset_ids", None) is not None:
            expected["MODEL.SEM_SEG_HEAD.NUM_CLASSES"] = (
                cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, len(metadata.category_dataset_ids), "categories")
    if has_instance_branch(cfg) and metadata.get("thing_classes", None) is not None:
        expected["MODEL.ROI_HEADS.NUM_CLASSES"] = (cfg.MODEL.ROI_HEADS.NUM_CLASSES, len(metadata.thing_classes), "thing classes")
    for key, (value, needed, what) in expected.items():
        if value != needed:
            raise ValueError(
                f"{key} = {value} disagrees with dataset {names[0]!r}, which has {needed} {what} "
                f"(MODEL.PANFPN.SEM_SEG_THING_MODE = {thing_mode!r}): set {key} {needed}, or run train_net.py "
                f"with --configure-for-dataset (panfpn_d2.config.configure_for_dataset)"
            )


def configure_for_dataset(cfg, dataset_name: str):
    """Set the class counts ``dataset_name``'s categories call for (what validate_config checks):
    MODEL.ROI_HEADS.NUM_CLASSES (thing classes) and MODEL.SEM_SEG_HEAD.NUM_CLASSES (the labels of
    the semantic layout in the config's MODEL.PANFPN.SEM_SEG_THING_MODE). ``cfg`` must not be
    frozen; returns it.

    The thing mode and MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT are left as the config has them:
    neither the paper nor detectron2 gives a rule deriving them from a dataset (detectron2's 4096
    pixels is COCO's, used unchanged on every dataset)."""
    if dataset_name not in MetadataCatalog.list() or MetadataCatalog.get(dataset_name).get("thing_classes", None) is None:
        raise KeyError(f"dataset {dataset_name!r} is not registered with category metadata (thing_classes)")
    metadata = MetadataCatalog.get(dataset_name)
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = len(metadata.thing_classes)
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = SemanticLabelLayout.from_metadata(
        metadata, cfg.MODEL.PANFPN.SEM_SEG_THING_MODE
    ).num_classes
    return cfg
