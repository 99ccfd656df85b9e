# Panoptic FPN R50-FPN on COCO, 1x (90k iterations): the lazy-config twin of panfpn_R_50_1x.yaml.
from ..common.panfpn import dataloader, lr_multiplier, model, optimizer, train
