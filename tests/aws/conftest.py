"""Shared AWS test hygiene."""

from __future__ import annotations

import pytest

from providers.aws import mocks


@pytest.fixture(autouse=True, scope="module")
def _plan_mocks_back_in_the_example_region():
    """A plan of a stack in another region leaves `mocks.REGION` there (infra.plan configures the mocks
    per plan, a bare `use_offline_mocks` does not): put it back so later modules see eu-west-1."""
    yield
    mocks.configure({"region": "eu-west-1"})
