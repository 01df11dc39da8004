"""Threshold baseline entry point (grand-challenge contract): Otsu on the normalised patch."""

import sys

from baselines import threshold
from baselines.contract import log, run


def segment(image, structure):
    # The threshold baseline treats every structure alike; the structure is only logged.
    log(f"threshold baseline: structure {structure!r} not used")
    return threshold.segment(image)


if __name__ == "__main__":
    sys.exit(run(segment, name="baseline-threshold"))
