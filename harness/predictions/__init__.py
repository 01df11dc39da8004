"""Predictions: the one gate every predicted mask passes before it is scored (:mod:`.validate`)."""

__all__ = ["validate"]
