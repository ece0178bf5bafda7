"""Fixtures the local-model judge tests (``hf/``, ``vllm/``) share."""

from __future__ import annotations

import pytest

from tests import rb_fixture
from tests.helpers import write_json


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny random models of tests/judges/tiny_models.py, built once per session."""
    pytest.importorskip("transformers")
    import transformers

    from tests.judges.tiny_models import tiny_models_at

    transformers.utils.logging.disable_progress_bar()
    return tiny_models_at(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture
def data(tmp_path):
    """The RewardBench fixture (tests/rb_fixture.py) as a data file."""
    return write_json(tmp_path / "rb.json", rb_fixture.rows())
