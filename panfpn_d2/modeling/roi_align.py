"""detectron2's ROIAlign with a faster CPU backward for small feature maps.

torchvision's CPU ``roi_align`` backward is one serial loop that recomputes every sample's
bilinear geometry for every (ROI, channel, bin): on the toy model it took 12 % of a training
step on one core. ROIAlign is separable: a bin's value is ``Ay[bin_y] · F · Ax[bin_x]ᵀ``, where
``Ay`` (``Ax``) holds, for each row (column) of the feature map, the bilinear weight the bin's
samples give it, averaged over the samples (torchvision's rules: a sample beyond one pixel
outside the map counts zero, the others are clamped into it). The backward is then two matrix
products per image, ``∂F = Σ_rois Ayᵀ · ∂out · Ax``, with the same weights (the gradients differ
from torchvision's by float rounding only). Dense weights cost ``H·W`` per ROI row, so feature
maps over ``MAX_SEPARABLE_AREA`` pixels keep torchvision's kernel. The forward, and everything on
the GPU or without gradients, is detectron2's ROIAlign.
"""
import torch

from detectron2.layers import ROIAlign

# feature maps up to 64x64 (the toy's P2 is 32x32); COCO-sized maps keep torchvision's kernel
MAX_SEPARABLE_AREA = 64 * 64


def axis_weights(start, length, pooled: int, sampling_ratio: int, size: int) -> torch.Tensor:
    """(R, pooled, size): along one axis, the weight of each feature row (or column) in each of
    the ``pooled`` bins of each ROI (``start``, ``length``: (R,), in feature pixels), averaged over
    the bin's samples along that axis, as torchvision's ``roi_align`` computes them."""
    bin_size = length / pooled
    if sampling_ratio > 0:
        grid = torch.full_like(length, float(sampling_ratio))
    else:
        grid = torch.ceil(length / pooled)
    samples = max(int(grid.max().item()), 1) if len(grid) else 1
    sample = torch.arange(samples, dtype=length.dtype, device=length.device)
    bins = torch.arange(pooled, dtype=length.dtype, device=length.device)
    bin_size, grid = bin_size[:, None, None], grid[:, None, None]
    position = start[:, None, None] + bins[None, :, None] * bin_size + (sample + 0.5) * bin_size / grid
    valid = (sample < grid) & (position >= -1.0) & (position <= size)
    position = position.clamp(min=0)
    low = position.floor()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    fraction = torch.where(at_edge, torch.zeros_like(position), position - low)
    scale = valid / grid.clamp(min=1)
    weights = torch.zeros(len(start), pooled, size, dtype=length.dtype, device=length.device)
    weights.scatter_add_(2, low.long(), (1 - fraction) * scale)
    weights.scatter_add_(2, high.long(), fraction * scale)
    return weights


def separable_roi_align_backward(grad_output, rois, feature_shape, spatial_scale, sampling_ratio, aligned):
    """The gradient of ``roi_align`` with respect to its (N, C, H, W) features, as matrix products."""
    _, _, height, width = feature_shape
    pooled_height, pooled_width = grad_output.shape[-2:]
    offset = 0.5 if aligned else 0.0
    starts = rois[:, 1:3] * spatial_scale - offset
    lengths = rois[:, 3:5] * spatial_scale - offset - starts
    if not aligned:
        lengths = lengths.clamp(min=1.0)
    weights_x = axis_weights(starts[:, 0], lengths[:, 0], pooled_width, sampling_ratio, width)
    weights_y = axis_weights(starts[:, 1], lengths[:, 1], pooled_height, sampling_ratio, height)
    rois_count, channels = grad_output.shape[:2]
    # per ROI: (C·PH, PW) @ (PW, W), then rows ordered (ROI, PH) for the sum over both below
    rows = torch.bmm(grad_output.reshape(rois_count, channels * pooled_height, pooled_width), weights_x)
    rows = rows.view(rois_count, channels, pooled_height, width).transpose(1, 2).reshape(
        rois_count, pooled_height, channels * width
    )
    grad_features = grad_output.new_zeros(feature_shape)
    image_of_roi = rois[:, 0].long()
    for image in torch.unique(image_of_roi).tolist():
        chosen = (image_of_roi == image).nonzero().flatten()
        # (H, R·PH) @ (R·PH, C·W): each image's ROIs summed into its map
        summed = weights_y[chosen].flatten(0, 1).t() @ rows[chosen].flatten(0, 1)
        grad_features[image] = summed.view(height, channels, width).transpose(0, 1)
    return grad_features


class _ROIAlignSeparableBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, rois, output_size, spatial_scale, sampling_ratio, aligned):
        ctx.save_for_backward(rois)
        ctx.settings = (features.shape, spatial_scale, sampling_ratio, aligned)
        return torch.ops.torchvision.roi_align(
            features, rois, spatial_scale, output_size[0], output_size[1], sampling_ratio, aligned
        )

    @staticmethod
    def backward(ctx, grad_output):
        (rois,) = ctx.saved_tensors
        grad_features = separable_roi_align_backward(grad_output, rois, *ctx.settings)
        return grad_features, None, None, None, None, None


class ROIAlignSeparableBackward(ROIAlign):
    """:class:`detectron2.layers.ROIAlign` whose CPU backward, on maps of up to
    ``MAX_SEPARABLE_AREA`` pixels, is :func:`separable_roi_align_backward`."""

    def forward(self, input, rois):
        if (
            input.device.type != "cpu"
            or not (torch.is_grad_enabled() and input.requires_grad)
            or input.shape[-2] * input.shape[-1] > MAX_SEPARABLE_AREA
        ):
            return super().forward(input, rois)
        assert rois.dim() == 2 and rois.size(1) == 5
        size = self.output_size
        output_size = (size, size) if isinstance(size, int) else tuple(size)
        return _ROIAlignSeparableBackward.apply(
            input, rois.to(dtype=input.dtype), output_size, self.spatial_scale, self.sampling_ratio, self.aligned
        )


def use_separable_roi_align_backward(module: torch.nn.Module) -> int:
    """Replace every :class:`ROIAlign` inside ``module`` (the ROI heads' poolers) by a
    :class:`ROIAlignSeparableBackward` with the same settings; return how many were replaced."""
    replaced = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if type(child) is ROIAlign:
                setattr(parent, name, ROIAlignSeparableBackward(
                    child.output_size, child.spatial_scale, child.sampling_ratio, child.aligned
                ))
                replaced += 1
    return replaced
