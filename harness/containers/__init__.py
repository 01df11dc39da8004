"""The containers: the engine, submission images and models, the two contracts, the runner.

The engine and images. :mod:`~harness.containers.engine` reaches the container engine (Docker or
Podman) and describes it; :mod:`~harness.containers.images` resolves a submission to a local image
(a reference, a ``docker save`` tarball read first by :mod:`~harness.containers.image_tarball`, or
a folder to build), and :mod:`~harness.containers.base_images` builds the offline base images;
:mod:`~harness.containers.model` mounts a submission's weights at ``/opt/ml/model``.

One run. :mod:`~harness.containers.run_config` holds the settings of one runner call and
:mod:`~harness.containers.limits` what each container is granted;
:mod:`~harness.containers.contracts` stages ``/input`` for the grand-challenge and folder
contracts; :mod:`~harness.containers.isolation` runs one container under the limits and the
isolation flags; :mod:`~harness.containers.invoke` is one invoke server, reached through the
relay :mod:`~harness.containers.invoke_relay` runs in a helper container;
:mod:`~harness.containers.verdicts` turns a run and its output into a case status.

The runner. :mod:`~harness.containers.runner` runs every case of a split, resumably, with the same
limits: exec batches in :mod:`~harness.containers.exec_runs`, invoke servers per job slot in
:mod:`~harness.containers.invoke_slots`, both ending each case in
:mod:`~harness.containers.run_state`; :mod:`~harness.containers.canary` decides, from the canary
case, whether the other cases are sent; :mod:`~harness.containers.determinism` chooses the case
to run again and compares the two masks (for the runner and a round alike).
:mod:`~harness.containers.run_folder` owns a run folder (its lock, resuming, ``run.json``) and
:mod:`~harness.containers.records` the records it keeps.

Folders. :mod:`~harness.containers.scratch` makes the temporary folders that hold hidden data,
removed even after a ``kill -9``; :mod:`~harness.containers.cleanup` removes whatever a container
left in a folder selma3d mounted.
"""

# exec_runs, invoke_slots and run_state are the runner's own rooms; invoke_relay runs in a
# helper container.
__all__ = [
    "base_images",
    "canary",
    "cleanup",
    "contracts",
    "determinism",
    "engine",
    "image_tarball",
    "images",
    "invoke",
    "isolation",
    "limits",
    "model",
    "records",
    "run_config",
    "run_folder",
    "runner",
    "scratch",
    "verdicts",
]
