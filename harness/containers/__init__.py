"""The containers: the engine, submission images, the two contracts, the runner and its records.

:mod:`~harness.containers.engine` reaches the Docker engine; :mod:`~harness.containers.images`
resolves a submission to an image (and :mod:`~harness.containers.base_images` builds the offline
base images); :mod:`~harness.containers.contracts` stages inputs for the grand-challenge and folder
contracts; :mod:`~harness.containers.runner` runs every case under the same limits and writes one
record per case.
"""
