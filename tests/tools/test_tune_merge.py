"""tools/tune_merge.py: the network once, the merge per setting; every setting's PQ equals a fresh
evaluation (detectron2's inference_on_dataset with the setting's keys) of the trained toy model."""
import math

import numpy as np
import pytest
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import MetadataCatalog
from detectron2.evaluation import inference_on_dataset

from panfpn_d2.config import load_config, merge_settings
from panfpn_d2.engine import Trainer
from panfpn_d2.evaluation.panoptic_evaluation import PanFPNPanopticEvaluator
from panfpn_d2.tools import tune_merge as tm
from panfpn_lite.merge_settings import MergeSettings
from tests.support.configs import tiny_cfg
from tests.support.paths import TOY_CONFIG

# A non-default value of each key (the trained toy's config: 0.5 / 64 / 0.1) on either side.
GRID = tm.MergeGrid([0.3, 0.8], [16, 1024], [0.05, 0.3])
CHECKED = [MergeSettings(0.3, 1024, 0.05), MergeSettings(0.8, 16, 0.05), MergeSettings(0.8, 1024, 0.05),
           MergeSettings(0.8, 16, 0.3)]


def fresh_evaluation(cfg, settings: MergeSettings) -> dict:
    cfg = cfg.clone()
    for key, value in tm.overrides(settings).items():
        cfg.merge_from_list([key, value])
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    name = cfg.DATASETS.TEST[0]
    results = inference_on_dataset(model, Trainer.build_test_loader(cfg, name), PanFPNPanopticEvaluator(name, distributed=False))
    return results["panoptic_seg"]


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.fixture(scope="module")
def tuned(scoring_toy, tmp_path_factory):
    cfg = scoring_toy[0]
    output = tmp_path_factory.mktemp("tune")
    return cfg, output, tm.tune_merge(cfg, str(output), GRID)


def test_every_setting_is_scored_as_a_fresh_evaluation_with_its_keys(tuned):
    cfg, _, summary = tuned
    assert len(summary["settings"]) == 8
    by_setting = {MergeSettings(*(s[k] for k in tm.COMBINE_KEYS.values())): s for s in summary["settings"]}
    assert set(by_setting) == set(GRID.settings())
    assert len({by_setting[s]["PQ"] for s in CHECKED}) >= 2  # the keys change the merge
    for settings in CHECKED:
        expected = fresh_evaluation(cfg, settings)
        for metric in tm.METRICS:
            assert same(by_setting[settings][metric], expected[metric]), (settings, metric, by_setting[settings], expected)


def test_the_best_is_written_as_overrides_that_load(tuned, tmp_path):
    cfg, output, summary = tuned
    best = summary["best"]
    assert best["PQ"] == max(s["PQ"] for s in summary["settings"])
    opts = (output / "best_merge_opts.txt").read_text().split()
    assert merge_settings(load_config(str(TOY_CONFIG), opts)) == MergeSettings(*(best[k] for k in tm.COMBINE_KEYS.values()))
    config_file = tmp_path / "with_best.yaml"
    config_file.write_text(f'_BASE_: "{TOY_CONFIG}"\n' + (output / "best_merge.yaml").read_text())
    assert tm.overrides(merge_settings(load_config(str(config_file)))) == {k: best[k] for k in tm.COMBINE_KEYS.values()}
    assert sorted(p.name for p in (output / tm.RAW_OUTPUTS).iterdir()) == ["000000.npz"]


def test_masks_round_trip_through_their_compact_form():
    rng = np.random.default_rng(0)
    masks = rng.random((4, 13, 21)) < 0.3
    masks[1] = False  # an empty mask
    masks[2] = False
    masks[2, 5:7, 3:12] = True
    encoded = tm.encode_masks(masks)
    assert encoded["mask_extents"][2].tolist() == [5, 7, 3, 12]
    np.testing.assert_array_equal(tm.decode_masks(encoded, 13, 21), masks)
    assert tm.decode_masks(tm.encode_masks(np.zeros((0, 5, 6), bool)), 5, 6).shape == (0, 5, 6)


def test_default_grid_surrounds_the_config_setting():
    grid = tm.default_grid(MergeSettings())
    assert (grid.overlap_thresh, grid.stuff_area_limit, grid.instances_confidence_thresh) == (
        [0.3, 0.5, 0.7], [2048, 4096, 8192], [0.3, 0.5, 0.7])
    assert tm.default_grid(MergeSettings(0.9, 64, 0.1)).instances_confidence_thresh == [0.0, 0.1, 0.3]
    assert len(tm.default_grid(MergeSettings()).settings()) == 27
    per_class = MergeSettings(instances_confidence_thresh=(0.5, 0.6))
    with pytest.raises(ValueError, match="--grid-confidence"):
        tm.default_grid(per_class)
    given = tm.default_grid(per_class, {"instances_confidence_thresh": [0.4], "overlap_thresh": None})
    assert (given.overlap_thresh, given.instances_confidence_thresh) == ([0.3, 0.5, 0.7], [0.4])


@pytest.mark.parametrize("grid, message", [
    (([1.5], [64], [0.5]), r"--grid-overlap \(MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH\): \[1.5\] out of range"),
    (([0.5], [-1], [0.5]), r"--grid-stuff-area .*\[-1\] out of range"),
    (([0.5], [64], [-0.1]), r"--grid-confidence .*\[-0.1\] out of range"),
    (([0.5], [], [0.5]), r"--grid-stuff-area .*at least one value"),
])
def test_bad_grids_are_named(grid, message):
    with pytest.raises(ValueError, match=message):
        tm.MergeGrid(*grid)


def test_command_line_rejects_an_empty_grid(tmp_path):
    with pytest.raises(ValueError, match="--grid-overlap .*at least one value"):
        tm.main(["--output", str(tmp_path), "--grid-overlap", "--config-file", str(TOY_CONFIG)])


def test_a_dataset_without_annotations_is_named(tmp_path):
    name = "test_tune_merge_unannotated"
    if name not in MetadataCatalog.list():
        MetadataCatalog.get(name).set(has_annotations=False, panoptic_json="x.json")
    with pytest.raises(ValueError, match=f"{name}.*no panoptic annotations"):
        tm.main(["--output", str(tmp_path), "--config-file", str(TOY_CONFIG), "--opts", "DATASETS.TEST", f"('{name}',)"])


def test_a_config_without_weights_is_refused(tmp_path):
    with pytest.raises(ValueError, match="MODEL.WEIGHTS is empty"):
        tm.main(["--output", str(tmp_path), "--config-file", str(TOY_CONFIG), "--opts", "MODEL.WEIGHTS", ""])


def test_command_line_prints_the_table_and_the_best(trained_toy, tmp_path, capsys):
    config_file = tmp_path / "trained_toy.yaml"
    config_file.write_text(trained_toy[0].dump())
    summary = tm.main(["--output", str(tmp_path / "out"), "--grid-overlap", "0.5", "--grid-confidence", "0.1", "0.3",
                       "--config-file", str(config_file)])
    out = capsys.readouterr().out
    # the stuff area's default grid: the config's 64 halved and doubled
    assert summary["grid"]["MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT"] == [32, 64, 128]
    rows = [line for line in out.splitlines() if line.lstrip().startswith("0.5 ")]
    assert len(rows) == 6 and sum(row.endswith("<- best") for row in rows) == 1, out
    assert f"--opts {(tmp_path / 'out' / 'best_merge_opts.txt').read_text().strip()}" in out


def test_a_model_without_both_branches_is_refused():
    mask_rcnn_alone = tiny_cfg("Base-PanFPN.yaml", "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.0)
    with pytest.raises(ValueError, match="joint model's two branches"):
        tm.tuning_model(mask_rcnn_alone, 0.3)
