"""Training equivalence with detectron2's PanopticFPN: the same batch, weights and random state give
the same losses and gradients at its model zoo weighting (lambda_i 1, lambda_s 0.5); at lambda_i != 1
the two weight the instance losses differently (docs/training_evaluation.md, "Equivalence with
detectron2's PanopticFPN")."""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from tests.support.configs import tiny_cfg
from tests.support.training import make_training_inputs

ROI_LOSSES = ("loss_cls", "loss_box_reg", "loss_mask")
RPN_LOSSES = ("loss_rpn_cls", "loss_rpn_loc")


def build_pair(instance_loss_weight):
    """(detectron2's PanopticFPN, PanFPN) of the tiny model with the same random weights."""
    def cfg(meta_arch, head):
        return tiny_cfg(
            "Base-PanFPN.yaml", "MODEL.META_ARCHITECTURE", meta_arch, "MODEL.SEM_SEG_HEAD.NAME", head,
            "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", instance_loss_weight, "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.5,
        )
    torch.manual_seed(0)
    theirs = build_model(cfg("PanopticFPN", "SemSegFPNHead")).train()
    ours = build_model(cfg("PanFPN", "PanFPNSemSegHead")).train()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def losses_and_gradients(model, inputs):
    model.zero_grad()
    torch.manual_seed(1)  # the RPN's and ROI heads' sampling
    with EventStorage():
        losses = model(inputs)
    sum(losses.values()).backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, gradients


@pytest.fixture(scope="module")
def inputs():
    return make_training_inputs(num_images=2, size=(64, 96))


@pytest.fixture(scope="module")
def zoo_weighting(inputs):
    theirs, ours = build_pair(1.0)
    return losses_and_gradients(theirs, inputs), losses_and_gradients(ours, inputs)


def test_same_losses_and_gradients_at_detectron2s_zoo_weighting(zoo_weighting):
    (their_losses, their_gradients), (our_losses, our_gradients) = zoo_weighting
    assert set(our_losses) == set(their_losses) == {"loss_sem_seg", *ROI_LOSSES, *RPN_LOSSES}
    for name, value in their_losses.items():
        assert torch.equal(our_losses[name], value), name
    assert our_gradients.keys() == their_gradients.keys() and len(our_gradients) > 50
    for name, gradient in their_gradients.items():
        assert torch.equal(our_gradients[name], gradient), name


def test_lambda_i_weights_every_roi_loss_here_and_not_loss_cls_in_detectron2(zoo_weighting, inputs):
    (their_full, _), (our_full, _) = zoo_weighting
    theirs, ours = build_pair(0.5)
    (their_half, _), (our_half, _) = losses_and_gradients(theirs, inputs), losses_and_gradients(ours, inputs)
    # This project: the paper's lambda_i (L_c + L_b + L_m).
    for name in ROI_LOSSES:
        assert torch.allclose(our_half[name], 0.5 * our_full[name], rtol=1e-6, atol=0), name
    # detectron2: lambda_i scales its box predictor's loss_weight dict ({"loss_box_reg": ...}, no
    # "loss_cls") and the mask head's loss_weight: the classification loss stays unweighted.
    for name in ("loss_box_reg", "loss_mask"):
        assert torch.allclose(their_half[name], 0.5 * their_full[name], rtol=1e-6, atol=0), name
    assert torch.equal(their_half["loss_cls"], their_full["loss_cls"]) and their_full["loss_cls"] > 0
    # Both leave the RPN's losses and the semantic loss unweighted by lambda_i.
    for name in (*RPN_LOSSES, "loss_sem_seg"):
        assert torch.equal(our_half[name], our_full[name]) and torch.equal(their_half[name], their_full[name]), name
