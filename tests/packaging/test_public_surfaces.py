"""Every package declares its public surface once (``__all__``), and every name in it imports."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import harness

PACKAGES = ["baselines", "harness"] + [
    f"harness.{m.name}" for m in pkgutil.iter_modules(harness.__path__) if m.ispkg
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_a_package_declares_imports(name):
    package = importlib.import_module(name)
    assert isinstance(package.__all__, list) and package.__all__, name
    for public in package.__all__:
        if not hasattr(package, public):
            # A submodule named in __all__ (imported on demand, so the package stays light).
            importlib.import_module(f"{name}.{public}")
        assert hasattr(package, public), f"{name}.__all__ names {public!r}, which is not there"
