"""``python -m panfpn_d2.tools.export``: the files it writes and the models it refuses."""
import json

import pytest
from detectron2.modeling import build_model

from panfpn_d2.config import load_config
from panfpn_d2.deploy.graph import PanFPNExportGraph
from panfpn_d2.deploy.metadata import export_metadata
from panfpn_d2.tools.export import main
from panfpn_lite.merge_settings import MergeSettings
from panfpn_lite.runtime.model import FORMAT_VERSION, METADATA_FILE, load_metadata

from tests.support.configs import tiny_cfg
from tests.support.paths import CONFIGS

TOY_CONFIG = CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.yaml"


def test_export_command_writes_model_and_metadata(tmp_path):
    main(["--config-file", str(TOY_CONFIG), "--format", "onnx", "--output", str(tmp_path),
          "--opts", "MODEL.WEIGHTS", "", "INPUT.MIN_SIZE_TEST", "96"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", METADATA_FILE]
    metadata = load_metadata(str(tmp_path))
    assert metadata["format_version"] == FORMAT_VERSION and metadata["format"] == "onnx"
    assert metadata["input"]["format"] == "BGR" and metadata["input"]["min_size_test"] == 96
    assert metadata["semantic"]["label_to_category"] == [-1, 1, 2, 3]
    assert metadata["merge"]["stuff_area_limit"] == 64
    categories = metadata["dataset"]["categories"]
    assert len(categories) == 6 and sum(c["isthing"] for c in categories) == 3
    dataset_ids = {c["id"] for c in categories}
    for key in ("thing_contiguous_to_dataset_id", "stuff_contiguous_to_dataset_id"):
        assert {d for _, d in metadata["dataset"][key]} <= dataset_ids
    json.dumps(metadata)  # plain JSON values only


@pytest.mark.parametrize(
    "opts, message",
    [
        (["MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.0], "both branches"),
        (["MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 0.0], "both branches"),
        (["MODEL.MASK_ON", False], "MODEL.MASK_ON"),
    ],
)
def test_models_the_runtime_cannot_use_are_refused(opts, message):
    with pytest.raises(ValueError, match=message):
        PanFPNExportGraph(build_model(tiny_cfg("Base-PanFPN.yaml", *opts)))


def test_merge_settings_the_runtime_cannot_honour_are_refused():
    cfg = load_config(str(TOY_CONFIG), ["MODEL.WEIGHTS", ""])
    model = build_model(cfg)
    assert export_metadata(cfg, model, "onnx")["merge"] == {
        "enabled": True, "overlap_thresh": 0.5, "stuff_area_limit": 64, "instances_confidence_thresh": 0.4
    }
    model.merge_settings = MergeSettings(stuff_area_limit=[64, 32, 16, 8])  # per stuff category: torch only
    with pytest.raises(ValueError, match=r"export: the merge settings \['stuff_area_limit'\] are per category"):
        export_metadata(cfg, model, "onnx")
