"""Where the tests find the repository's files."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs"
TOY_CONFIG = CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.yaml"
# Two COCO val2017 images with their panoptic ground truth (see its README.md for the licenses).
COCO_SAMPLE = REPO_ROOT / "tests" / "assets" / "coco_panoptic_sample"
SAMPLE_JSON = COCO_SAMPLE / "panoptic_examples.json"
SAMPLE_PNG_DIR = COCO_SAMPLE / "panoptic_examples"
