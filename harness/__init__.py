"""selma3d harness: data, containers, validation, scoring, evaluation, rounds and the CLI.

The developers' tools, apart from all of these, are :mod:`harness.develop`.
"""

__all__ = [
    "assets",
    "cli",
    "containers",
    "develop",
    "entry",
    "errors",
    "evaluation",
    "predictions",
    "rounds",
    "scoring",
    "split",
]
