"""The containers: the engine, submission images, the two contracts, the runner and its records.

:mod:`~harness.containers.engine` reaches the Docker engine; :mod:`~harness.containers.images`
resolves a submission to an image (and :mod:`~harness.containers.base_images` builds the offline
base images); :mod:`~harness.containers.contracts` stages inputs for the grand-challenge and folder
contracts; :mod:`~harness.containers.limits` defines what each container run is granted;
:mod:`~harness.containers.isolation` runs one container under those limits and the isolation
flags; :mod:`~harness.containers.verdicts` turns a run and its output into a case status;
:mod:`~harness.containers.records` keeps ``cases.jsonl`` and ``run.json``; and
:mod:`~harness.containers.runner` runs every case of a split, resumably, with the same limits:
exec batches in :mod:`~harness.containers.exec_runs`, invoke servers per job slot in
:mod:`~harness.containers.invoke_slots`, both ending each case in
:mod:`~harness.containers.run_state`; :mod:`~harness.containers.determinism` runs a case again
and compares the two masks.
"""

# exec_runs, invoke_slots and run_state are the runner's own rooms; invoke_relay runs in a
# helper container.
__all__ = [
    "base_images",
    "canary",
    "contracts",
    "determinism",
    "engine",
    "images",
    "invoke",
    "isolation",
    "limits",
    "model",
    "records",
    "run_config",
    "run_folder",
    "runner",
    "verdicts",
]
