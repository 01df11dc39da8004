"""The organizers' evaluation container, run as grand-challenge runs it, beside selma3d's scores.

Modules
-------
config
    ``evaluation:`` of a round file: the image, the ground truth and the container's limits.
contract
    grand-challenge's evaluation contract: ``/input/predictions.json``, each job's output under
    ``/input/<job pk>/output/``, the ground truth at ``/opt/ml/input/data/ground_truth/``; the
    ground truth's hash; a ground-truth folder written from a split.
metrics_json
    The container's ``metrics.json`` read within stated bounds (size, depth, number length),
    NaN and Infinity kept as no value; grand-challenge's path syntax (``aggregates.dice.mean``).
forms
    Which of its values are which of selma3d's: the SELMA3D 2026 evaluator's flat keys and
    evalutils' nested aggregates and case table (detected), or round.yaml
    ``evaluation.compare`` (declared).
compare
    selma3d's value of each, and every difference named.
run
    One evaluation container run (exec or invoke) under the harness's isolation, and its record.
summary
    A run in words (console, every compared value as a table) and columns (per-case tables).
gc_leaderboard
    grand-challenge's leaderboard of a phase from each submission's ``metrics.json``, ported
    from grand-challenge's ranking code.
official
    Where the SELMA3D 2026 evaluator fails (names it cannot categorize, too few cases, NaN).
"""

from harness.evaluation.compare import TOLERANCE, Compared, Comparison, compare_metrics
from harness.evaluation.config import EvaluationConfig
from harness.evaluation.contract import (
    GROUND_TRUTH_MOUNT,
    EvaluationJob,
    ground_truth_hash,
    jobs_from_results,
    stage_predictions,
    write_ground_truth,
)
from harness.evaluation.forms import CompareTarget, Target
from harness.evaluation.metrics_json import MetricsRead, get_jsonpath, read_metrics
from harness.evaluation.run import (
    EvaluationRun,
    PreparedEvaluation,
    evaluate_with_container,
    prepare_evaluation,
    run_evaluation,
)

__all__ = [
    "GROUND_TRUTH_MOUNT",
    "TOLERANCE",
    "CompareTarget",
    "Compared",
    "Comparison",
    "EvaluationConfig",
    "EvaluationJob",
    "EvaluationRun",
    "MetricsRead",
    "PreparedEvaluation",
    "Target",
    "compare_metrics",
    "evaluate_with_container",
    "get_jsonpath",
    "ground_truth_hash",
    "jobs_from_results",
    "prepare_evaluation",
    "read_metrics",
    "run_evaluation",
    "stage_predictions",
    "write_ground_truth",
]
