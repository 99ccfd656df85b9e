"""pytest set-up: the tests import their shared helpers from tests/helpers.py (pytest.ini puts tests/ on sys.path)."""
import pytest

from helpers import make_training_inputs


@pytest.fixture
def training_inputs():
    return make_training_inputs()
