"""R50-FPNx2 and the single-task PQ of its two halves, on the toy dataset: a Mask R-CNN-alone and a
Semantic-FPN-alone model trained a few iterations, then evaluated alone (PQ over things / stuff)
and merged by PanFPNTwoNetworks (PQ, PQ_th, PQ_st, AP, mIoU)."""
import math

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng

from panfpn_d2.data.toy import generate_toy_dataset
from panfpn_d2.engine import Trainer
from panfpn_d2.evaluation import PanFPNPanopticEvaluator
from panfpn_d2.modeling.panoptic_merge import merge_outputs
from panfpn_lite.merge_settings import MergeSettings
from panfpn_d2.modeling.two_networks import PanFPNTwoNetworks, resolve_config_path

from tests.support.configs import toy_cfg

# Low thresholds so that networks trained for 3 iterations still detect, and the merge has work.
DETECT = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0, "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.0]
SINGLE_TASK = {
    "instance": ["MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.0, "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 1.0],
    "semantic": ["MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", 0.0, "MODEL.MASK_ON", False,
                 "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 1.0],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{role: (config file, checkpoint)} of the two single-task networks, and the x2 config."""
    tmp = tmp_path_factory.mktemp("two_networks")
    root = generate_toy_dataset(tmp / "toy", num_train=4, num_val=3, size=64)
    networks = {}
    for role, opts in SINGLE_TASK.items():
        # Trainer does not seed (default_setup does): the weights must not depend on the tests before.
        seed_all_rng(0)
        out = tmp / role
        cfg = toy_cfg(root, out, "SOLVER.MAX_ITER", 3, "SEED", 0, *DETECT, *opts)
        val = cfg.DATASETS.TRAIN[0].replace("_train", "_val")
        cfg.merge_from_list(["DATASETS.TEST", (val,)])
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=False)
        trainer.train()
        config_file = tmp / f"{role}.yaml"
        config_file.write_text(cfg.dump())
        networks[role] = (cfg, str(config_file), str(out / "model_final.pth"))
    x2 = toy_cfg(
        root, tmp / "x2", *DETECT,
        "DATASETS.TEST", networks["instance"][0].DATASETS.TEST,
        "MODEL.META_ARCHITECTURE", "PanFPNTwoNetworks", "MODEL.WEIGHTS", "",
        "MODEL.PANFPN.TWO_NETWORKS.INSTANCE_CONFIG", networks["instance"][1],
        "MODEL.PANFPN.TWO_NETWORKS.INSTANCE_WEIGHTS", networks["instance"][2],
        "MODEL.PANFPN.TWO_NETWORKS.SEMANTIC_CONFIG", networks["semantic"][1],
        "MODEL.PANFPN.TWO_NETWORKS.SEMANTIC_WEIGHTS", networks["semantic"][2],
    )
    return networks, x2


def load_trained(cfg, weights):
    model = build_model(cfg)
    DetectionCheckpointer(model).load(weights)
    return model.eval()


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def is_percent(value):
    return math.isnan(value) or 0.0 <= value <= 100.0


def test_mask_rcnn_alone_reports_pq_over_things(trained):
    networks, _ = trained
    cfg, _, weights = networks["instance"]
    results = Trainer.test(cfg, load_trained(cfg, weights))
    panoptic = results["panoptic_seg"]
    assert {"PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th"} <= set(panoptic)
    assert not any(k.endswith("_st") for k in panoptic)
    assert panoptic["PQ"] == panoptic["PQ_th"] and is_percent(panoptic["PQ_th"])
    assert "segm" in results and "sem_seg" not in results


def test_semantic_fpn_alone_reports_pq_over_stuff(trained):
    networks, _ = trained
    cfg, _, weights = networks["semantic"]
    results = Trainer.test(cfg, load_trained(cfg, weights))
    panoptic = results["panoptic_seg"]
    assert {"PQ", "PQ_st", "SQ_st", "RQ_st"} <= set(panoptic)
    assert not any(k.endswith("_th") for k in panoptic)
    assert panoptic["PQ"] == panoptic["PQ_st"] and 0.0 <= panoptic["PQ_st"] <= 100.0
    assert "sem_seg" in results and "segm" not in results


def test_single_task_pq_equals_that_group_of_the_full_evaluation(trained):
    # Scoring things only changes which groups are reported, not the thing categories' PQ.
    networks, _ = trained
    cfg, _, weights = networks["instance"]
    model = load_trained(cfg, weights)
    data = Trainer.build_test_loader(cfg, cfg.DATASETS.TEST[0])
    evaluators = {s: PanFPNPanopticEvaluator(cfg.DATASETS.TEST[0], scope=s, distributed=False) for s in ("things", "all")}
    with torch.no_grad():
        for inputs in data:
            outputs = model(inputs)
            assert all(s["isthing"] for o in outputs for s in o["panoptic_seg"][1])
            for evaluator in evaluators.values():
                evaluator.process(inputs, outputs)
    things, full = (evaluators[s].evaluate()["panoptic_seg"] for s in ("things", "all"))
    for metric in ("PQ", "SQ", "RQ"):
        assert same(things[metric], things[f"{metric}_th"]) and same(things[f"{metric}_th"], full[f"{metric}_th"])
    assert full["PQ_st"] == 0.0  # no stuff predicted: the joint score is not the single-task one


def test_x2_model_reports_every_metric(trained):
    _, x2 = trained
    model = build_model(x2)
    assert isinstance(model, PanFPNTwoNetworks)
    results = Trainer.test(x2, model)
    for task, metrics in [("panoptic_seg", ("PQ", "PQ_th", "PQ_st")), ("sem_seg", ("mIoU",)),
                          ("segm", ("AP",)), ("bbox", ("AP",))]:
        for metric in metrics:
            assert is_percent(results[task][metric]), (task, metric)


def test_x2_outputs_equal_the_two_networks_merged_by_hand(trained):
    networks, x2 = trained
    model = build_model(x2).eval()
    instance_model = load_trained(*(networks["instance"][i] for i in (0, 2)))
    semantic_model = load_trained(*(networks["semantic"][i] for i in (0, 2)))
    combine = x2.MODEL.PANOPTIC_FPN.COMBINE
    inputs = next(iter(Trainer.build_test_loader(x2, x2.DATASETS.TEST[0])))
    with torch.no_grad():
        (actual,) = model(inputs)
        (instance_result,) = instance_model(inputs)
        (semantic_result,) = semantic_model(inputs)
    expected = {"sem_seg": semantic_result["sem_seg"], "instances": instance_result["instances"]}
    expected["panoptic_seg"] = merge_outputs(
        expected,
        MergeSettings(combine.OVERLAP_THRESH, combine.STUFF_AREA_LIMIT, combine.INSTANCES_CONFIDENCE_THRESH),
        semantic_model.semantic_label_to_category,
    )
    assert torch.equal(actual["sem_seg"], expected["sem_seg"])
    for field in ("pred_boxes", "scores", "pred_classes", "pred_masks"):
        a, e = actual["instances"].get(field), expected["instances"].get(field)
        assert torch.equal(getattr(a, "tensor", a), getattr(e, "tensor", e)), field
    assert len(actual["instances"]) > 0
    assert torch.equal(actual["panoptic_seg"][0], expected["panoptic_seg"][0])
    assert actual["panoptic_seg"][1] == expected["panoptic_seg"][1]
    kinds = {s["isthing"] for s in actual["panoptic_seg"][1]}
    assert kinds == {True, False}  # both networks contribute segments


def test_x2_model_is_not_trainable_and_checks_its_configs(trained, tmp_path):
    networks, x2 = trained
    model = build_model(x2)
    model.train()
    with pytest.raises(RuntimeError, match="evaluated only: train its two networks"):
        model([])
    swapped = x2.clone()
    swapped.MODEL.PANFPN.TWO_NETWORKS.INSTANCE_CONFIG = networks["semantic"][1]
    with pytest.raises(ValueError, match="INSTANCE_CONFIG = .*Mask R-CNN alone"):
        build_model(swapped)
    with pytest.raises(FileNotFoundError, match=r"SEMANTIC_CONFIG = 'nowhere.yaml': no such file"):
        resolve_config_path("nowhere.yaml", "SEMANTIC_CONFIG")
    assert resolve_config_path("COCO-PanopticSegmentation/maskrcnn_R_50_1x.yaml", "INSTANCE_CONFIG").endswith(
        "configs/COCO-PanopticSegmentation/maskrcnn_R_50_1x.yaml")


def test_sub_configs_are_found_among_the_installed_configs(tmp_path, monkeypatch):
    """Installed from a wheel, the shipped configs are the package's copy (model_zoo.configs_root), not a clone's."""
    from panfpn_d2.modeling import two_networks

    shipped = tmp_path / "installed_configs" / "Some-Dataset" / "maskrcnn.yaml"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("_BASE_: x.yaml\n")
    monkeypatch.setattr(two_networks, "configs_root", lambda: tmp_path / "installed_configs")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("Some-Dataset/maskrcnn.yaml", "INSTANCE_CONFIG") == str(shipped)
