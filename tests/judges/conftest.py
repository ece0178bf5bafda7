"""Fixtures the local-model judge tests (``hf/``, ``vllm/``) share (``tiny``, the tiny models, is in
tests/conftest.py: other suites use it too)."""

from __future__ import annotations

import pytest

from tests import rb_fixture
from tests.helpers import write_json


@pytest.fixture
def data(tmp_path):
    """The RewardBench fixture (tests/rb_fixture.py) as a data file."""
    return write_json(tmp_path / "rb.json", rb_fixture.rows())
