"""Exported models shared by the export and runtime tests (each export takes seconds)."""
import pytest
from detectron2.utils.env import seed_all_rng

from panfpn_d2.engine import Trainer

from tests.support.configs import make_toy_root, toy_cfg
from tests.support.export import export, r50_parity_cfg, save_random_detecting_weights

TOY_ITERATIONS = 12


@pytest.fixture(scope="session")
def trained_toy(tmp_path_factory):
    """(cfg with the trained weights, its images): the toy model after a short training; low
    score thresholds so that its still unsure instances reach the merge."""
    root = tmp_path_factory.mktemp("toy")
    toy_root = make_toy_root(root / "data")
    cfg = toy_cfg(
        toy_root, root / "train", "SEED", 3, "SOLVER.MAX_ITER", TOY_ITERATIONS, "SOLVER.STEPS", (TOY_ITERATIONS - 1,),
        "SOLVER.CHECKPOINT_PERIOD", 1000,
    )
    seed_all_rng(cfg.SEED)
    Trainer(cfg).train()
    cfg.merge_from_list([
        "MODEL.WEIGHTS", str(root / "train" / "model_final.pth"),
        "DATASETS.TEST", (cfg.DATASETS.TRAIN[0].replace("_train", "_val"),),
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.05,
        "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.1,
    ])
    images = sorted((toy_root / "train" / "images").glob("*")) + sorted((toy_root / "val" / "images").glob("*"))
    return cfg, images


@pytest.fixture(scope="session")
def toy_onnx(trained_toy, tmp_path_factory):
    return export(trained_toy[0], "onnx", tmp_path_factory.mktemp("toy_onnx"))


@pytest.fixture(scope="session")
def r50_onnx(tmp_path_factory):
    """(cfg, export folder): the R50-FPN of the detectron2 parity test with random weights made to
    detect, at a test size of 320 (the tests' time budget)."""
    root = tmp_path_factory.mktemp("r50")
    weights = root / "random_r50.pth"
    cfg = r50_parity_cfg(weights, "INPUT.MIN_SIZE_TEST", 320, "INPUT.MAX_SIZE_TEST", 640)
    save_random_detecting_weights(cfg, weights)
    return cfg, export(cfg, "onnx", root / "onnx")


@pytest.fixture
def blocked_imports(tmp_path):
    """A PYTHONPATH entry under which importing the named packages raises ImportError."""
    def block(*packages):
        folder = tmp_path / "blocked_imports"
        for package in packages:
            (folder / package).mkdir(parents=True, exist_ok=True)
            (folder / package / "__init__.py").write_text(
                f"raise ImportError('{package} is blocked in this test')\n"
            )
        return str(folder)
    return block
