"""A runner call's settings: every problem listed at once; run.json's established keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.assets import asset_dir
from harness.containers.run_config import RunConfig

TEMPLATE = asset_dir("submissions") / "template"
MISBEHAVING = Path(__file__).resolve().parents[2] / "integration" / "misbehaving"


def test_run_config_lists_every_problem():
    with pytest.raises(ConfigError) as err:
        RunConfig(contract="nnunet", gate="voxel", input_format="png", log_bytes=0)
    text = str(err.value)
    for words in (
        "contract must be one of",
        "gate must be a GateOptions, got str",
        "input_format must be 'mha' or 'tif'",
        "log_bytes must be >= 1",
    ):
        assert words in text


def test_run_json_records_the_configuration_under_its_established_keys():
    # The keys and default values run.json held before the limits had a model of their own.
    assert RunConfig().as_record() == {
        "contract": "grand-challenge",
        "timeout_s": 600.0,
        "memory": "8g",
        "cpus": 2.0,
        "gpus": None,
        "jobs": 1,
        "retry_failed": False,
        "canary": False,
        "allow_root": False,
        "expose_structure": False,
        "input_format": "mha",
        "input_slug": "light-sheet-3d-microscopy",
        "output_slug": "isolated-biological-structure",
        "pids_limit": 256,
        "nofile": 4096,
        "tmp_size": "1g",
        "max_output_bytes": 1073741824,
        "max_output_files": 1000,
        "threshold": None,
        "geometry": "voxel",
        "retries": 2,
        "log_bytes": 1048576,
        "work_dir": None,
        "progress": True,
        "model": None,
        "determinism": False,
        "startup_timeout_s": 300.0,
        "reuse": "batch",
        # The invoke relay's image id, pinned by the command (None: by the runner).
        "relay_image": None,
    }
