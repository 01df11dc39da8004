"""What every layer of selma3d shares: exceptions, files, statuses, profiles, tables, terminal text.

Ground floor of the layering (``common -> metrics -> {leaderboard, baselines} -> harness``):
nothing here imports another selma3d package.
"""

__all__ = ["errors", "files", "profiles", "status", "tables", "terminal"]
