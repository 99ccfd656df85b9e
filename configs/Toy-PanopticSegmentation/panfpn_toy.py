# The lazy-config twin of panfpn_toy.yaml: Panoptic FPN trained from scratch on the generated toy
# dataset (3 thing and 3 stuff classes, 128x128 images) on 2 CPU cores, a GroupNorm ResNet-18 FPN.
from detectron2.config import LazyCall as L

from panfpn_lite.merge_settings import MergeSettings

from ..common.panfpn import dataloader, lr_multiplier, model, optimizer, step_schedule, train

# From scratch: train every stage and feed it unit-variance pixels.
model.pixel_std = [57.375, 57.120, 58.395]
resnet = model.backbone.bottom_up
resnet.freeze_at = 0
resnet.stem.update(out_channels=32, norm="GN")
resnet.stages.update(depth=18, norm="GN", stem_out_channels=32, res2_out_channels=64)
model.backbone.update(out_channels=64, norm="GN")
model.proposal_generator.anchor_generator.sizes = [[8], [16], [32], [64], [128]]
model.proposal_generator.update(pre_nms_topk=(500, 500), post_nms_topk=(200, 100))
# ~3 objects per image: few ROIs (32, not 64: 3 % off a step, same PQ), a quarter foreground
model.roi_heads.update(num_classes=3, batch_size_per_image=32, positive_fraction=0.25)
model.roi_heads.box_head.fc_dims = [256, 256]
model.roi_heads.box_predictor.input_shape.channels = 256
model.roi_heads.mask_head.conv_dims = [64, 64, 64]  # 2 convs, then the deconv
model.sem_seg_head.update(num_classes=4, conv_dims=64, loss_weight=1.0)  # 3 stuff classes + 'other'
model.instance_loss_weight = 2.0  # lambda_i: the semantic branch learns the toy set much faster
model.roi_align_cpu_backward = "separable"  # torchvision's ROIAlign backward is serial
model.merge_settings = L(MergeSettings)(
    instances_confidence_thresh=0.4, stuff_area_limit=64  # of 128x128 = 16384 pixels
)

dataloader.train.dataset.names = "panfpn_toy_train"
dataloader.train.mapper.augmentations[0].update(short_edge_length=(128,), max_size=128)
# data in the training process (a worker takes a core from the convolutions on 2 cores);
# every toy image is square: no grouping by aspect ratio
dataloader.train.update(total_batch_size=8, num_workers=0, aspect_ratio_grouping=False)
dataloader.test.dataset.names = "panfpn_toy_val"
dataloader.test.mapper.augmentations[0].update(short_edge_length=128, max_size=128)
dataloader.test.num_workers = 0

optimizer.lr = 0.04
# its time and results: docs/toy.md
lr_multiplier = step_schedule(600, (500, 570), warmup_iters=100)
train.update(output_dir="output/toy", init_checkpoint="", max_iter=600, device="cpu")
train.checkpointer.period = 200
