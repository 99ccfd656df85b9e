# Panoptic FPN R50-FPN on COCO, 3x (270k iterations): the lazy-config twin of panfpn_R_50_3x.yaml.
from ..common.panfpn import dataloader, model, optimizer, step_schedule, train

lr_multiplier = step_schedule(270000, (210000, 250000))
train.max_iter = 270000
