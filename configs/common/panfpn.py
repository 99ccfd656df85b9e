# The lazy-config form of Base-PanFPN.yaml (Panoptic FPN on COCO, detectron2's model-zoo recipe), made
# from it by panfpn_d2.engine.lazy.lazy_config_from_yaml: change the recipe in the YAML.
import os

from panfpn_d2.engine.lazy import lazy_config_from_yaml

model, dataloader, optimizer, lr_multiplier, train = lazy_config_from_yaml(
    os.path.join(os.path.dirname(__file__), "..", "Base-PanFPN.yaml")
)
