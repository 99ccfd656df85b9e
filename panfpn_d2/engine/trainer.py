"""detectron2's DefaultTrainer, fed by the plugin's data mapper and evaluators."""
import logging

import torch
from detectron2.config import get_cfg
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer, default_setup

from ..config import add_panfpn_config
from ..data import PanFPNDatasetMapper
from ..evaluation import build_evaluator


class Trainer(DefaultTrainer):
    """DefaultTrainer with panoptic data read straight from COCO-panoptic PNGs."""

    @classmethod
    def build_train_loader(cls, cfg):
        return build_detection_train_loader(cfg, mapper=PanFPNDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(cfg, dataset_name, mapper=PanFPNDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return build_evaluator(cfg, dataset_name, output_folder)


def setup_cfg(args):
    """The config from ``--config-file`` and trailing ``KEY VALUE`` overrides, frozen and logged."""
    cfg = get_cfg()
    add_panfpn_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    if cfg.MODEL.DEVICE == "cpu" and torch.backends.mkldnn.enabled:
        # oneDNN plans a convolution kernel for every new input shape, and the ROI
        # heads see a new number of boxes nearly every iteration: seconds per step.
        torch.backends.mkldnn.enabled = False
        logging.getLogger(__name__).info("oneDNN convolutions disabled on the CPU (varying ROI batch shapes)")
    return cfg
