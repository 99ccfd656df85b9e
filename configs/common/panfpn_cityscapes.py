# The lazy-config twin of Base-PanFPN-Cityscapes.yaml, the paper's Cityscapes recipe: 32 crops of
# 512x1024 after 0.5-2.0x scaling, 65k iterations, LR 0.01 dropped 10x at 40k and 55k, and a semantic
# branch with one class per category (19 train ids, 8 of them things).
from detectron2.config import LazyCall as L
from detectron2.data import transforms as T

from panfpn_d2.data.dataset_mapper import COLOR_AUG_RANGE
from panfpn_d2.data.panoptic_targets import IGNORE_LABEL

from .panfpn import dataloader, model, optimizer, step_schedule, train

model.roi_heads.num_classes = 8
model.sem_seg_head.num_classes = 19
model.semantic_label_to_category.thing_mode = "all"
model.combine_stuff_area_thresh = 2048

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
    L(T.RandomBrightness)(intensity_min=COLOR_AUG_RANGE[0], intensity_max=COLOR_AUG_RANGE[1]),
    L(T.RandomContrast)(intensity_min=COLOR_AUG_RANGE[0], intensity_max=COLOR_AUG_RANGE[1]),
    L(T.RandomSaturation)(intensity_min=COLOR_AUG_RANGE[0], intensity_max=COLOR_AUG_RANGE[1]),
]
dataloader.train.total_batch_size = 32
dataloader.test.dataset.names = "panfpn_cityscapes_fine_panoptic_val"
dataloader.test.mapper.augmentations[0].update(short_edge_length=1024, max_size=2048)

optimizer.lr = 0.01
lr_multiplier = step_schedule(65000, (40000, 55000))
train.max_iter = 65000
