"""Shared fixtures: one locomotion policy session per test session (the model is generated on demand)."""

from __future__ import annotations

import pytest

from planning.locomotion import LocomotionPolicy


@pytest.fixture(scope="session")
def policy() -> LocomotionPolicy:
    return LocomotionPolicy()
