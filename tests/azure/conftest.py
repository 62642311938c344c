"""Shared fixtures for the Azure tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _restore_environ():
    """Keep each test's environment changes to itself.

    Creating an MLClient for a custom cloud (tests/azure/fake_arm.py) sets AZUREML_CURRENT_CLOUD in
    os.environ; a later subprocess would inherit it and fail on `Unknown cloud environment`.
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
