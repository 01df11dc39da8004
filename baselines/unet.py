"""Deep baseline: a small MONAI 3D U-Net, pretrained by masked-volume reconstruction, finetuned.

One network; output 0 reconstructs intensities (pretraining only), outputs 1-2 segment per
track (vessel-like, spot-like) and outputs 3-7 per known structure; a case uses its structure's
output when the structure is given and known, its track's otherwise. Training
(:func:`train`) runs on CPU in minutes and is deterministic for a seed; inference
(:func:`segment`) uses MONAI's sliding-window inferer.

Stages
------
pretrain
    Random crops of unlabeled volumes; random cubes are replaced by zeros and the network
    reconstructs the original intensities; mean squared error on the hidden voxels only
    (masked image modelling as in Tang et al., CVPR 2022, doi:10.1109/CVPR52688.2022.02007).
finetune
    Random crops of the labeled patches (a fifth centred on foreground), flips; Dice + binary
    cross-entropy on the case's track channel.

Runs inside the ``selma3d/baselines-torch`` image (torch, MONAI, numpy, scipy, scikit-image, cc3d).

Its length (over 500 lines) is one method's: the network, its self-supervised pretraining,
training and sliding-window inference share their settings and run in one image.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import monai
import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceLoss
from monai.networks.nets import UNet

from baselines._common import canonical_structure, choose_track, normalise, remove_small_objects

__all__ = [
    "OUT_CHANNELS",
    "STRUCTURE_CHANNEL",
    "THRESHOLD_GRID",
    "TRACK_CHANNEL",
    "WEIGHTS_PATH",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "deterministic",
    "environment",
    "load_model",
    "predict_probability",
    "segment",
    "serialize_model",
    "train",
    "weights_digest",
]

WEIGHTS_PATH = Path(__file__).with_name("weights") / "unet.pt"
TRACK_CHANNEL = {"vessel": 1, "spot": 2}
# One output per known structure as well: c-Fos patches label only the active cells among many
# bright ones, nuclei patches label every nucleus, so one spot output cannot serve both. A case
# trains its track's output and, for a known structure, the structure's; inference uses the
# structure's output when the structure is given and known, the track's otherwise.
STRUCTURE_CHANNEL = {
    "blood_vessel": 3,
    "microglia": 4,
    "cfos": 5,
    "cell_nucleus": 6,
    "amyloid_plaque": 7,
}
OUT_CHANNELS = 1 + len(TRACK_CHANNEL) + len(STRUCTURE_CHANNEL)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored beside the weights).

    Attributes
    ----------
    seed : int
    channels : tuple of int
        Feature maps per level of the U-Net.
    num_res_units : int
        Residual units per block.
    crop : int
        Edge of the cubic training crops, in voxels.
    batch_size : int
    pretrain_steps, finetune_steps : int
        Optimiser steps of each stage; ``pretrain_steps=0`` trains from scratch.
    pretrain_lr, finetune_lr : float
        Adam learning rates.
    mask_ratio : float
        Share of each pretraining crop hidden, in cubes of ``mask_cube`` voxels.
    mask_cube : int
    foreground_fraction : float
        Share of finetuning crops centred on a foreground voxel.
    threads : int
        torch intra-op threads (fixed so results do not depend on the machine).
    """

    seed: int = 0
    channels: tuple[int, ...] = (8, 16, 32, 64)
    num_res_units: int = 1
    crop: int = 48
    batch_size: int = 2
    pretrain_steps: int = 400
    finetune_steps: int = 2000
    pretrain_lr: float = 2e-3
    finetune_lr: float = 2e-3
    mask_ratio: float = 0.5
    mask_cube: int = 8
    foreground_fraction: float = 0.2
    threads: int = 2

    def __post_init__(self) -> None:
        if self.crop % 2 ** (len(self.channels) - 1):
            raise ValueError(
                f"crop must be divisible by {2 ** (len(self.channels) - 1)}; got {self.crop}."
            )
        if self.pretrain_steps < 0 or self.finetune_steps < 0:
            raise ValueError(
                f"step counts must be >= 0; got {self.pretrain_steps}, {self.finetune_steps}."
            )
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1); got {self.mask_ratio}.")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes
    ----------
    model : torch.nn.Module
    config : TrainConfig
    pretrain_loss, finetune_loss : list of float
        Loss per step.
    seconds : dict
        Wall time of each stage.
    thresholds : dict
        Calibrated probability threshold per track.
    """

    model: torch.nn.Module
    config: TrainConfig
    pretrain_loss: list[float] = field(default_factory=list)
    finetune_loss: list[float] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)


def build_model(*, channels: Sequence[int] = (8, 16, 32, 64), num_res_units: int = 1) -> UNet:
    """The U-Net: one input channel, three outputs (reconstruction, vessel, spot), strides 2.

    Output channels: 0 reconstruction, then :data:`TRACK_CHANNEL`, then
    :data:`STRUCTURE_CHANNEL`. The model carries a buffer ``thresholds``, one probability
    threshold per output, calibrated on the training cases after finetuning (0.5 until then).
    """
    model = UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=OUT_CHANNELS,
        channels=tuple(channels),
        strides=(2,) * (len(channels) - 1),
        num_res_units=num_res_units,
    )
    model.register_buffer("thresholds", torch.full((OUT_CHANNELS,), 0.5))
    return model


THRESHOLD_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _channels_of(track: str, structure: str | None) -> list[int]:
    chans = [TRACK_CHANNEL[track]]
    if structure in STRUCTURE_CHANNEL:
        chans.append(STRUCTURE_CHANNEL[structure])
    return chans


def _calibrate(
    model: UNet, cases: list[tuple[np.ndarray, np.ndarray, str, str | None]]
) -> dict[str, float]:
    # Per output, the threshold with the best mean Dice over the training cases it was trained
    # on; foreground-centred crops bias the probabilities upward, which this undoes.
    model.eval()
    names = {
        **{c: t for t, c in TRACK_CHANNEL.items()},
        **{c: s for s, c in STRUCTURE_CHANNEL.items()},
    }
    scores: dict[int, list[list[float]]] = {}
    for image, label, track, structure in cases:
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)[None, None])
        with torch.inference_mode():
            logits = sliding_window_inference(
                x,
                roi_size=(64, 64, 64),
                sw_batch_size=1,
                predictor=model,
                overlap=0.25,
                mode="gaussian",
            )
        ref = label > 0
        for channel in _channels_of(track, structure):
            prob = torch.sigmoid(logits[0, channel]).numpy()
            row = []
            for thr in THRESHOLD_GRID:
                pred = prob > thr
                denom = ref.sum() + pred.sum()
                row.append(1.0 if denom == 0 else 2.0 * np.logical_and(ref, pred).sum() / denom)
            scores.setdefault(channel, []).append(row)
    chosen = {}
    for channel, rows in sorted(scores.items()):
        best = THRESHOLD_GRID[int(np.argmax(np.mean(rows, axis=0)))]
        model.thresholds[channel] = best
        chosen[names[channel]] = float(best)
    return chosen


@contextlib.contextmanager
def deterministic(seed: int, *, threads: int) -> Iterator[None]:
    """Seed torch, fix its thread count and require deterministic algorithms, then restore.

    Inside the block training is reproducible; on leaving it (normally or by an exception) the
    caller's random state, thread count and deterministic-algorithms setting are back, so
    training leaves no process-wide setting behind.

    Parameters
    ----------
    seed : int
        Seed of torch's random generator (``torch.manual_seed``).
    threads : int, keyword-only
        Intra-op threads (``torch.set_num_threads``); results depend on it.

    Examples
    --------
    >>> before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    >>> with deterministic(0, threads=1):
    ...     torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    (1, True)
    >>> (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    True
    """
    rng = torch.get_rng_state()
    n_threads = torch.get_num_threads()
    strict = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(strict, warn_only=warn_only)
        torch.set_num_threads(n_threads)
        torch.set_rng_state(rng)


def _random_crop(
    volume: np.ndarray, crop: int, rng: np.random.Generator, centre: tuple[int, ...] | None = None
) -> tuple[slice, ...]:
    slices = []
    for axis, n in enumerate(volume.shape):
        size = min(crop, n)
        if centre is None:
            start = int(rng.integers(0, n - size + 1))
        else:
            start = int(np.clip(centre[axis] - size // 2, 0, n - size))
        slices.append(slice(start, start + size))
    return tuple(slices)


def _pad_to(array: np.ndarray, crop: int) -> np.ndarray:
    pad = [(0, max(0, crop - n)) for n in array.shape]
    return np.pad(array, pad) if any(p[1] for p in pad) else array


def _flip(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    for axis in range(3):
        if rng.random() < 0.5:
            arrays = [np.flip(a, axis=axis) for a in arrays]
    return [np.ascontiguousarray(a) for a in arrays]


def _cube_mask(crop: int, cube: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    cells = max(1, crop // cube)
    hidden = rng.random((cells, cells, cells)) < ratio
    mask = np.kron(hidden, np.ones((cube, cube, cube), dtype=bool))
    return _pad_to(mask, crop)[:crop, :crop, :crop]


def _pretrain(
    model: UNet,
    volumes: list[np.ndarray],
    config: TrainConfig,
    rng: np.random.Generator,
    tick: Callable[[str, int, float], None],
) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=config.pretrain_lr)
    losses = []
    model.train()
    for step in range(config.pretrain_steps):
        inputs, targets, hidden = [], [], []
        for _ in range(config.batch_size):
            vol = volumes[int(rng.integers(len(volumes)))]
            (crop,) = _flip([_pad_to(vol[_random_crop(vol, config.crop, rng)], config.crop)], rng)
            mask = _cube_mask(config.crop, config.mask_cube, config.mask_ratio, rng)
            inputs.append(np.where(mask, 0.0, crop))
            targets.append(crop)
            hidden.append(mask)
        x = torch.from_numpy(np.stack(inputs)[:, None].astype(np.float32))
        y = torch.from_numpy(np.stack(targets)[:, None].astype(np.float32))
        m = torch.from_numpy(np.stack(hidden)[:, None].astype(np.float32))
        recon = model(x)[:, :1]
        loss = ((recon - y) ** 2 * m).sum() / m.sum().clamp_min(1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        tick("pretrain", step, losses[-1])
    return losses


def _finetune(
    model: UNet,
    cases: list[tuple[np.ndarray, np.ndarray, str]],
    config: TrainConfig,
    rng: np.random.Generator,
    tick: Callable[[str, int, float], None],
) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=config.finetune_lr)
    dice = DiceLoss(sigmoid=True, batch=True)
    bce = torch.nn.BCEWithLogitsLoss()
    foreground = [np.argwhere(label) for _, label, _, _ in cases]
    losses = []
    model.train()
    for step in range(config.finetune_steps):
        xs, ys, chans = [], [], []
        for _ in range(config.batch_size):
            i = int(rng.integers(len(cases)))
            image, label, track, structure = cases[i]
            centre = None
            if len(foreground[i]) and rng.random() < config.foreground_fraction:
                centre = tuple(int(v) for v in foreground[i][int(rng.integers(len(foreground[i])))])
            sl = _random_crop(image, config.crop, rng, centre)
            img, lab = _flip(
                [_pad_to(image[sl], config.crop), _pad_to(label[sl], config.crop)], rng
            )
            xs.append(img)
            ys.append(lab)
            chans.append(_channels_of(track, structure))
        x = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32))
        y = torch.from_numpy(np.stack(ys)[:, None].astype(np.float32))
        out = model(x)
        # Every output a case trains gets its own Dice + BCE; the mean keeps the scale fixed.
        pairs = [(out[b, c], y[b, 0]) for b, cs in enumerate(chans) for c in cs]
        logits = torch.stack([p for p, _ in pairs])[:, None]
        target = torch.stack([t for _, t in pairs])[:, None]
        loss = dice(logits, target) + bce(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        tick("finetune", step, losses[-1])
    return losses


def train(
    labeled: Sequence[tuple[np.ndarray, np.ndarray, str] | tuple[np.ndarray, np.ndarray, str, str]],
    unlabeled: Sequence[np.ndarray] = (),
    *,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[str, int, float], None] | None = None,
) -> TrainResult:
    """Pretrain on unlabeled volumes (unless ``config.pretrain_steps == 0``), then finetune.

    Parameters
    ----------
    labeled : sequence of (image, label, track[, structure])
        Raw ``(Z, Y, X)`` images, binary masks of the same shape, ``"vessel"`` or ``"spot"``,
        and optionally the structure (trains its own output when it is a known structure).
    unlabeled : sequence of (Z, Y, X) ndarray
        Raw images for pretraining (labeled images may be among them).
    config : TrainConfig
    progress : callable, optional
        ``progress(stage, step, loss)`` after every step.

    Returns
    -------
    TrainResult
        The same ``config`` and data give identical weights (seeded generators, deterministic
        algorithms, fixed thread count).
    """
    if not labeled:
        raise ValueError("train needs at least one labeled case; got none.")
    for i, (image, label, track, *_) in enumerate(labeled):
        if image.shape != label.shape:
            raise ValueError(
                f"labeled case {i}: image shape {image.shape} differs from "
                f"label shape {label.shape}."
            )
        if track not in TRACK_CHANNEL:
            raise ValueError(f"labeled case {i}: track must be 'vessel' or 'spot'; got {track!r}.")
    if config.pretrain_steps and not unlabeled:
        raise ValueError("pretraining needs unlabeled volumes; pass some or set pretrain_steps=0.")
    with deterministic(config.seed, threads=config.threads):
        rng = np.random.default_rng(config.seed)
        tick = progress or (lambda stage, step, loss: None)
        model = build_model(channels=config.channels, num_res_units=config.num_res_units)
        seconds = {}
        start = time.perf_counter()
        norm_unlabeled = [normalise(v) for v in unlabeled]
        pre = _pretrain(model, norm_unlabeled, config, rng, tick) if config.pretrain_steps else []
        seconds["pretrain"] = time.perf_counter() - start
        start = time.perf_counter()
        cases = [
            (
                normalise(item[0]),
                (np.asarray(item[1]) > 0).astype(np.float32),
                item[2],
                canonical_structure(item[3]) if len(item) > 3 and item[3] else None,
            )
            for item in labeled
        ]
        fine = _finetune(model, cases, config, rng, tick)
        seconds["finetune"] = time.perf_counter() - start
        start = time.perf_counter()
        thresholds = _calibrate(model, cases)
        seconds["calibrate"] = time.perf_counter() - start
        model.eval()
        return TrainResult(
            model=model,
            config=config,
            pretrain_loss=pre,
            finetune_loss=fine,
            seconds=seconds,
            thresholds=thresholds,
        )


def weights_digest(model: torch.nn.Module) -> str:
    """``sha256:`` of the parameter and buffer values in name order.

    File digests of ``torch.save`` output differ between identical models (the archive carries a
    random serialisation id), so determinism and provenance use this digest instead.
    """
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()


def serialize_model(
    model: torch.nn.Module, *, config: TrainConfig, provenance: dict[str, Any] | None = None
) -> bytes:
    """The content of a weights file: the state dict, the config and the provenance.

    This package writes no weights file itself (it may import only ``metrics``, and the atomic
    writer lives in ``common.files``): ``harness.develop.experiments.save_weights`` writes these
    bytes. :func:`load_model` reads them back.

    Parameters
    ----------
    model : torch.nn.Module
    config : TrainConfig, keyword-only
    provenance : dict, optional, keyword-only
        Plain JSON values stored with the weights.

    Returns
    -------
    bytes
        A ``torch.save`` archive of tensors and plain values only.
    """
    cfg = asdict(config)
    cfg["channels"] = list(cfg["channels"])
    payload = {
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "config": cfg,
        "provenance": provenance or {},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_model(path: str | Path = WEIGHTS_PATH) -> tuple[UNet, TrainConfig]:
    """Read weights written from :func:`serialize_model` (tensors and plain values only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no U-Net weights; run `selma3d baselines train` first.")
    # TorchVersion is a str subclass that older provenance records may hold; it carries no code.
    with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
        payload = torch.load(path, map_location="cpu", weights_only=True)
    cfg = dict(payload["config"])
    cfg["channels"] = tuple(cfg["channels"])
    config = TrainConfig(**cfg)
    model = build_model(channels=config.channels, num_res_units=config.num_res_units)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, config


def predict_probability(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    track: str,
    roi: int = 64,
    overlap: float = 0.25,
    normalised: bool = False,
    structure: str | None = None,
) -> np.ndarray:
    """Foreground probability of the track's channel, by sliding-window inference.

    Parameters
    ----------
    model : torch.nn.Module
    image : (Z, Y, X) ndarray
        Raw intensities (normalised here exactly as in training).
    track : {"vessel", "spot"}
    roi : int
        Window edge; windows overlap by ``overlap`` and are blended with Gaussian weights.
    normalised : bool
        ``image`` is already normalised.
    structure : str, optional
        A canonical structure name with its own output (:data:`STRUCTURE_CHANNEL`) uses it.

    Returns
    -------
    (Z, Y, X) ndarray of float32 in [0, 1]
    """
    if track not in TRACK_CHANNEL:
        raise ValueError(f"track must be 'vessel' or 'spot'; got {track!r}.")
    channel = STRUCTURE_CHANNEL.get(structure or "", TRACK_CHANNEL[track])
    data = image.astype(np.float32) if normalised else normalise(image)
    x = torch.from_numpy(np.ascontiguousarray(data)[None, None])
    with torch.inference_mode():
        logits = sliding_window_inference(
            x,
            roi_size=(roi, roi, roi),
            sw_batch_size=1,
            predictor=model,
            overlap=overlap,
            mode="gaussian",
        )
    return torch.sigmoid(logits[0, channel]).numpy().astype(np.float32)


def segment(
    image: np.ndarray,
    *,
    structure: str | None = None,
    track: str | None = None,
    model: torch.nn.Module | None = None,
    threshold: float | None = None,
    min_size: int = 10,
) -> np.ndarray:
    """Segment a patch with the U-Net.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
        Raw intensities.
    structure, track : str, optional
        As in :func:`baselines.classical.segment`: the track picks the output channel.
    model : torch.nn.Module, optional
        Defaults to the shipped weights (``baselines/weights/unet.pt``).
    threshold : float, optional
        On the sigmoid probability; defaults to the model's calibrated threshold for the track.
    min_size : int
        Components with fewer voxels are removed.

    Returns
    -------
    (Z, Y, X) ndarray of uint8
    """
    choice = choose_track(np.asarray(image), structure=structure, track=track)
    net = load_model()[0] if model is None else model
    prob = predict_probability(net, image, track=choice.track, structure=choice.structure)
    if threshold is None:
        channel = STRUCTURE_CHANNEL.get(choice.structure or "", TRACK_CHANNEL[choice.track])
        threshold = float(net.thresholds[channel])
    return remove_small_objects(prob > threshold, min_size=min_size).astype(np.uint8)


def environment() -> dict[str, str]:
    """Versions that matter for reproducing a training run."""
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "monai": str(monai.__version__),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
