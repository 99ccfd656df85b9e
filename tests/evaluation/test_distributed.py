"""The evaluators gather their records across processes: 2 gloo ranks, one image each, give the
single-process numbers."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from evaluation.eval_helpers import SAMPLE_DIR, SAMPLE_JSON, SAMPLE_PNG_DIR


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


def _worker(rank, world_size, port, dataset_name, queue):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    _register(dataset_name)
    examples = _model_outputs(dataset_name)[rank::world_size]
    results = _evaluate(_evaluators(dataset_name), examples)
    queue.put((rank, results))
    dist.barrier()
    dist.destroy_process_group()


def test_two_processes_give_the_single_process_numbers():
    dataset_name = "panfpn_test_evaluation_distributed_sample"
    _register(dataset_name)
    single = _evaluate(_evaluators(dataset_name), _model_outputs(dataset_name))
    queue = mp.get_context("spawn").SimpleQueue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, dataset_name, queue), nprocs=2, join=True)
    results = dict(queue.get() for _ in range(2))
    assert results[1] == {}
    assert results[0]["panoptic_seg"] == pytest.approx(single["panoptic_seg"])
    assert results[0]["sem_seg"] == pytest.approx(single["sem_seg"], nan_ok=True)
    assert 0 < single["panoptic_seg"]["PQ"] < 100
