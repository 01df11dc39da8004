"""Scoring: predictions joined to the split's references and scored by the metric suite."""

__all__ = ["allocator", "evaluate", "volumes"]
