"""examples/train_custom_dataset.py registers a user's COCO-panoptic splits, sets the class counts
from their categories, trains and evaluates on them."""
import json
import subprocess
import sys

import yaml

from tests.support.panoptic_datasets import write_panoptic_dataset
from tests.support.paths import REPO_ROOT, TOY_CONFIG

SHORT_RUN = [
    "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "()",
    "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96",
]


def test_registers_configures_trains_and_evaluates(tmp_path):
    splits = {split: write_panoptic_dataset(tmp_path / split, count) for split, count in (("train", 4), ("val", 2))}
    command = [sys.executable, str(REPO_ROOT / "examples" / "train_custom_dataset.py")]
    for split, files in splits.items():
        command += [f"--{split}", files["json"], files["png_dir"], files["images"]]
    output_dir = tmp_path / "run"
    command += ["--config-file", str(TOY_CONFIG), "--output-dir", str(output_dir), *SHORT_RUN]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The toy config has 3 thing and 3 stuff classes; the generated dataset 2 and 2 ('other' mode: + 1).
    config = yaml.safe_load((output_dir / "config.yaml").read_text())
    assert config["DATASETS"]["TRAIN"] == ["custom_train"] and config["DATASETS"]["TEST"] == ["custom_val"]
    assert config["MODEL"]["ROI_HEADS"]["NUM_CLASSES"] == 2
    assert config["MODEL"]["SEM_SEG_HEAD"]["NUM_CLASSES"] == 3
    # Evaluated on custom_val at the end of training: the metrics file holds its PQ and mIoU.
    metrics = [json.loads(line) for line in (output_dir / "metrics.json").read_text().splitlines()]
    evaluated = [m for m in metrics if "panoptic_seg/PQ" in m]
    assert evaluated and "sem_seg/mIoU" in evaluated[-1], metrics[-1]
    assert 0 <= evaluated[-1]["panoptic_seg/PQ"] <= 100
