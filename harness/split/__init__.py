"""The split and its volumes: manifest, volume I/O, checks, importers, partition, generator.

A split is a folder with a ``manifest.csv`` (:mod:`harness.split.manifest`) listing cases and their
volumes (:mod:`harness.split.volume`, each read from its own bytes only by
:mod:`harness.split.formats`); its labels are checked before scoring (:mod:`harness.split.checks`).
Splits come from the generator (:mod:`harness.split.synth`) or from public layouts
(:mod:`harness.split.importers`), and one labeled split is partitioned into a public sample and
a hidden test set (:mod:`harness.split.partition`).
"""

__all__ = ["checks", "importers", "manifest", "partition", "synth", "volume"]
