# Panoptic FPN R101-FPN on Cityscapes: the lazy-config twin of panfpn_R_101.yaml.
from ..common.panfpn_cityscapes import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
