"""Training and evaluation from a LazyConfig ``.py`` file (``model``, ``dataloader``, ``optimizer``,
``lr_multiplier``, ``train``; see configs/common/panfpn.py), with the YAML path's atomic checkpoints,
non-finite loss check and evaluators; and the LazyConfig form of a YAML (:func:`lazy_config_from_yaml`),
from which every shipped ``.py`` config is made."""
import inspect
import logging
import os
from typing import List, NamedTuple, Sequence

from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from detectron2.data import build_detection_test_loader, build_detection_train_loader, get_detection_dataset_dicts
from detectron2.data import transforms as T
from detectron2.engine import default_setup, default_writers, hooks
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.solver import WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from detectron2.utils import comm
from fvcore.common.param_scheduler import MultiStepParamScheduler
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch.optim import SGD

from ..compat import create_ddp_model
from ..config import has_instance_branch, has_semantic_branch, load_config
from ..data import PanFPNDatasetMapper
from ..evaluation import build_panoptic_fpn_evaluators
from ..evaluation.build import DETECTRON2_CACHE_FOLDER, default_output_folder
from ..modeling.lazy_parts import dataset_semantic_layout, lazy_model, lazy_value
from .checkpoint import AtomicCheckpointer
from .train_loop import FiniteLossAMPTrainer, FiniteLossTrainer
from .trainer import setup_plugin_logger

logger = logging.getLogger(__name__)
_ABSENT = object()


class LazyFromYaml(NamedTuple):
    """What a ``.py`` config holds, made from a YAML by :func:`lazy_config_from_yaml`."""

    model: DictConfig
    dataloader: dict
    optimizer: DictConfig
    lr_multiplier: DictConfig
    train: dict


def load_lazy_config(config_file: str, overrides: List[str]):
    """The config of ``config_file`` with ``key=value`` overrides (:func:`apply_checked_overrides`)."""
    cfg = LazyConfig.load(config_file)
    return apply_checked_overrides(cfg, overrides, config_file)


def apply_checked_overrides(cfg, overrides: List[str], config_file: str = "the config"):
    """detectron2's ``LazyConfig.apply_overrides``, which adds a key the config lacks (a typo trains
    with the setting unchanged) and takes any value: here both are a ValueError naming the key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for text, override in zip(overrides, OverridesParser.create().parse_overrides(overrides)):
        key, value = override.key_or_group, override.value()
        current = OmegaConf.select(cfg, key, default=_ABSENT)
        if current is _ABSENT:
            raise ValueError(f"override {text!r}: {config_file} has no key {key!r}")
        expected = expected_type(current)
        # bool is an int to isinstance: True is no iteration count, 1 no switch
        wrong_bool = expected is not None and isinstance(value, bool) != (expected[1] == "a bool")
        if expected is not None and (not isinstance(value, expected[0]) or wrong_bool):
            raise ValueError(f"override {text!r}: {key} is {expected[1]} (now {current!r}), got {value!r}")
    return LazyConfig.apply_overrides(cfg, overrides)


def expected_type(current):
    """(types an override of a key holding ``current`` may have, their name), or None for any."""
    if current is None:
        return None
    if isinstance(current, ListConfig):
        return (list, tuple), "a list"
    if isinstance(current, DictConfig):
        return dict, "a dict"
    if isinstance(current, bool):
        return bool, "a bool"
    if isinstance(current, int):
        return int, "an int"
    if isinstance(current, float):
        return (int, float), "a number"
    if isinstance(current, str):
        return str, "a string"
    return None


def build_evaluator(cfg):
    """The evaluators of ``dataloader.evaluator``; a failure is an error naming the test dataset."""
    try:
        return instantiate(cfg.dataloader.evaluator)
    except Exception as e:
        dataset = OmegaConf.select(cfg, "dataloader.test.dataset.names", default=None)
        raise RuntimeError(f"cannot evaluate dataloader.test dataset {dataset!r}: {type(e).__name__}: {e}") from e


def evaluate(cfg, model):
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), build_evaluator(cfg))
    if comm.is_main_process():
        print_csv_format(results)
    return results


def train(cfg, resume: bool):
    """Train ``cfg.model`` for ``train.max_iter`` iterations, checkpointing every ``train.checkpointer.period``
    and evaluating every ``train.eval_period`` (0: after training); ``resume`` continues from the last
    checkpoint in ``train.output_dir``, if any."""
    build_evaluator(cfg)  # before any training: a run whose evaluation cannot be built would end with no numbers
    model = instantiate(cfg.model).to(cfg.train.device)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    loader = instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (FiniteLossAMPTrainer if cfg.train.amp.enabled else FiniteLossTrainer)(model, loader, optimizer)
    checkpointer = AtomicCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    main = comm.is_main_process()
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if main else None,
        hooks.EvalHook(cfg.train.eval_period, lambda: evaluate(cfg, model)),
        # last: it writes metrics.json after the evaluation at the end of training
        hooks.PeriodicWriter(default_writers(cfg.train.output_dir, cfg.train.max_iter), period=cfg.train.log_period)
        if main else None,
    ])
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=resume)
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)


def main(args):
    """train_net.py for a ``.py`` config: train (``--resume``), or evaluate ``train.init_checkpoint``
    (``--eval-only``); the trailing arguments are ``key=value`` overrides."""
    cfg = load_lazy_config(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_plugin_logger(cfg.train.output_dir)
    if args.eval_only:
        model = create_ddp_model(instantiate(cfg.model).to(cfg.train.device))
        AtomicCheckpointer(model).load(cfg.train.init_checkpoint)
        return evaluate(cfg, model)
    return train(cfg, args.resume)


# ---- a YAML as a LazyConfig ------------------------------------------------------------------------


def lazy_config_from_yaml(config_file: str, opts: Sequence = ()) -> LazyFromYaml:
    """The LazyConfig form of the YAML ``config_file`` (with ``KEY VALUE`` overrides ``opts``): the
    ``model``, ``dataloader``, ``optimizer``, ``lr_multiplier`` and ``train`` a ``.py`` config holds,
    each setting read from the merged YAML where the YAML path (``build_model``,
    ``PanFPNDatasetMapper``, detectron2's ``build_optimizer`` / ``build_lr_scheduler`` and
    ``DefaultTrainer``) reads it, so the two forms of one recipe cannot drift. Settings detectron2's
    LazyConfig training alone has keep its defaults: ``train.log_period``, ``train.ddp``,
    ``train.checkpointer.max_to_keep``."""
    cfg = load_config(config_file, opts)
    unsupported = {
        "SOLVER.LR_SCHEDULER_NAME": (cfg.SOLVER.LR_SCHEDULER_NAME, "WarmupMultiStepLR"),
        "SOLVER.CLIP_GRADIENTS.ENABLED": (cfg.SOLVER.CLIP_GRADIENTS.ENABLED, False),
        "DATASETS.TRAIN": (len(cfg.DATASETS.TRAIN), 1),
        "DATASETS.TEST": (len(cfg.DATASETS.TEST), 1),
    }
    unsupported = {key: value for key, (value, supported) in unsupported.items() if value != supported}
    if unsupported:
        raise ValueError(f"{config_file}: a lazy config cannot express these settings: {unsupported}")
    dataloader = dict(
        train=L(build_detection_train_loader)(
            dataset=L(get_detection_dataset_dicts)(names=cfg.DATASETS.TRAIN[0],
                                                   filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS),
            mapper=L(PanFPNDatasetMapper)(
                is_train=True,
                augmentations=lazy_augmentations(cfg, is_train=True),
                image_format="${....model.input_format}",
                semantic_layout=L(dataset_semantic_layout)(
                    dataset_name="${...dataset.names}", thing_mode="${.....model.semantic_label_to_category.thing_mode}"
                ),
            ),
            total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
            aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        ),
        test=L(build_detection_test_loader)(
            dataset=L(get_detection_dataset_dicts)(names=cfg.DATASETS.TEST[0], filter_empty=False),
            mapper=L(PanFPNDatasetMapper)(
                is_train=False,
                augmentations=lazy_augmentations(cfg, is_train=False),
                image_format="${....model.input_format}",
            ),
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        ),
        evaluator=L(build_panoptic_fpn_evaluators)(
            dataset_name="${..test.dataset.names}",
            has_semantic=has_semantic_branch(cfg),
            has_instances=has_instance_branch(cfg),
            panoptic=cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED,
            thing_mode="${...model.semantic_label_to_category.thing_mode}",
            write_panoptic_png=cfg.TEST.WRITE_PANOPTIC_PNG,
            # build_evaluator's defaults, under train.output_dir
            output_folder=L(default_output_folder)(
                output_dir="${....train.output_dir}", dataset_name="${...test.dataset.names}",
                writes_files=True if cfg.TEST.PQ_REPORT else "${..write_panoptic_png}",
            ),
            pq_breakdown=cfg.TEST.PQ_BREAKDOWN,
            pq_report=cfg.TEST.PQ_REPORT,
            temp_root=cfg.TEST.CITYSCAPES_TEMP_ROOT or None,
            evaluators=cfg.TEST.EVALUATORS,
            cache_dir=f"${{...train.output_dir}}/{DETECTRON2_CACHE_FOLDER}/${{..test.dataset.names}}",
        ),
    )
    solver = cfg.SOLVER
    optimizer = L(SGD)(
        # its model is set by the training loop
        params=L(get_default_optimizer_params)(
            base_lr="${..lr}", weight_decay_norm=solver.WEIGHT_DECAY_NORM, bias_lr_factor=solver.BIAS_LR_FACTOR,
            weight_decay_bias=solver.WEIGHT_DECAY_BIAS,
        ),
        lr=solver.BASE_LR,
        momentum=solver.MOMENTUM,
        nesterov=solver.NESTEROV,
        weight_decay=solver.WEIGHT_DECAY,
    )
    steps = [step for step in solver.STEPS if step <= solver.MAX_ITER]
    lr_multiplier = L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[solver.GAMMA**k for k in range(len(steps) + 1)], milestones=steps, num_updates=solver.MAX_ITER
        ),
        warmup_length=min(solver.WARMUP_ITERS / solver.MAX_ITER, 1.0),
        warmup_method=solver.WARMUP_METHOD,
        warmup_factor=solver.WARMUP_FACTOR,
    )
    train = dict(
        output_dir=cfg.OUTPUT_DIR,
        init_checkpoint=cfg.MODEL.WEIGHTS,
        max_iter=solver.MAX_ITER,
        amp=dict(enabled=solver.AMP.ENABLED),
        ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
        checkpointer=dict(period=solver.CHECKPOINT_PERIOD, max_to_keep=100),
        eval_period=cfg.TEST.EVAL_PERIOD,  # 0: evaluate once, after training
        log_period=20,
        device=cfg.MODEL.DEVICE,
        seed=cfg.SEED,  # -1: a random seed
    )
    return LazyFromYaml(lazy_model(cfg), dataloader, optimizer, lr_multiplier, train)


def lazy_augmentations(cfg, is_train: bool) -> list:
    """``PanFPNDatasetMapper.from_config``'s augmentations as LazyCalls of the same types and settings."""
    lazy = []
    for augmentation in PanFPNDatasetMapper.from_config(cfg, is_train=is_train)["augmentations"]:
        kind = type(augmentation)
        settings = {
            name: getattr(augmentation, name) for name in inspect.signature(kind.__init__).parameters
            if name != "self" and hasattr(augmentation, name)
        }
        if isinstance(augmentation, T.ResizeShortestEdge) and not is_train:
            settings["short_edge_length"] = cfg.INPUT.MIN_SIZE_TEST  # one size, as the YAML has it
        where = f"dataloader.{'train' if is_train else 'test'}.mapper.augmentations.{len(lazy)}"
        lazy.append(L(kind)(**{name: lazy_value(v, f"{where}.{name}") for name, v in settings.items()}))
    return lazy


def lazy_twin(config_file: str) -> LazyFromYaml:
    """The LazyConfig form of the YAML beside the ``.py`` config ``config_file`` (its ``__file__``)."""
    return lazy_config_from_yaml(os.path.splitext(config_file)[0] + ".yaml")
