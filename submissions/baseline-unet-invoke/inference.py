"""U-Net baseline, invoke form: the weights load once from /opt/ml/model, then one case per call."""

from pathlib import Path

import torch

from baselines import unet
from baselines._common import choose_track
from baselines.contract import log, run_grand_challenge

# The runner limits CPUs; one thread per allowed core avoids oversubscription.
torch.set_num_threads(2)
WEIGHTS = Path("/opt/ml/model/unet.pt")


def init_model():
    """The network and its training configuration, from the model tarball."""
    if not WEIGHTS.is_file():
        raise FileNotFoundError(f"{WEIGHTS} is missing: give the model tarball (unet.pt inside)")
    model, _config = unet.load_model(WEIGHTS)
    log(f"U-Net baseline: loaded {WEIGHTS} ({WEIGHTS.stat().st_size} bytes)")
    return model


def run(model):
    """Segment the case staged in /input into /output."""

    def segment(image, structure):
        choice = choose_track(image, structure=structure)
        log(choice.reason)
        log(f"U-Net baseline: output channel of the {choice.track} track")
        return unet.segment(image, structure=choice.structure, track=choice.track, model=model)

    run_grand_challenge(segment, input_dir=Path("/input"), output_dir=Path("/output"))
