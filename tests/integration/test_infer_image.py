"""examples/infer_image.py runs a model on one image and prints the panoptic output's id map and
segment records as docs/inference.md describes them."""
import re
import subprocess
import sys

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model

from panfpn_d2.config import load_config
from panfpn_d2.tools.random_weights import make_random_model_detect
from tests.support.paths import COCO_SAMPLE, REPO_ROOT, TOY_CONFIG

THING_FIELDS = ["id", "isthing", "score", "category_id", "instance_id"]
STUFF_FIELDS = ["id", "isthing", "category_id", "area"]


def test_prints_the_id_map_and_every_segment_record(tmp_path):
    torch.manual_seed(0)
    model = make_random_model_detect(build_model(load_config(str(TOY_CONFIG))))
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[0] = 5.0  # detections of class 0 pass the merge's 0.4
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("random_detecting")
    image = COCO_SAMPLE / "input_images" / "000000142238.jpg"
    height, width = read_image(str(image)).shape[:2]

    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "infer_image.py"), "--config-file", str(TOY_CONFIG),
         "--input", str(image), "--opts", "MODEL.WEIGHTS", str(tmp_path / "random_detecting.pth")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    (count,) = re.findall(rf"^panoptic_seg: id map \({height}, {width}\) torch.int32; (\d+) segments$", out, re.M)
    segments = re.findall(r"^  (.*) \((\w+), (\d+) px\)$", out, re.M)
    assert len(segments) == int(count)
    records = [dict(field.split("=") for field in fields.split(", ")) for fields, _, _ in segments]
    assert [int(r["id"]) for r in records] == list(range(1, len(records) + 1))
    things = [r for r in records if r["isthing"] == "True"]
    stuff = [r for r in records if r["isthing"] == "False"]
    assert things and stuff and records == things + stuff
    assert all(list(r) == THING_FIELDS for r in things) and all(list(r) == STUFF_FIELDS for r in stuff)
    metadata = MetadataCatalog.get("panfpn_toy_val")  # the toy config's DATASETS.TEST
    for record, (_, name, _) in zip(records, segments):
        classes = metadata.thing_classes if record in things else metadata.stuff_classes
        assert name == classes[int(record["category_id"])]
    assert all(int(area) > 0 for _, _, area in segments)
    assert all(int(r["area"]) == int(area) for r, (_, _, area) in zip(records, segments) if r in stuff)
    assert f"sem_seg: logits (4, {height}, {width})" in out and re.search(r"^instances: \d+ detections$", out, re.M)
