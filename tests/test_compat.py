"""The detectron2 internals panfpn_d2.compat relies on still exist with the expected signatures; a
detectron2 version that changes one fails here, naming it, rather than deep inside training or export."""
import inspect

import torch
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer
from detectron2.modeling import build_model
from detectron2.modeling.roi_heads import StandardROIHeads
from detectron2.utils.events import EventStorage

from panfpn_d2 import compat
from panfpn_d2.engine.train_loop import FiniteLossTrainer

from tests.support.configs import tiny_cfg


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
