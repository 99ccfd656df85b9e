"""The lazy .py configs build what their YAML twins build: the same model and the same recipe."""
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import transforms as T
from detectron2.modeling import build_model
from detectron2.solver import build_lr_scheduler, build_optimizer

from panfpn_d2.config import load_config
from panfpn_d2.data import PanFPNDatasetMapper

from tests.support.paths import CONFIGS

TWINS = [
    "Toy-PanopticSegmentation/panfpn_toy",
    "COCO-PanopticSegmentation/panfpn_R_50_1x",
    "COCO-PanopticSegmentation/panfpn_R_50_3x",
    "COCO-PanopticSegmentation/panfpn_R_101_3x",
    "Cityscapes-PanopticSegmentation/panfpn_R_50",
    "Cityscapes-PanopticSegmentation/panfpn_R_101",
]
# PanFPN's settings that its repr does not show
MODEL_SETTINGS = [
    "pixel_mean", "pixel_std", "input_format", "instance_loss_weight", "loss_schedule", "grouped_fpn",
    "combine_enabled", "merge_settings",
    "semantic_label_to_category", "outputs",
]


def describe(augmentation):
    """An augmentation's type and settings, with tuples as lists (a lazy config's lists stay lists)."""
    if isinstance(augmentation, T.AugmentationList):
        return [describe(a) for a in augmentation.augs]
    if isinstance(augmentation, T.Augmentation):
        return type(augmentation).__name__, {key: describe(value) for key, value in vars(augmentation).items()}
    return list(augmentation) if isinstance(augmentation, tuple) else augmentation


def layout(mapper):
    """The settings of a mapper's semantic label layout (training only)."""
    return None if mapper.semantic_layout is None else vars(mapper.semantic_layout)


def load_twins(name):
    cfg = load_config(str(CONFIGS / f"{name}.yaml"), ["MODEL.DEVICE", "cpu"])
    lazy = LazyConfig.load(str(CONFIGS / f"{name}.py"))
    lazy.train.device = "cpu"
    return cfg, lazy


@pytest.mark.parametrize("name", TWINS)
def test_lazy_config_builds_the_yaml_model(name):
    cfg, lazy = load_twins(name)
    torch.manual_seed(0)
    from_yaml = build_model(cfg)
    from_lazy = instantiate(lazy.model).to(lazy.train.device)
    assert repr(from_lazy) == repr(from_yaml)  # module types, shapes, norms, strides
    shapes = {key: value.shape for key, value in from_yaml.state_dict().items()}
    assert {key: value.shape for key, value in from_lazy.state_dict().items()} == shapes
    for setting in MODEL_SETTINGS:
        yaml_value, lazy_value = getattr(from_yaml, setting), getattr(from_lazy, setting)
        if isinstance(yaml_value, torch.Tensor):
            assert torch.equal(lazy_value, yaml_value), setting
        else:
            assert lazy_value == yaml_value, setting
    assert from_lazy.sem_seg_head.loss_weight == cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT  # lambda_s
    assert from_lazy.backbone.bottom_up.stem.conv1.weight.requires_grad == (cfg.MODEL.BACKBONE.FREEZE_AT == 0)
    for name_, yaml_module in from_yaml.named_modules():
        lazy_module = from_lazy.get_submodule(name_)
        for attribute in ("batch_size_per_image", "positive_fraction", "pre_nms_topk", "post_nms_topk", "nms_thresh",
                          "test_score_thresh", "test_nms_thresh", "test_topk_per_image", "anchor_boundary_thresh"):
            if hasattr(yaml_module, attribute):
                assert getattr(lazy_module, attribute) == getattr(yaml_module, attribute), f"{name_}.{attribute}"


@pytest.mark.parametrize("name", TWINS)
def test_lazy_config_has_the_yaml_recipe(name):
    cfg, lazy = load_twins(name)
    assert lazy.train.max_iter == cfg.SOLVER.MAX_ITER
    assert lazy.train.checkpointer.period == cfg.SOLVER.CHECKPOINT_PERIOD
    assert lazy.train.init_checkpoint == cfg.MODEL.WEIGHTS
    assert lazy.train.eval_period == cfg.TEST.EVAL_PERIOD
    assert lazy.dataloader.train.total_batch_size == cfg.SOLVER.IMS_PER_BATCH
    assert lazy.dataloader.train.num_workers == cfg.DATALOADER.NUM_WORKERS
    assert (lazy.dataloader.train.dataset.names,) == tuple(cfg.DATASETS.TRAIN)
    assert (lazy.dataloader.test.dataset.names,) == tuple(cfg.DATASETS.TEST)
    assert lazy.dataloader.train.dataset.filter_empty == cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    # input sizes, crops, flips, colour augmentation, semantic target layout
    for is_train, loader in ((True, lazy.dataloader.train), (False, lazy.dataloader.test)):
        yaml_mapper, lazy_mapper = PanFPNDatasetMapper(cfg, is_train=is_train), instantiate(loader.mapper)
        assert describe(lazy_mapper.augmentations) == describe(yaml_mapper.augmentations)
        assert lazy_mapper.image_format == yaml_mapper.image_format
        assert layout(lazy_mapper) == layout(yaml_mapper) and (layout(lazy_mapper) is None) == (not is_train)
    # LR, momentum, weight decay per parameter group, and the LR schedule
    model = build_model(cfg)
    lazy.optimizer.params.model = model
    yaml_optimizer, lazy_optimizer = build_optimizer(cfg, model), instantiate(lazy.optimizer)
    assert type(lazy_optimizer) is type(yaml_optimizer)
    # "foreach" picks torch's kernel, not the arithmetic: detectron2 after v0.6 sets it, its lazy configs do not
    def groups(optimizer):
        return [{k: v for k, v in group.items() if k != "foreach"} for group in optimizer.state_dict()["param_groups"]]
    assert groups(lazy_optimizer) == groups(yaml_optimizer)
    yaml_schedule, lazy_schedule = build_lr_scheduler(cfg, yaml_optimizer)._multiplier, instantiate(lazy.lr_multiplier)
    iterations = [0, 1, 50, 99, 100, 999, 1000, *cfg.SOLVER.STEPS, *(s - 1 for s in cfg.SOLVER.STEPS)]
    for iteration in [i for i in iterations if i < cfg.SOLVER.MAX_ITER] + [cfg.SOLVER.MAX_ITER - 1]:
        where = iteration / cfg.SOLVER.MAX_ITER
        assert lazy_schedule(where) == pytest.approx(yaml_schedule(where), rel=1e-12), iteration
    # the evaluators
    assert lazy.dataloader.evaluator.thing_mode == cfg.MODEL.PANFPN.SEM_SEG_THING_MODE
    assert lazy.dataloader.evaluator.dataset_name == cfg.DATASETS.TEST[0]


def test_every_lazy_config_has_a_yaml_twin():
    lazy = {str(p.relative_to(CONFIGS).with_suffix("")) for p in CONFIGS.rglob("*.py") if p.parent.name != "common"}
    assert lazy == set(TWINS)
