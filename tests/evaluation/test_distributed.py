"""The evaluators gather their records across processes: 2 gloo ranks, one image each, give the
single-process numbers."""
import pytest
import torch

from tests.support.distributed import run_on_processes
from tests.support.paths import COCO_SAMPLE as SAMPLE_DIR, SAMPLE_JSON, SAMPLE_PNG_DIR


def _evaluators(dataset_name):
    from panfpn_d2.evaluation import PanFPNPanopticEvaluator, PanFPNSemSegEvaluator

    return [PanFPNPanopticEvaluator(dataset_name), PanFPNSemSegEvaluator(dataset_name, "other")]


def _model_outputs(dataset_name):
    """Per image, the ground truth as a model output, shifted (so that PQ < 100)."""
    import numpy as np
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from panfpn_lite.panoptic_format import read_panoptic_png
    from panfpn_lite.semantic_layout import SemanticLabelLayout
    from panfpn_d2.data.panoptic_targets import semantic_target_from_panoptic

    metadata = MetadataCatalog.get(dataset_name)
    examples = []
    for record in DatasetCatalog.get(dataset_name):
        id_map = np.roll(read_panoptic_png(record["pan_seg_file_name"]), 9, axis=0)
        target = semantic_target_from_panoptic(id_map, record["segments_info"], SemanticLabelLayout.from_metadata(metadata, "other"))
        logits = torch.nn.functional.one_hot(torch.from_numpy(np.where(target == 255, 0, target)).long(),
                                             len(metadata.stuff_classes)).permute(2, 0, 1).float()
        segments = [{"id": s["id"], "isthing": s["isthing"], "category_id": s["category_id"]} for s in record["segments_info"]]
        output = {"panoptic_seg": (torch.from_numpy(id_map.astype("int32")), segments), "sem_seg": logits}
        examples.append(({"image_id": record["image_id"], "file_name": record["file_name"]}, output))
    return examples


def _register(dataset_name):
    import json

    from detectron2.data import DatasetCatalog

    from panfpn_d2.data import register_panoptic_dataset

    if dataset_name not in DatasetCatalog:
        categories = json.loads(SAMPLE_JSON.read_text())["categories"]
        register_panoptic_dataset(dataset_name, str(SAMPLE_JSON), str(SAMPLE_DIR / "input_images"),
                                  str(SAMPLE_PNG_DIR), categories=categories)


def _evaluate(evaluators, examples):
    results = {}
    for evaluator in evaluators:
        evaluator.reset()
        for model_input, output in examples:
            evaluator.process([model_input], [output])
        results.update(evaluator.evaluate() or {})
    return results


def _worker(rank, world_size, dataset_name):
    _register(dataset_name)
    examples = _model_outputs(dataset_name)[rank::world_size]
    return _evaluate(_evaluators(dataset_name), examples)


def test_two_processes_give_the_single_process_numbers():
    dataset_name = "panfpn_test_evaluation_distributed_sample"
    _register(dataset_name)
    single = _evaluate(_evaluators(dataset_name), _model_outputs(dataset_name))
    results = run_on_processes(_worker, 2, dataset_name)
    assert results[1] == {}
    assert results[0]["panoptic_seg"] == pytest.approx(single["panoptic_seg"])
    assert results[0]["sem_seg"] == pytest.approx(single["sem_seg"], nan_ok=True)
    assert 0 < single["panoptic_seg"]["PQ"] < 100


def _detectron2_evaluators(dataset_name, cache_dir):
    from panfpn_d2.evaluation import build_panoptic_fpn_evaluators

    return [build_panoptic_fpn_evaluators(
        dataset_name, has_semantic=True, has_instances=False, thing_mode="other", evaluators="detectron2",
        cache_dir=cache_dir,
    )]


def _detectron2_worker(rank, world_size, dataset_name, cache_dir):
    _register(dataset_name)
    examples = _model_outputs(dataset_name)[rank::world_size]
    return _evaluate(_detectron2_evaluators(dataset_name, cache_dir), examples)


def test_two_processes_with_detectron2s_evaluators_give_this_projects_single_process_numbers(tmp_path):
    """TEST.EVALUATORS "detectron2": one process writes the semantic PNGs the others read."""
    dataset_name = "panfpn_test_evaluation_distributed_sample"
    _register(dataset_name)
    single = _evaluate(_evaluators(dataset_name), _model_outputs(dataset_name))
    results = run_on_processes(_detectron2_worker, 2, dataset_name, str(tmp_path))
    assert not results[1]
    for key in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st"):
        assert results[0]["panoptic_seg"][key] == pytest.approx(single["panoptic_seg"][key], abs=1e-6), key
    for key in ("mIoU", "fwIoU", "mACC", "pACC"):
        assert results[0]["sem_seg"][key] == pytest.approx(single["sem_seg"][key], abs=1e-6), key
    assert len(list((tmp_path / "sem_seg_other").glob("*.png"))) == len(_model_outputs(dataset_name))
    assert 0 < single["panoptic_seg"]["PQ_th"] < 100 and 0 < single["panoptic_seg"]["PQ_st"] < 100
