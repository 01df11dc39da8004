"""selma3d harness: data, containers, validation, evaluation and rounds."""

__all__ = [
    "assets",
    "cli",
    "containers",
    "errors",
    "experiments",
    "predictions",
    "rounds",
    "scoring",
    "split",
]
