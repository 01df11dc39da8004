"""A round's container runs and scoring as Dask tasks, on a local cluster or an organizer's one.

Every (team, case) container run is one task needing one container slot (``slots``, and the
round's GPUs as ``gpus``); every case's scoring is one task needing one scoring slot (``cpu``),
sent as soon as every submission's run of the case is recorded, so scoring overlaps the
container runs without ever taking a container slot. An invoke image
(:func:`harness.containers.images.is_invoke`) is the exception: its cases go in batches
(:func:`batch_cases`, one per container slot), each run by one runner call that starts the
model server once and reuses it for the batch's cases. Without a
scheduler the same tasks run on a :class:`distributed.LocalCluster` of ``limits.jobs`` one-slot
worker processes on this machine beside one-``cpu`` scoring processes
(:func:`~harness.rounds.cluster.connect.local_scoring_workers`), so a local round and a
distributed one share one code path.

Data model (see ``docs/cluster.md``)
------------------------------------
Every machine sees the split and the round's output folder at the same paths (a shared file
system, the usual set-up on clusters). A container task reads its case's images from the split
(never its label: the case is sent without it) and runs the runner into a fresh attempt folder
``<round>/tasks/<team>/<submission>/<case>/<attempt>/`` (a batch's under its first case); it
returns the case's record (a batch: every case's, and its servers' start-ups). Only
scoring tasks read labels. A worker whose engine lacks a team's image loads it from the
``docker save`` tarball the round keeps under ``<round>/images/`` and checks its digest.

One ledger
----------
The organizer's process is the only writer of the round's record: as each task's result arrives
its prediction and log are copied into ``runs/<team>/<submission>/`` and the submission's
``cases.jsonl`` is rewritten atomically (:func:`common.files.write_atomic`), one record per
case. A rerun asks the cluster only for cases with no record (or an ``infrastructure_error``
one), and reuses each case's scores while the predictions and the scoring code are unchanged.

Faults
------
A worker killed mid-task: the scheduler runs the task elsewhere; the new attempt first removes,
by their out-dir label, the containers an earlier attempt of the same case (of any case of a
batch) left on its engine. A batch's records are merged only once the whole batch finished.
``selma3d worker`` removes every selma3d task container on its engine at start when no other
worker holds that engine. A lost scheduler stops the round with :class:`ClusterError` (exit 3).
Infrastructure failures are never recorded against a team: they stop the round before scoring,
and the rerun retries them.

Determinism
-----------
With ``determinism: true`` the case tasks rerun nothing; once every case is recorded, the
runner's rule (:func:`harness.containers.determinism.plan_rerun`) decides per submission: one
with no ``ok`` case keeps ``NOTHING_OK`` as the runner does; one the check is due for gets one
more task (:func:`run_determinism_task`, one container slot): its first ``ok`` case runs again
in a fresh attempt folder (same image, model and limits) and the new mask is compared with the
ledger's (:func:`harness.containers.determinism.compare_runs`). The ledger keeps the outcome as
``run.json``'s ``determinism``, so a rerun of the round does not send it again; a second run
that failed is kept as such (``identical`` null, never charged to the team), one that failed
for infrastructure reasons is sent again by the next rerun.

Modules
-------
:mod:`~harness.rounds.cluster.tasks`
    What the organizer sends and a worker returns; batches of an invoke submission's cases.
:mod:`~harness.rounds.cluster.worker`
    A worker's engine and GPU pool, ``selma3d worker``, the container tasks.
:mod:`~harness.rounds.cluster.images`
    The round's image tarballs: saved by the organizer, loaded by a worker.
:mod:`~harness.rounds.cluster.connect`
    The Dask client, its slots, and the one way a task's result is gathered.
:mod:`~harness.rounds.cluster.ledger`
    The round's record of one submission.
:mod:`~harness.rounds.cluster.dispatch`
    The container stage.
:mod:`~harness.rounds.cluster.determinism`
    The determinism check.
:mod:`~harness.rounds.cluster.scoring`
    The scoring stage, with each case's rows cached.
"""

# What the rest of selma3d (and its tests and benchmarks) import from here; each module
# declares its own surface too.
from harness.rounds.cluster.connect import (
    cluster_failure,
    connect_cluster,
    local_scoring_workers,
    probe_scheduler,
)
from harness.rounds.cluster.determinism import run_determinism_task
from harness.rounds.cluster.dispatch import run_containers
from harness.rounds.cluster.images import ensure_image, save_image_tarball
from harness.rounds.cluster.ledger import Ledger
from harness.rounds.cluster.scoring import (
    ScoredCase,
    ScoringStage,
    busy_time,
    score_case_task,
)
from harness.rounds.cluster.tasks import (
    CPU,
    IMAGES_DIR,
    RELAY_KEY,
    SLOTS,
    BatchResult,
    DeterminismResult,
    SubmissionJob,
    TaskResult,
    batch_cases,
)
from harness.rounds.cluster.worker import (
    GpuPool,
    gpu_devices,
    remove_task_containers,
    run_batch_task,
    run_case_task,
    serve_worker,
)

__all__ = [
    "CPU",
    "IMAGES_DIR",
    "RELAY_KEY",
    "SLOTS",
    "BatchResult",
    "DeterminismResult",
    "GpuPool",
    "Ledger",
    "ScoredCase",
    "ScoringStage",
    "SubmissionJob",
    "TaskResult",
    "batch_cases",
    "busy_time",
    "cluster_failure",
    "connect_cluster",
    "ensure_image",
    "gpu_devices",
    "local_scoring_workers",
    "probe_scheduler",
    "remove_task_containers",
    "run_batch_task",
    "run_case_task",
    "run_containers",
    "run_determinism_task",
    "save_image_tarball",
    "score_case_task",
    "serve_worker",
]
