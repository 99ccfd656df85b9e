"""Training and evaluation from a LazyConfig ``.py`` file (``model``, ``dataloader``, ``optimizer``,
``lr_multiplier``, ``train``; see configs/common/panfpn.py), with the YAML path's atomic checkpoints,
non-finite loss check and evaluators."""
import logging
from typing import List

from detectron2.config import LazyConfig, instantiate
from detectron2.engine import create_ddp_model, default_setup, default_writers, hooks
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from omegaconf import DictConfig, ListConfig, OmegaConf

from .checkpoint import AtomicCheckpointer
from .train_loop import FiniteLossAMPTrainer, FiniteLossTrainer
from .trainer import setup_plugin_logger

logger = logging.getLogger(__name__)
_ABSENT = object()


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
