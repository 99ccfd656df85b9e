"""Helpers shared by the tests: small CPU configs and hand-made training inputs."""
from pathlib import Path

import torch

from detectron2.config import get_cfg
from detectron2.structures import BitMasks, Boxes, Instances

import panfpn_d2

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
# Two COCO val2017 images with their panoptic ground truth (see its README.md for the licenses).
COCO_SAMPLE = REPO_ROOT / "tests" / "assets" / "coco_panoptic_sample"

torch.set_num_threads(2)


def tiny_cfg(config_file="Base-PanFPN.yaml", *opts):
    """A config from configs/ shrunk to a GroupNorm ResNet-18 FPN that runs a step in well under a second."""
    cfg = get_cfg()
    panfpn_d2.add_panfpn_config(cfg)
    cfg.merge_from_file(str(CONFIGS / config_file))
    cfg.merge_from_list(
        [
            "MODEL.DEVICE", "cpu",
            "MODEL.WEIGHTS", "",
            "MODEL.RESNETS.DEPTH", 18,
            "MODEL.RESNETS.RES2_OUT_CHANNELS", 64,
            "MODEL.RESNETS.STEM_OUT_CHANNELS", 32,
            "MODEL.RESNETS.NORM", "GN",
            "MODEL.FPN.NORM", "GN",
            "MODEL.FPN.OUT_CHANNELS", 32,
            "MODEL.SEM_SEG_HEAD.CONVS_DIM", 32,
            "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
            "MODEL.ROI_MASK_HEAD.CONV_DIM", 16,
            "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32,
            "MODEL.RPN.POST_NMS_TOPK_TRAIN", 64,
            "MODEL.RPN.POST_NMS_TOPK_TEST", 64,
            "DATASETS.TRAIN", (),
            "DATASETS.TEST", (),
            *opts,
        ]
    )
    return cfg


def r50_cfg(meta_arch, head):
    """detectron2's R50-FPN sizes (FrozenBN, as its checkpoints) for `meta_arch` with semantic head `head`."""
    cfg = tiny_cfg(
        "COCO-PanopticSegmentation/panfpn_R_50_1x.yaml",
        "MODEL.RESNETS.DEPTH", 50,
        "MODEL.RESNETS.RES2_OUT_CHANNELS", 256,
        "MODEL.RESNETS.STEM_OUT_CHANNELS", 64,
        "MODEL.RESNETS.NORM", "FrozenBN",
        "MODEL.FPN.NORM", "",
        "MODEL.FPN.OUT_CHANNELS", 256,
        "MODEL.SEM_SEG_HEAD.CONVS_DIM", 128,
        "MODEL.ROI_BOX_HEAD.FC_DIM", 1024,
        "MODEL.ROI_MASK_HEAD.CONV_DIM", 256,
        "MODEL.RPN.POST_NMS_TOPK_TEST", 1000,
        "MODEL.META_ARCHITECTURE", meta_arch,
        "MODEL.SEM_SEG_HEAD.NAME", head,
    )
    return cfg


def make_training_inputs(num_images=2, size=(64, 96), num_thing_classes=80, num_sem_classes=54, seed=0):
    """Images with two boxes/masks each and a random semantic map."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = []
    for _ in range(num_images):
        masks = torch.zeros(2, h, w, dtype=torch.bool)
        masks[0, 5:30, 10:40] = True
        masks[1, 20:60, 50:90] = True
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.tensor([[10.0, 5, 40, 30], [50, 20, 90, 60]]))
        inst.gt_classes = torch.randint(num_thing_classes, (2,), generator=g)
        inst.gt_masks = BitMasks(masks)
        sem_seg = torch.randint(num_sem_classes, (h, w), generator=g)
        sem_seg[:2] = 255  # some ignored pixels
        image = torch.randint(0, 256, (3, h, w), generator=g).float()
        inputs.append({"image": image, "instances": inst, "sem_seg": sem_seg, "height": h, "width": w})
    return inputs

