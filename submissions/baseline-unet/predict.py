"""U-Net baseline entry point: grand-challenge contract, or the folder contract."""

import sys

import torch

from baselines import unet
from baselines._common import choose_track
from baselines.contract import log, run

# The runner limits CPUs; one thread per allowed core avoids oversubscription.
torch.set_num_threads(2)
MODEL, CONFIG = unet.load_model()


def segment(image, structure):
    choice = choose_track(image, structure=structure)
    log(choice.reason)
    log(f"U-Net baseline: output channel of the {choice.track} track")
    return unet.segment(image, structure=choice.structure, track=choice.track, model=MODEL)


if __name__ == "__main__":
    sys.exit(run(segment, name="baseline-unet", contracts=("grand-challenge", "folder")))
