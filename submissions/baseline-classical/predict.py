"""Classical baseline entry point (grand-challenge contract): vesselness or LoG by track."""

import sys

from baselines import classical
from baselines._common import choose_track
from baselines.contract import log, run


def segment(image, structure):
    # The track comes from /input/biological-structure.json when the round sends it; without it
    # the image's tubularity decides, and the log says so.
    choice = choose_track(image, structure=structure)
    log(choice.reason)
    params = classical.params_for(choice)
    log(f"classical baseline: {choice.track} method with {params}")
    return classical.segment(image, structure=choice.structure, track=choice.track, params=params)


if __name__ == "__main__":
    sys.exit(run(segment, name="baseline-classical"))
