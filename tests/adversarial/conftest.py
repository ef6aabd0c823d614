"""The adversarial suite's knob: a few randomised trials in CI, many under `pytest --stress`."""

from __future__ import annotations

import pytest


@pytest.fixture
def trials(request: pytest.FixtureRequest) -> int:
    return 10 if request.config.getoption("--stress") else 1
