"""The developers' tools, apart from the product's core: remaking the shipped baselines.

:mod:`~harness.develop.experiments` loads training data, tunes the classical baseline, saves the
U-Net's weights and scores every baseline into the results table of ``docs/baselines.md``. Its
commands, ``selma3d dev baselines prepare|tune|train|table``, are in
:mod:`harness.cli.baselines`, beside every other command.
"""

__all__ = ["experiments"]
