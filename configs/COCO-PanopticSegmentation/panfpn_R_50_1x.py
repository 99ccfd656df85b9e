# The lazy-config form of panfpn_R_50_1x.yaml, made from it by panfpn_d2.engine.lazy.lazy_twin: change the recipe in the YAML.
from panfpn_d2.engine.lazy import lazy_twin

model, dataloader, optimizer, lr_multiplier, train = lazy_twin(__file__)
