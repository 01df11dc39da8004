"""Reference methods for both tracks, as functions on arrays and as containers.

Modules
-------
threshold
    ``segment(image, *, min_size)``: percentile normalisation, Otsu, small-object removal.
classical
    ``segment(image, *, structure, track, params)``: Sato vesselness + hysteresis for vessel-like,
    LoG detection + local threshold (+ watershed split) for spot-like; tuned parameters in
    ``classical_params.json``.
unet
    ``segment(image, *, structure, track, model)``, ``train(labeled, unlabeled, *, config)``:
    a MONAI 3D U-Net pretrained by masked-volume reconstruction (needs torch and MONAI).
contract
    ``run(segment, *, name)``: the container side of the grand-challenge and folder contracts.
tuning
    Host-side only: the parameter search (loading training data and the results table are
    :mod:`harness.develop.experiments`'s, a layer above).

Nothing is imported here, so ``import baselines`` stays light in every image.
"""

__all__ = ["classical", "contract", "threshold", "tuning", "unet"]
