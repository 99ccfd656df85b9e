# The lazy-config twin of Base-PanFPN-Cityscapes.yaml, the paper's Cityscapes recipe: 32 crops of
# 512x1024 after 0.5-2.0x scaling, 65k iterations, LR 0.01 dropped 10x at 40k and 55k, and a semantic
# branch with one class per category (19 train ids, 8 of them things); lambda_i = 0.5, lambda_s = 1.0 and
# no colour augmentation, as Base-PanFPN-Cityscapes.yaml says why.
from detectron2.config import LazyCall as L
from detectron2.data import transforms as T

from panfpn_d2.data.panoptic_targets import IGNORE_LABEL

from .panfpn import dataloader, model, optimizer, step_schedule, train

model.roi_heads.num_classes = 8
model.sem_seg_head.num_classes = 19
model.semantic_label_to_category.thing_mode = "all"
model.sem_seg_head.loss_weight = 1.0  # lambda_s
model.instance_loss_weight = 0.5  # lambda_i

dataloader.train.dataset.names = "panfpn_cityscapes_fine_panoptic_train"
dataloader.train.mapper.augmentations = [
    # 0.5x to 2.0x of the 1024-pixel shorter side
    L(T.ResizeShortestEdge)(
        short_edge_length=(512, 640, 768, 896, 1024, 1152, 1280, 1408, 1536, 1664, 1792, 1920, 2048),
        max_size=4096,
        sample_style="choice",
    ),
    L(T.RandomCrop_CategoryAreaConstraint)(
        crop_type="absolute", crop_size=(512, 1024), single_category_max_area=1.0, ignored_category=IGNORE_LABEL
    ),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.total_batch_size = 32
dataloader.test.dataset.names = "panfpn_cityscapes_fine_panoptic_val"
dataloader.test.mapper.augmentations[0].update(short_edge_length=1024, max_size=2048)

optimizer.lr = 0.01
lr_multiplier = step_schedule(65000, (40000, 55000))
train.max_iter = 65000
