"""The detectron2 internals (private methods and attributes) the plugin relies on, all here.

Each was checked on detectron2 v0.6 (the registry route) and on main at 02b5c4e (the source route);
``tests/test_compat.py`` fails, naming the internal, if a detectron2 version changes one.

Public alternatives weighed:
* Box-only inference: a registered ``StandardROIHeads`` subclass with a public method would need
  ``MODEL.ROI_HEADS.NAME`` changed in every config and LazyConfig (and in users' configs) for one
  call; wrapping the call here is the smaller change, and zoo checkpoints load as they are either way.
* A ResNet's output features: ``output_shape()`` is public and is used instead of ``_out_features``.
* Box-only inference in TTA used to switch ``roi_heads.mask_on`` off on the live model; it now calls
  :func:`box_detections` (through ``PanFPN.inference_raw``) and leaves the model alone.
"""
from typing import Dict, List, Mapping

import torch
from detectron2.structures import Instances

# DefaultTrainer's SimpleTrainer / AMPTrainer (the training step) and its key in the trainer's
# state_dict (detectron2 main saves it there; v0.6 does not save it).
STEP_TRAINER_ATTRIBUTE = "_trainer"
STEP_TRAINER_STATE_KEY = "_trainer"


# StandardROIHeads' box-only inference.
BOX_ONLY_METHOD = "_forward_box"


def box_detections(roi_heads, features: Dict[str, torch.Tensor], proposals: List[Instances]) -> List[Instances]:
    """The box head's detections alone, without running the mask head: ``StandardROIHeads._forward_box``
    in inference (v0.6 and main: ``(features, proposals) -> List[Instances]``)."""
    return getattr(roi_heads, BOX_ONLY_METHOD)(features, proposals)


def step_trainer(trainer):
    """The SimpleTrainer / AMPTrainer a ``DefaultTrainer`` runs each iteration (``DefaultTrainer._trainer``)."""
    return getattr(trainer, STEP_TRAINER_ATTRIBUTE)


def set_step_trainer(trainer, step) -> None:
    """Make a ``DefaultTrainer`` run ``step`` (a SimpleTrainer) each iteration: DefaultTrainer builds its
    own in ``__init__`` with no hook to choose the class."""
    setattr(trainer, STEP_TRAINER_ATTRIBUTE, step)


class LossesBeforeOptimizerStep:
    """Mixin for ``SimpleTrainer`` / ``AMPTrainer``: :meth:`check_losses` sees each step's losses after
    backward and before the optimizer step. ``run_step`` has no public hook there; it calls its private
    ``_write_metrics(loss_dict, data_time, ...)`` at that point (v0.6 and main; on main only when
    ``async_write_metrics`` is False, its default)."""

    def check_losses(self, loss_dict: Mapping[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def _write_metrics(self, loss_dict, *args, **kwargs):
        self.check_losses(loss_dict)
        super()._write_metrics(loss_dict, *args, **kwargs)
