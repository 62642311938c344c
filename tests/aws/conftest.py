"""Shared AWS fixtures: the planned stacks (planned once per session), and test hygiene."""

from __future__ import annotations

import pytest

from providers.aws import mocks


@pytest.fixture(scope="session")
def aws_plans(tmp_path_factory):
    """`infra.plan.plan` of every stack in tests/aws/stacks.py, with the vendor-rule check on."""
    from infra.config import load_stack_file
    from infra.plan import plan
    from tests.aws.stacks import DOCUMENTS, write

    directory = tmp_path_factory.mktemp("aws-stacks")
    plans = {stack: plan(load_stack_file(write(directory, stack, document))) for stack, document in DOCUMENTS.items()}
    mocks.configure({"region": "eu-west-1"})
    return plans


@pytest.fixture(autouse=True, scope="module")
def _plan_mocks_back_in_the_example_region():
    """A plan of a stack in another region leaves `mocks.REGION` there (infra.plan configures the mocks
    per plan, a bare `use_offline_mocks` does not): put it back so later modules see eu-west-1."""
    yield
    mocks.configure({"region": "eu-west-1"})
