"""Rounds and rehearsals: the round configuration, an organizer's round, a participant's check."""
