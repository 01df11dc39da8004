"""The leaderboard's single view of the metrics registry (``metrics.METRICS``).

Every metric direction, default ranked set and worst value the leaderboard uses is read here from
the registry of the ``metrics`` package, never from a second table, so a metric registered with a
direction is ranked in that direction everywhere.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "bounds",
    "constant_worst",
    "default_ranked_metrics",
    "higher_is_better",
    "is_integer",
    "metric_columns",
    "metric_definitions",
    "track_metrics",
]


def _registry() -> Mapping[str, Any]:
    # metrics (0.5 s to import: scipy, scikit-image) is loaded when the registry is first read.
    import metrics

    return metrics.METRICS


def _spec(name: str) -> Any:
    registry = _registry()
    if name not in registry:
        raise KeyError(f"metric {name!r} is not in metrics.METRICS; known: {sorted(registry)}")
    return registry[name]


def metric_columns() -> tuple[str, ...]:
    """The per-case metric columns of an evaluation table (``metrics.METRIC_COLUMNS``).

    Examples
    --------
    >>> "dice" in metric_columns()
    True
    """
    # metrics (0.5 s to import: scipy, scikit-image) is loaded when the registry is first read.
    import metrics

    return tuple(metrics.METRIC_COLUMNS)


def track_metrics() -> dict[str, tuple[str, ...]]:
    """Metrics that apply to each track (``metrics.TRACK_METRICS``), tracks sorted by name.

    Examples
    --------
    >>> sorted(track_metrics())
    ['spot', 'vessel']
    """
    # metrics (0.5 s to import: scipy, scikit-image) is loaded when the registry is first read.
    import metrics

    return {track: tuple(names) for track, names in sorted(metrics.TRACK_METRICS.items())}


def higher_is_better(name: str) -> bool:
    """Direction of metric ``name`` as registered.

    Examples
    --------
    >>> higher_is_better("dice")
    True
    >>> higher_is_better("betti0_error")
    False
    """
    return bool(_spec(name).higher_is_better)


def _ranked_tracks(spec: Any) -> tuple[str, ...]:
    # The registry may state the default as a flag (ranked wherever it applies) or as the tracks.
    flag = spec.ranked_by_default
    if isinstance(flag, bool):
        return tuple(spec.tracks) if flag else ()
    if flag is None:
        return ()
    if isinstance(flag, str):
        return (flag,)
    return tuple(flag)


def default_ranked_metrics() -> dict[str, tuple[str, ...]]:
    """Ranked metrics of each track by default, in the track's metric order.

    Examples
    --------
    >>> default_ranked_metrics()["vessel"]
    ('dice', 'cldice')
    >>> default_ranked_metrics()["spot"]
    ('dice', 'blob_f1')
    """
    out: dict[str, tuple[str, ...]] = {}
    for track, names in track_metrics().items():
        out[track] = tuple(n for n in names if track in _ranked_tracks(_spec(n)))
    return out


def bounds(name: str) -> tuple[float, float]:
    """The registry's ``(low, high)`` bounds of ``name`` (``high`` may be infinite for counts).

    Examples
    --------
    >>> bounds("dice"), bounds("blob_fp")
    ((0.0, 1.0), (0.0, inf))
    """
    low, high = _spec(name).bounds
    return float(low), float(high)


def is_integer(name: str) -> bool:
    """Whether values of ``name`` are whole numbers (counts and count errors), as registered.

    Examples
    --------
    >>> is_integer("blob_tp"), is_integer("dice")
    (True, False)
    """
    return bool(_spec(name).integer)


def constant_worst(name: str) -> float | None:
    """The registry's worst value of ``name`` when it is a constant, else None.

    Betti errors and ``blob_fn`` have no constant worst value: the registry names the reference
    quantity it equals, which only the evaluation knows.

    Examples
    --------
    >>> constant_worst("dice")
    0.0
    >>> constant_worst("betti0_error") is None
    True
    """
    worst = getattr(_spec(name), "worst", None)
    if isinstance(worst, bool) or not isinstance(worst, int | float):
        return None
    value = float(worst)
    return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, functools.partial):
        # Named by its function and arguments: a partial's repr holds a memory address, which
        # would make leaderboard.json differ from run to run.
        args = [repr(a) for a in value.args]
        args += [f"{k}={v!r}" for k, v in sorted(value.keywords.items())]
        return f"{_jsonable(value.func)}({', '.join(args)})"
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return str(value)


def metric_definitions(names: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Registry entries as JSON-ready dictionaries (the function by its qualified name).

    Parameters
    ----------
    names : tuple of str, optional
        Metrics to describe; all registered metrics by default.

    Examples
    --------
    >>> metric_definitions(("dice",))["dice"]["higher_is_better"]
    True
    >>> metric_definitions(("blob_fp",))["blob_fp"]["fn"]
    "metrics.registry._blob_field(field='fp')"
    """
    registry = _registry()
    chosen = sorted(registry) if names is None else sorted(names)
    out: dict[str, dict[str, Any]] = {}
    for name in chosen:
        spec = _spec(name)
        fields = getattr(spec, "__dataclass_fields__", None) or getattr(spec, "model_fields", None)
        keys = list(fields) if fields else ["name", "fn", "higher_is_better", "bounds", "tracks"]
        out[name] = {k: _jsonable(getattr(spec, k, None)) for k in keys}
    return out
