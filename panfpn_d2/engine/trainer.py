"""detectron2's DefaultTrainer, fed by the plugin's data mapper and evaluators, with atomic checkpoints
and a non-finite loss check on every process."""
import logging
import weakref

from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, default_setup

from ..config import load_config
from ..data import PanFPNDatasetMapper
from ..evaluation import build_evaluator
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
        super().__init__(cfg)
        # DefaultTrainer hard-codes detectron2's step; ours runs on the same model, loader and optimizer.
        stock = self._trainer
        if isinstance(stock, AMPTrainer):
            self._trainer = FiniteLossAMPTrainer(stock.model, stock.data_loader, stock.optimizer, grad_scaler=stock.grad_scaler)
        else:
            self._trainer = FiniteLossTrainer(stock.model, stock.data_loader, stock.optimizer)

    def build_hooks(self):
        # DefaultTrainer.__init__ builds a plain DetectionCheckpointer just before its hooks: they get ours.
        self.checkpointer = AtomicCheckpointer(self.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        return super().build_hooks()

    def state_dict(self):
        # detectron2 v0.6's DefaultTrainer checkpoints the iteration and its hooks (the LR scheduler) but
        # not its SimpleTrainer's state, the optimizer's (momentum buffers): resuming restarted them from
        # zero. Later detectron2 versions save it under "_trainer" themselves.
        state = super().state_dict()
        state.setdefault("_trainer", self._trainer.state_dict())
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)  # later detectron2 versions load "_trainer" here already
        if "_trainer" in state_dict:
            self._trainer.load_state_dict(state_dict["_trainer"])
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


def setup_cfg(args):
    """The config from ``--config-file`` and trailing ``KEY VALUE`` overrides (``load_config``), logged
    and saved to OUTPUT_DIR by detectron2's ``default_setup``."""
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg
