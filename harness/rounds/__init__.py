"""Rounds and rehearsals: the round configuration, an organizer's round, a participant's check."""

__all__ = ["check", "cluster", "config", "round"]
