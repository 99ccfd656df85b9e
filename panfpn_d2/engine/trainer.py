"""detectron2's DefaultTrainer, fed by the plugin's data mapper and evaluators, with atomic checkpoints
and a non-finite loss check on every process."""
import logging
import os
import weakref
from collections import OrderedDict

from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, default_setup, hooks
from detectron2.evaluation.testing import flatten_results_dict
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..compat import STEP_TRAINER_STATE_KEY, cpu_ddp, set_step_trainer, step_trainer
from ..config import configure_for_dataset, load_config
from ..data import PanFPNDatasetMapper
from ..evaluation import build_evaluator
from ..modeling import PanFPNWithTTA
from .checkpoint import AtomicCheckpointer
from .train_loop import FiniteLossAMPTrainer, FiniteLossTrainer


class Trainer(DefaultTrainer):
    """
    DefaultTrainer with panoptic data read straight from COCO-panoptic PNGs, checkpoints that a
    kill cannot corrupt (:class:`AtomicCheckpointer`) and training stopped by a non-finite loss
    before the weights are stepped (:class:`FiniteLossTrainer`).
    """

    def __init__(self, cfg):
        # Before any training: a run whose evaluation cannot be built would end with a model and no numbers.
        for dataset_name in cfg.DATASETS.TEST:
            self.build_evaluator(cfg, dataset_name)
        with cpu_ddp():
            super().__init__(cfg)
        # DefaultTrainer hard-codes detectron2's step; ours runs on the same model, loader and optimizer.
        stock = step_trainer(self)
        if isinstance(stock, AMPTrainer):
            step = FiniteLossAMPTrainer(stock.model, stock.data_loader, stock.optimizer, grad_scaler=stock.grad_scaler)
        else:
            step = FiniteLossTrainer(stock.model, stock.data_loader, stock.optimizer)
        set_step_trainer(self, step)

    def build_hooks(self):
        # DefaultTrainer.__init__ builds a plain DetectionCheckpointer just before its hooks: they get ours.
        self.checkpointer = AtomicCheckpointer(self.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        built = super().build_hooks()
        if self.cfg.TEST.AUG.ENABLED:
            # After training, as detectron2's train_net.py does: the TTA results join the last evaluation's.
            built.append(hooks.EvalHook(0, lambda: self.test_with_TTA(self.cfg, self.model)))
        return built

    def state_dict(self):
        # detectron2 v0.6's DefaultTrainer checkpoints the iteration and its hooks (the LR scheduler) but
        # not its SimpleTrainer's state, the optimizer's (momentum buffers): resuming restarted them from
        # zero. Later detectron2 versions save it under the same key themselves.
        state = super().state_dict()
        state.setdefault(STEP_TRAINER_STATE_KEY, step_trainer(self).state_dict())
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)  # later detectron2 versions load the step's state here already
        if STEP_TRAINER_STATE_KEY in state_dict:
            step_trainer(self).load_state_dict(state_dict[STEP_TRAINER_STATE_KEY])
        else:
            logging.getLogger(__name__).warning(
                "The checkpoint holds no optimizer state (saved by detectron2 v0.6's DefaultTrainer): "
                "the optimizer resumes from scratch"
            )

    @classmethod
    def build_train_loader(cls, cfg):
        return build_detection_train_loader(cfg, mapper=PanFPNDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(cfg, dataset_name, mapper=PanFPNDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        """The dataset's evaluators; every failure is an error naming the dataset, never the
        NotImplementedError that DefaultTrainer.test turns into a warning and no evaluation."""
        try:
            return build_evaluator(cfg, dataset_name, output_folder)
        except Exception as e:
            raise RuntimeError(f"cannot evaluate DATASETS.TEST dataset {dataset_name!r}: {type(e).__name__}: {e}") from e

    @classmethod
    def test_with_TTA(cls, cfg, model):
        """Evaluate :class:`PanFPNWithTTA` on every DATASETS.TEST dataset (TEST.AUG.MIN_SIZES, MAX_SIZE,
        FLIP); the results are the plain ones' keys with a ``_TTA`` suffix."""
        logging.getLogger(__name__).info("Running inference with test-time augmentation ...")
        evaluators = [
            cls.build_evaluator(cfg, name, output_folder=os.path.join(cfg.OUTPUT_DIR, "inference_TTA"))
            for name in cfg.DATASETS.TEST
        ]
        # The augmentations resize each image from its original size, not from the test size.
        original_size = cfg.clone()
        original_size.defrost()
        original_size.INPUT.MIN_SIZE_TEST = 0
        results = cls.test(original_size, PanFPNWithTTA(cfg, model), evaluators)
        return OrderedDict((name + "_TTA", metrics) for name, metrics in results.items())


def tta_comparison(results) -> str:
    """A table of every metric of ``results`` that also has a ``_TTA`` twin: plain, TTA and the difference."""
    flat = flatten_results_dict(results)
    rows = [f"{'metric':<28}{'plain':>10}{'TTA':>10}{'TTA-plain':>11}"]
    for key, plain in flat.items():
        task, _, metric = key.partition("/")
        tta = flat.get(f"{task}_TTA/{metric}")
        if tta is not None:
            rows.append(f"{key:<28}{plain:>10.3f}{tta:>10.3f}{tta - plain:>+11.3f}")
    return "\n".join(rows)


def setup_cfg(args):
    """The config from ``--config-file`` and trailing ``KEY VALUE`` overrides (``load_config``), with
    ``--configure-for-dataset`` the class counts of DATASETS.TRAIN[0] (``configure_for_dataset``),
    logged and saved to OUTPUT_DIR by detectron2's ``default_setup``."""
    cfg = load_config(args.config_file, args.opts)
    if getattr(args, "configure_for_dataset", False):
        cfg = configured_for_training_dataset(cfg)
    default_setup(cfg, args)
    setup_plugin_logger(cfg.OUTPUT_DIR)
    return cfg


def configured_for_training_dataset(cfg):
    """A frozen copy of ``cfg`` with the class counts of its first training dataset."""
    if not cfg.DATASETS.TRAIN:
        raise ValueError("--configure-for-dataset reads the categories of DATASETS.TRAIN[0], and DATASETS.TRAIN is empty")
    cfg = cfg.clone()
    cfg.defrost()
    configure_for_dataset(cfg, cfg.DATASETS.TRAIN[0])
    cfg.freeze()
    return cfg


def setup_plugin_logger(output_dir: str) -> None:
    """default_setup logs detectron2's loggers only: the plugin's go to the same console and log.txt."""
    setup_logger(output_dir, distributed_rank=comm.get_rank(), name="panfpn_d2")
