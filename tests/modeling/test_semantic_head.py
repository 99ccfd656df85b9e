import math

import pytest
import torch
from torch.nn import functional as F

from detectron2.layers import ShapeSpec
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

from panfpn_d2 import PanFPNSemSegHead

SHAPES = {f"p{i}": ShapeSpec(channels=32, stride=2 ** i) for i in range(2, 6)}


def features(batch=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(batch, s.channels, size // s.stride, size // s.stride, generator=g) for k, s in SHAPES.items()}


def head(shapes=SHAPES, **kwargs):
    args = dict(num_classes=5, conv_dims=32, common_stride=4, norm="GN", ignore_value=255)
    args.update(kwargs)
    return PanFPNSemSegHead(shapes, **args)


@pytest.mark.parametrize("aggregation", ["sum", "concat"])
@pytest.mark.parametrize("width", [32, 64])
def test_output_shape_and_predictor_width(aggregation, width):
    h = head(aggregation=aggregation, conv_dims=width).eval()
    logits, losses = h(features())
    assert logits.shape == (2, 5, 64, 64) and losses == {}
    levels = 4 if aggregation == "concat" else 1
    assert h.predictor.weight.shape == (5, width * levels, 1, 1)


@pytest.mark.parametrize("common_stride", [4, 8])
def test_sum_head_matches_detectron2_parameters_and_outputs(common_stride):
    # The levels at or above the common stride, as a config with that COMMON_STRIDE
    # names them in SEM_SEG_HEAD.IN_FEATURES (stride 8: p3-p5).
    shapes = {k: s for k, s in SHAPES.items() if s.stride >= common_stride}
    ours = head(shapes, common_stride=common_stride).eval()
    theirs = SemSegFPNHead(
        shapes, num_classes=5, conv_dims=32, common_stride=common_stride, norm="GN", ignore_value=255
    ).eval()
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert {k: v.shape for k, v in ours_sd.items()} == {k: v.shape for k, v in theirs_sd.items()}
    ours.load_state_dict(theirs_sd)
    feats = features()
    assert ours(feats)[0].shape == (2, 5, 64, 64)
    assert torch.equal(ours(feats)[0], theirs(feats)[0])
    ours.train(), theirs.train()
    target = torch.randint(5, (2, 64, 64))
    assert torch.allclose(ours(feats, target)[1]["loss_sem_seg"], theirs(feats, target)[1]["loss_sem_seg"])


def test_each_level_has_log2_stride_stages():
    h = head()
    convs = {name: sum(1 for m in getattr(h, name) if not isinstance(m, torch.nn.Upsample)) for name in SHAPES}
    assert convs == {"p2": 1, "p3": 1, "p4": 2, "p5": 3}


def test_cross_entropy_loss_ignores_void_and_scales_by_lambda():
    h = head(loss_weight=0.5).train()
    target = torch.randint(5, (2, 64, 64))
    target[:, :10] = 255
    loss = h(features(), target)[1]["loss_sem_seg"]
    logits = h.upsample(h.layers(features()))
    assert torch.allclose(loss, 0.5 * F.cross_entropy(logits, target, ignore_index=255))


def test_bootstrap_loss_is_mean_of_hardest_fraction():
    h = head(loss_type="bootstrap", loss_top_k=0.25).train()
    target = torch.randint(5, (2, 64, 64))
    target[0, :32] = 255
    loss = h(features(), target)[1]["loss_sem_seg"]
    per_pixel = F.cross_entropy(h.upsample(h.layers(features())), target, reduction="none", ignore_index=255)
    labelled = per_pixel[target != 255]
    k = math.ceil(0.25 * labelled.numel())
    expected = labelled.sort(descending=True).values[:k].mean()
    assert torch.allclose(loss, expected)
    assert loss > F.cross_entropy(h.upsample(h.layers(features())), target, ignore_index=255)


def test_all_void_target_gives_zero_loss_with_gradient():
    h = head().train()
    loss = h(features(), torch.full((2, 64, 64), 255))[1]["loss_sem_seg"]
    assert loss.item() == 0.0
    loss.backward()
    assert h.predictor.weight.grad is not None


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(aggregation="max"), "SEM_SEG_AGGREGATION"),
        (dict(loss_type="focal"), "SEM_SEG_LOSS"),
        (dict(loss_type="bootstrap", loss_top_k=0.0), "SEM_SEG_LOSS_TOP_K"),
    ],
)
def test_bad_options_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        head(**kwargs)
