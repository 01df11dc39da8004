"""The organizer's Dask client: bad addresses and a closed scheduler connection."""

from __future__ import annotations

import yaml


def test_a_bad_scheduler_address_is_bad_input(tmp_path, split):
    from harness.cli import run

    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "output": str(tmp_path / "out"),
                "phases": {"final": {"split": str(split.root)}},
                "phase": "final",
                "teams": [{"name": "t", "image": "none:1"}],
                "cluster": {"scheduler": "not an address"},
            }
        )
    )
    assert run(["round", str(config)]) == 2
    assert run(["round", str(config), "--scheduler", "nowhere"]) == 2


def test_a_closed_scheduler_connection_is_a_cluster_failure():
    # A result being gathered when the scheduler dies fails with the connection, not a
    # cancelled future: both are the cluster's failure (exit 3), never selma3d's bug (exit 4).
    from distributed.comm.core import CommClosedError

    from harness.errors import ClusterError
    from harness.rounds.cluster import cluster_failure

    failure = cluster_failure(CommClosedError("in <TCP (closed)>: Stream is closed"), "scoring")
    assert isinstance(failure, ClusterError)
    assert "lost the Dask scheduler during the scoring stage" in str(failure)
    assert cluster_failure(ValueError("a bug"), "scoring") is None
