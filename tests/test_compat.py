"""The detectron2 internals panfpn_d2.compat relies on still exist with the expected signatures; a
detectron2 version that changes one fails here, naming it, rather than deep inside training or export."""
import inspect
import json
import sys
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, defaults
from detectron2.evaluation import CityscapesInstanceEvaluator, CityscapesSemSegEvaluator
from detectron2.modeling import build_model
from detectron2.modeling.roi_heads import StandardROIHeads
from detectron2.utils import comm
from detectron2.utils.events import EventStorage

from panfpn_d2 import compat
from panfpn_d2.engine.train_loop import FiniteLossTrainer

from tests.support.configs import tiny_cfg
from tests.support.distributed import _free_port


def parameter_names(function):
    return list(inspect.signature(function).parameters)


def test_standard_roi_heads_has_box_only_inference():
    method = getattr(StandardROIHeads, compat.BOX_ONLY_METHOD, None)
    assert callable(method), f"StandardROIHeads.{compat.BOX_ONLY_METHOD} is gone"
    assert parameter_names(method) == ["self", "features", "proposals"]


def test_box_detections_is_the_inference_without_masks():
    model = build_model(tiny_cfg("Base-PanFPN.yaml")).eval()
    image = torch.rand(3, 64, 96) * 255
    with torch.no_grad():
        images = model.preprocess_image([{"image": image}])
        features, _ = model.split_features(model.backbone(images.tensor))
        proposals, _ = model.proposal_generator(images, features, None)
        (boxes_only,) = compat.box_detections(model.roi_heads, features, proposals)
        (full,), _ = model.roi_heads(images, features, proposals, None)
    assert not boxes_only.has("pred_masks") and full.has("pred_masks")
    for field in ("pred_boxes", "scores", "pred_classes"):
        a, b = boxes_only.get(field), full.get(field)
        assert torch.equal(getattr(a, "tensor", a), getattr(b, "tensor", b)), field


def test_run_step_writes_metrics_through_the_private_hook():
    for trainer_class in (SimpleTrainer, AMPTrainer):
        assert "self._write_metrics(" in inspect.getsource(trainer_class.run_step), (
            f"{trainer_class.__name__}.run_step no longer calls _write_metrics: the loss check would never run"
        )
    names = parameter_names(SimpleTrainer._write_metrics)
    assert names[:3] == ["self", "loss_dict", "data_time"], names


def test_loss_check_runs_before_the_optimizer_step():
    seen = []

    class Recording(compat.LossesBeforeOptimizerStep, SimpleTrainer):
        def check_losses(self, loss_dict):
            seen.append(("check", dict(loss_dict)))

    parameter = torch.nn.Parameter(torch.ones(()))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = parameter

        def forward(self, data):
            return {"loss": self.p * 2}

    class Optimizer(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(("step", None))
            return super().step(closure)

    model = Model()
    trainer = Recording(model, [[None]], Optimizer(model.parameters(), lr=0.1))
    trainer.iter = 0
    with EventStorage(0):
        trainer.run_step()
    assert [kind for kind, _ in seen] == ["check", "step"]
    assert float(seen[0][1]["loss"].detach()) == 2.0


def test_default_trainer_keeps_its_step_in_the_private_attribute():
    source = inspect.getsource(DefaultTrainer.__init__)
    assert f"self.{compat.STEP_TRAINER_ATTRIBUTE} = " in source, "DefaultTrainer no longer builds self._trainer"
    assert f"self.{compat.STEP_TRAINER_ATTRIBUTE}.run_step()" in inspect.getsource(DefaultTrainer.run_step)
    # FiniteLossTrainer rebuilds the step from these public attributes of detectron2's.
    assert {"model", "data_loader", "optimizer"} <= set(parameter_names(SimpleTrainer.__init__))
    assert "grad_scaler" in parameter_names(AMPTrainer.__init__)
    assert issubclass(FiniteLossTrainer, compat.LossesBeforeOptimizerStep)


def test_step_trainer_state_key_is_detectron2s_where_it_saves_one():
    source = inspect.getsource(DefaultTrainer.state_dict)
    if "_trainer" in source:  # detectron2 main saves the step's state; v0.6 does not (the plugin adds it)
        assert f'ret["{compat.STEP_TRAINER_STATE_KEY}"] = self.{compat.STEP_TRAINER_ATTRIBUTE}.state_dict()' in source


def test_default_trainer_wraps_its_model_with_the_module_global_create_ddp_model():
    init = DefaultTrainer.__init__
    assert init.__globals__ is vars(compat.DDP_FACTORY_MODULE)
    assert compat.DDP_FACTORY_NAME in init.__code__.co_names, "DefaultTrainer.__init__ no longer calls create_ddp_model"
    call = next(line for line in inspect.getsource(init).splitlines() if f"{compat.DDP_FACTORY_NAME}(" in line)
    assert "device_ids" not in call, call  # else detectron2 chose the devices itself: the swap is not needed
    # the device ids that DistributedDataParallel refuses for a CPU module
    assert 'kwargs["device_ids"] = [comm.get_local_rank()]' in inspect.getsource(defaults.create_ddp_model)


def test_create_ddp_model_passes_no_device_ids_for_a_cpu_model(monkeypatch):
    calls = []
    monkeypatch.setattr(compat, "_detectron2_create_ddp_model", lambda model, **kwargs: calls.append(kwargs))
    compat.create_ddp_model(torch.nn.Linear(1, 1), broadcast_buffers=False)
    compat.create_ddp_model(torch.nn.Linear(1, 1), device_ids=[3])
    assert calls == [{"broadcast_buffers": False, "device_ids": None}, {"device_ids": [3]}]


def test_cpu_ddp_swaps_detectron2s_create_ddp_model_only_inside_and_only_when_distributed(monkeypatch):
    stock = defaults.create_ddp_model
    with compat.cpu_ddp():
        assert defaults.create_ddp_model is stock  # one process: nothing to wrap
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    with pytest.raises(KeyError):
        with compat.cpu_ddp():
            assert defaults.create_ddp_model is compat.create_ddp_model
            raise KeyError
    assert defaults.create_ddp_model is stock


def test_local_process_group_is_the_one_get_local_rank_reads():
    if not compat.launch_supports_cpu():  # v0.6 keeps it in the private attribute
        assert compat.LOCAL_PROCESS_GROUP_ATTRIBUTE in inspect.getsource(comm.get_local_rank)
    before = getattr(comm, compat.LOCAL_PROCESS_GROUP_ATTRIBUTE)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1,
                            timeout=timedelta(seconds=60))
    try:
        setattr(comm, compat.LOCAL_PROCESS_GROUP_ATTRIBUTE, None)  # main's creation asserts there is none yet
        compat.create_local_process_group(1)
        assert comm.get_local_rank() == 0 and comm.get_local_size() == 1
    finally:
        setattr(comm, compat.LOCAL_PROCESS_GROUP_ATTRIBUTE, before)
        dist.destroy_process_group()


@pytest.mark.parametrize("evaluator", [CityscapesSemSegEvaluator, CityscapesInstanceEvaluator])
def test_detectron2s_cityscapes_evaluators_import_cityscapesscripts_by_a_known_name(evaluator):
    lines = [line.strip() for line in inspect.getsource(evaluator).splitlines()]
    imports = [line for line in lines if "cityscapesscripts" in line and "import" in line]
    known = tuple(f"{word} {name}." for word in ("import", "from") for name in ("cityscapesscripts", compat.META_CITYSCAPESSCRIPTS))
    assert imports and all(line.startswith(known) for line in imports), imports

def test_detectron2_mains_cityscapesscripts_import_finds_the_installed_package():
    """detectron2 main's Cityscapes evaluators import cityscapesscripts by Meta's internal name."""
    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as pixel_level

    with compat.cityscapesscripts_under_metas_name():
        import deeplearning.projects.cityscapesApi.cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as aliased
        from deeplearning.projects.cityscapesApi.cityscapesscripts.helpers.labels import trainId2label
    assert aliased is pixel_level and trainId2label[0].name == "road"
    assert not any(name.split(".")[0] == "deeplearning" for name in sys.modules)


def test_cityscapesscripts_writes_matches_json_through_its_module_global_writer():
    import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as instance_level

    source = inspect.getsource(instance_level.evaluateImgLists)
    assert f'{compat.CITYSCAPESSCRIPTS_JSON_WRITER}(matches,"matches.json")' in source.replace(" ", "")


def test_json_writer_takes_numpy_scalars_writes_under_the_folder_and_is_restored(tmp_path, monkeypatch):
    import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as instance_level

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    stock = getattr(instance_level, compat.CITYSCAPESSCRIPTS_JSON_WRITER)
    with compat.cityscapesscripts_json_writer(instance_level, str(tmp_path / "out")):
        getattr(instance_level, compat.CITYSCAPESSCRIPTS_JSON_WRITER)({"ap": np.float64(0.5)}, "matches.json")
    assert json.loads((tmp_path / "out" / "matches.json").read_text()) == {"ap": 0.5}
    assert not (tmp_path / "matches.json").exists()
    assert getattr(instance_level, compat.CITYSCAPESSCRIPTS_JSON_WRITER) is stock
