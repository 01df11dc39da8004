"""The containers a build stopped at its time limit may leave, as each engine shows them.

Docker runs a build step in an ordinary container whose command is the step's ``RUN`` line, and
cancels the build (removing that container) once its client goes. Podman's service runs the
step in a build container its Docker API does not list (its own API does, with
``external=true``: state ``storage``, command ``buildah``, no ``RUN`` line), and lets the step
run to its own end before it stops the build and removes that container (docs/runner.md,
"Engines").
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from harness.containers.engine import engine_traits

__all__ = ["SLEEPER_S", "build_containers", "wait_for_no_build_containers"]

SLEEPER_S = 30
"""How long the sleeper's ``RUN`` step sleeps: far past the builds' limits (4-5 s), and short
enough that the step Podman lets run on ends within the test."""


def build_containers(client: Any, word: str, *, since: float) -> list[str]:
    """Ids of the containers of a build whose ``RUN`` line holds ``word``.

    On Podman, also every build container created at ``since`` (a ``time.time()``) or later:
    its command does not say which build it serves.
    """
    found = [
        c.id
        for c in client.containers.list(all=True)
        if word in " ".join(c.attrs.get("Config", {}).get("Cmd") or [])
    ]
    if engine_traits(client).podman:
        listed = client.api._result(
            client.api._get(
                client.api._url("/libpod/containers/json"),
                params={"all": "true", "external": "true"},
            ),
            json=True,
        )
        found += [
            c["Id"]
            for c in listed
            if c.get("State") == "storage"
            and datetime.fromisoformat(c["Created"]).timestamp() >= since
        ]
    return found


def wait_for_no_build_containers(client: Any, word: str, *, since: float) -> list[str]:
    """The build containers still there once the engine has had its time to remove them.

    Docker: 30 s after the build was cut. Podman: 30 s after the sleeper's step ended.
    """
    grace = 30 + (SLEEPER_S if engine_traits(client).podman else 0)
    deadline = time.monotonic() + grace
    left = build_containers(client, word, since=since)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = build_containers(client, word, since=since)
    return left
