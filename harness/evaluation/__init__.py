"""The organizers' evaluation container, run as grand-challenge runs it, beside selma3d's scores.

Modules
-------
config
    ``evaluation:`` of a round file: the image, the ground truth and the container's limits.
contract
    grand-challenge's evaluation contract: ``/input/predictions.json``, each job's output under
    ``/input/<job pk>/output/``, the ground truth at ``/opt/ml/input/data/ground_truth/``; the
    ground truth's hash; a ground-truth folder written from a split.
summary
    A run in words (console) and columns (``--out``).
run
    One evaluation container run (exec or invoke) under the harness's isolation, and its record.
gc_leaderboard
    grand-challenge's leaderboard of a phase from each submission's ``metrics.json``, ported
    from grand-challenge's ranking code.
official
    Where the SELMA3D 2026 evaluator fails (names it cannot categorize, too few cases, NaN).
"""

from harness.evaluation.config import EvaluationConfig
from harness.evaluation.contract import (
    GROUND_TRUTH_MOUNT,
    EvaluationJob,
    ground_truth_hash,
    jobs_from_results,
    stage_predictions,
    write_ground_truth,
)
from harness.evaluation.run import (
    EvaluationRun,
    PreparedEvaluation,
    evaluate_with_container,
    prepare_evaluation,
    run_evaluation,
)

__all__ = [
    "GROUND_TRUTH_MOUNT",
    "EvaluationConfig",
    "EvaluationJob",
    "EvaluationRun",
    "PreparedEvaluation",
    "evaluate_with_container",
    "ground_truth_hash",
    "jobs_from_results",
    "prepare_evaluation",
    "run_evaluation",
    "stage_predictions",
    "write_ground_truth",
]
