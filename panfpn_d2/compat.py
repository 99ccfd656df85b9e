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
* DistributedDataParallel of a CPU model: ``DefaultTrainer.__init__`` calls ``create_ddp_model`` with
  no hook between building the model and wrapping it (overriding ``build_model`` cannot stop the
  ``device_ids`` it adds), so :func:`cpu_ddp` swaps the function for the call; the LazyConfig loop
  calls :func:`create_ddp_model` itself, with no swap.
"""
import contextlib
import importlib
import importlib.util
import json
import os
import sys
import types
from typing import Dict, List, Mapping

import numpy as np
import torch
import torch.distributed as dist
from detectron2.engine import defaults
from detectron2.structures import Instances
from detectron2.utils import comm

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


# ---- processes and DistributedDataParallel ---------------------------------------------------------

# The module global DefaultTrainer.__init__ reads ``create_ddp_model`` from at call time.
DDP_FACTORY_MODULE = defaults
DDP_FACTORY_NAME = "create_ddp_model"
# detectron2 v0.6 keeps the per-machine group (what ``comm.get_local_rank`` reads) here; main also has
# the public ``comm.create_local_process_group``, and its ``launch`` starts CPU processes itself.
LOCAL_PROCESS_GROUP_ATTRIBUTE = "_LOCAL_PROCESS_GROUP"


def launch_supports_cpu() -> bool:
    """Whether detectron2's ``launch`` starts several processes without CUDA (main: gloo; v0.6 asserts CUDA)."""
    return hasattr(comm, "create_local_process_group")


def create_local_process_group(num_per_machine: int) -> None:
    """detectron2 main's ``comm.create_local_process_group``, also on v0.6, where the group is stored
    in ``comm._LOCAL_PROCESS_GROUP``; every process creates every machine's group, as
    ``dist.new_group`` requires."""
    if launch_supports_cpu():
        comm.create_local_process_group(num_per_machine)
        return
    for machine in range(dist.get_world_size() // num_per_machine):
        ranks = list(range(machine * num_per_machine, (machine + 1) * num_per_machine))
        group = dist.new_group(ranks)
        if dist.get_rank() in ranks:
            setattr(comm, LOCAL_PROCESS_GROUP_ATTRIBUTE, group)


def create_ddp_model(model: torch.nn.Module, **kwargs):
    """detectron2's ``create_ddp_model``, also for a model on the CPU: detectron2 (v0.6 and main) passes
    ``device_ids=[local rank]``, which DistributedDataParallel refuses for a CPU module."""
    if "device_ids" not in kwargs and all(p.device.type == "cpu" for p in model.parameters()):
        kwargs["device_ids"] = None
    return _detectron2_create_ddp_model(model, **kwargs)


_detectron2_create_ddp_model = getattr(DDP_FACTORY_MODULE, DDP_FACTORY_NAME)


@contextlib.contextmanager
def cpu_ddp():
    """Within it, detectron2's ``DefaultTrainer`` wraps its model with :func:`create_ddp_model`."""
    if comm.get_world_size() == 1:
        yield
        return
    setattr(DDP_FACTORY_MODULE, DDP_FACTORY_NAME, create_ddp_model)
    try:
        yield
    finally:
        setattr(DDP_FACTORY_MODULE, DDP_FACTORY_NAME, _detectron2_create_ddp_model)


# ---- detectron2's Cityscapes evaluators -------------------------------------------------------------

# The name detectron2 main's Cityscapes evaluators import cityscapesscripts by (since December 2024;
# v0.6 imports ``cityscapesscripts``), which no public package provides.
META_CITYSCAPESSCRIPTS = "deeplearning.projects.cityscapesApi.cityscapesscripts"
CITYSCAPESSCRIPTS_MODULES = (
    "cityscapesscripts.helpers.labels",
    "cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling",
    "cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling",
)
# What cityscapesscripts' evaluateImgLists writes its JSON with (the instance level: ``matches.json``
# in the current directory, which detectron2's evaluator leaves as it is).
CITYSCAPESSCRIPTS_JSON_WRITER = "writeDict2JSON"


@contextlib.contextmanager
def cityscapesscripts_under_metas_name():
    """Inside the block, ``deeplearning.projects.cityscapesApi.cityscapesscripts[.…]`` imports the
    installed cityscapesscripts. Nothing is changed where such a ``deeplearning`` package is installed."""
    if importlib.util.find_spec(META_CITYSCAPESSCRIPTS.split(".")[0]) is not None:
        yield
        return
    for module in CITYSCAPESSCRIPTS_MODULES:
        importlib.import_module(module)
    prefix = META_CITYSCAPESSCRIPTS[: -len("cityscapesscripts")]
    aliases = {}
    parts = prefix.rstrip(".").split(".")
    for end in range(1, len(parts) + 1):
        package = types.ModuleType(".".join(parts[:end]))
        package.__path__ = []
        aliases[package.__name__] = package
    aliases.update(
        {prefix + name: module for name, module in list(sys.modules.items())
         if name == "cityscapesscripts" or name.startswith("cityscapesscripts.")}
    )
    sys.modules.update(aliases)
    try:
        yield
    finally:
        for name in aliases:
            sys.modules.pop(name, None)


@contextlib.contextmanager
def cityscapesscripts_json_writer(module, folder: str):
    """``module.writeDict2JSON`` inside the block takes numpy scalars (numpy 2's have no
    ``__dict__``, which cityscapesscripts' writer serializes) and writes a relative path (its
    ``matches.json``) under ``folder`` instead of the current directory."""
    original = getattr(module, CITYSCAPESSCRIPTS_JSON_WRITER)

    def write(data, path):
        path = path if os.path.isabs(path) else os.path.join(folder, path)
        with open(path, "w") as f:
            json.dump(data, f, default=lambda o: o.item() if isinstance(o, np.generic) else o.__dict__)

    setattr(module, CITYSCAPESSCRIPTS_JSON_WRITER, write)
    try:
        yield
    finally:
        setattr(module, CITYSCAPESSCRIPTS_JSON_WRITER, original)
