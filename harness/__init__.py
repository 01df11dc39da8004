"""selma3d harness: data, containers, validation, evaluation and rounds."""
