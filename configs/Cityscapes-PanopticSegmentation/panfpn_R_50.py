# Panoptic FPN R50-FPN on Cityscapes: the lazy-config twin of panfpn_R_50.yaml.
from ..common.panfpn_cityscapes import dataloader, lr_multiplier, model, optimizer, train
