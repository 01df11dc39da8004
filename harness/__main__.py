"""``python -m harness`` runs the ``selma3d`` command line."""

from harness.entry import main

if __name__ == "__main__":
    main()
