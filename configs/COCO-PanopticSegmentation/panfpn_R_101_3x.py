# Panoptic FPN R101-FPN on COCO, 3x (270k iterations): the lazy-config twin of panfpn_R_101_3x.yaml.
from .panfpn_R_50_3x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
