"""ROIAlign with the separable CPU backward: detectron2's forward and (up to float rounding) its gradients."""
import pytest
import torch

from detectron2.layers import ROIAlign
from detectron2.modeling import build_model

from tests.support.configs import tiny_cfg
from panfpn_d2.modeling import roi_align
from panfpn_d2.modeling.roi_align import ROIAlignSeparableBackward, use_separable_roi_align_backward


def random_rois(count, images, extent, generator):
    """Boxes of 0.5 to 50 pixels, some partly or wholly outside the ``extent``-pixel image."""
    corners = torch.rand(count, 2, generator=generator) * extent * 1.1 - 0.1 * extent
    sides = torch.rand(count, 2, generator=generator) * 50 + 0.5
    image_index = torch.randint(0, images, (count, 1), generator=generator).float()
    return torch.cat([image_index, corners, corners + sides], dim=1)


def outputs_and_gradients(module, features, rois, grad_output):
    leaf = features.clone().requires_grad_(True)
    output = module(leaf, rois)
    (gradient,) = torch.autograd.grad(output, leaf, grad_output)
    return output.detach(), gradient


@pytest.mark.parametrize("sampling_ratio, aligned, pooled", [(0, True, (7, 7)), (2, True, (14, 14)), (0, False, (7, 5))])
def test_same_outputs_and_gradients_as_detectron2(sampling_ratio, aligned, pooled):
    generator = torch.Generator().manual_seed(sampling_ratio)
    features = torch.randn(3, 5, 24, 20, generator=generator)
    rois = random_rois(60, 3, 90, generator)
    grad_output = torch.randn(60, 5, *pooled, generator=generator)
    expected = outputs_and_gradients(ROIAlign(pooled, 0.25, sampling_ratio, aligned), features, rois, grad_output)
    actual = outputs_and_gradients(
        ROIAlignSeparableBackward(pooled, 0.25, sampling_ratio, aligned), features, rois, grad_output
    )
    assert torch.equal(actual[0], expected[0])
    assert expected[1].abs().max() > 0
    torch.testing.assert_close(actual[1], expected[1], rtol=1e-5, atol=1e-5)


def test_maps_over_the_area_limit_and_no_gradients_use_detectron2s_roi_align(monkeypatch):
    module = ROIAlignSeparableBackward((7, 7), 0.25, 0)
    monkeypatch.setattr(roi_align._ROIAlignSeparableBackward, "apply", None)  # fails if called
    rois = random_rois(4, 1, 16, torch.Generator().manual_seed(0))
    large = torch.randn(1, 2, 65, 64, requires_grad=True)
    assert module(large, rois).requires_grad
    with torch.no_grad():
        small = torch.randn(1, 2, 8, 8, requires_grad=True)
        assert torch.equal(module(small, rois), ROIAlign((7, 7), 0.25, 0)(small, rois))


def test_rois_of_no_image_give_a_zero_gradient():
    features = torch.randn(2, 3, 8, 8, requires_grad=True)
    output = ROIAlignSeparableBackward((7, 7), 0.5, 0)(features, torch.zeros(0, 5))
    (gradient,) = torch.autograd.grad(output.sum(), features, allow_unused=True)
    assert gradient is None or not gradient.any()


def test_the_key_gives_every_pooler_of_the_roi_heads_the_separable_backward():
    cfg = tiny_cfg()
    default = build_model(cfg)
    assert not any(isinstance(m, ROIAlignSeparableBackward) for m in default.modules())
    cfg.MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD = "separable"
    separable = build_model(cfg)
    poolers = [m for m in separable.modules() if isinstance(m, ROIAlign)]
    assert poolers and all(isinstance(m, ROIAlignSeparableBackward) for m in poolers)
    assert separable.state_dict().keys() == default.state_dict().keys()
    assert use_separable_roi_align_backward(separable.roi_heads) == 0  # nothing left to replace


def test_an_unknown_choice_names_the_key():
    cfg = tiny_cfg()
    cfg.MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD = "threads"
    with pytest.raises(ValueError, match="MODEL.PANFPN.ROI_ALIGN_CPU_BACKWARD"):
        build_model(cfg)
