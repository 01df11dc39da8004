"""The docstring examples of the container-side modules run (baselines/ is outside the
doctest paths of the pytest configuration)."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name", ["baselines._common", "baselines.threshold", "baselines.classical"]
)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
