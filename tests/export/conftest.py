"""Exported models shared by the export and runtime tests (each export takes seconds)."""
import pytest

from tests.support.export import export, r50_parity_cfg, save_random_detecting_weights


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
