"""What every layer of selma3d shares: the exception tree, files, statuses, profiles, tables.

Ground floor of the layering (``common -> metrics -> {leaderboard, baselines} -> harness``):
nothing here imports another selma3d package.
"""

__all__ = ["errors", "files", "profiles", "status", "tables"]
