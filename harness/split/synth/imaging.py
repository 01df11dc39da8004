"""The light-sheet imaging model: from fluorophore density to a raw 16-bit camera image.

Forward model, per voxel ``v`` (all fields are positive)::

    expected(v) = A_z(z) * A_x(x) * S(z, y) * (s * (h * f)(v) + b(v))   [ADU above the offset]
    photons(v)  ~ Poisson(expected(v) / g)
    raw(v)      = clip(round(o + g * photons(v) + N(0, sigma_read^2)), 0, 65535)

- ``f`` is the scene's fluorophore density, plus a faint fine-grained tissue texture, and ``h``
  the point-spread function, approximated by an anisotropic Gaussian whose axial width is two to
  three times its lateral width (Zhang, Zerubia & Olivo-Marin 2007, "Gaussian approximations of
  fluorescence microscope point-spread function models", Appl. Opt. 46(10):1819,
  doi:10.1364/AO.46.001819). Widths are physical; on the usual anisotropic grid (z step larger
  than the pixel) the blur in voxels along z is then similar to the lateral one, as in real
  patches.
- ``b`` is background autofluorescence: a level times a smooth random field (a sum of a few
  low-frequency separable cosine products), strongest for plaque stainings in aged tissue.
- ``S(z, y)`` are illumination stripes: absorbing or scattering objects cast shadows along the
  light sheet's propagation axis (x), so the stripe pattern varies along y (and slowly along z)
  and is constant along x (Huisken & Stainier 2007, "Even fluorescence excitation by
  multidirectional selective plane illumination microscopy (mSPIM)", Opt. Lett. 32(17):2608,
  doi:10.1364/OL.32.002608).
- ``A_z`` and ``A_x`` are Beer-Lambert attenuations, with depth (z) and along the sheet (x).
- The camera adds signal-dependent Poisson shot noise with gain ``g`` (ADU per photoelectron) and
  signal-independent Gaussian read noise on an offset ``o`` (Foi et al. 2008, "Practical
  Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE Trans. Image
  Process. 17(10):1737, doi:10.1109/TIP.2008.2001399), then saturates at the 16-bit maximum.

Memory: the density is blurred in place, and everything after the blur (background, stripes,
noise) is computed slab by slab along z, so the peak is the density array (float32), the truth
(uint8) and one slab of temporaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["IMAGING_STYLES", "SATURATION", "ImagingStyle", "acquire"]

SATURATION = 65535.0
_SLAB = 16


@dataclass(frozen=True)
class ImagingStyle:
    """Ranges of the imaging parameters for one structure (each drawn per patch).

    Attributes
    ----------
    z_spacing : float
        Voxel size along z (y and x are 1).
    psf_lateral, psf_axial : (float, float)
        Gaussian PSF standard deviations, physical units.
    signal : (float, float)
        ADU above background for density 1 (before attenuation).
    background : (float, float)
        Autofluorescence level, ADU.
    background_variation : (float, float)
        Relative amplitude of the smooth autofluorescence field.
    texture : float
        Amplitude of the fine tissue texture, in density units.
    stripes : (float, float)
        Relative amplitude of illumination stripes.
    attenuation : (float, float)
        Beer-Lambert attenuation lengths along z, physical units.
    gain : (float, float)
        ADU per photoelectron.
    """

    z_spacing: float
    psf_lateral: tuple[float, float]
    psf_axial: tuple[float, float]
    signal: tuple[float, float]
    background: tuple[float, float]
    background_variation: tuple[float, float]
    texture: float
    stripes: tuple[float, float]
    attenuation: tuple[float, float]
    gain: tuple[float, float]


_COMMON = {"gain": (1.5, 3.0), "stripes": (0.01, 0.04), "attenuation": (300.0, 1500.0)}

IMAGING_STYLES: dict[str, ImagingStyle] = {
    "blood_vessel": ImagingStyle(z_spacing=1.0, psf_lateral=(0.7, 1.1), psf_axial=(1.8, 3.0),
                                 signal=(1000.0, 3500.0), background=(250.0, 650.0),
                                 background_variation=(0.15, 0.4), texture=0.12, **_COMMON),
    "microglia": ImagingStyle(z_spacing=2.0, psf_lateral=(0.7, 1.1), psf_axial=(1.8, 3.0),
                              signal=(1500.0, 5000.0), background=(300.0, 800.0),
                              background_variation=(0.15, 0.4), texture=0.1, **_COMMON),
    "cfos": ImagingStyle(z_spacing=2.0, psf_lateral=(0.8, 1.2), psf_axial=(2.0, 3.2),
                         signal=(4000.0, 20000.0), background=(600.0, 1800.0),
                         background_variation=(0.2, 0.5), texture=0.05, **_COMMON),
    "cell_nucleus": ImagingStyle(z_spacing=2.0, psf_lateral=(0.8, 1.2), psf_axial=(2.0, 3.2),
                                 signal=(8000.0, 40000.0), background=(900.0, 1900.0),
                                 background_variation=(0.2, 0.5), texture=0.03, **_COMMON),
    "amyloid_plaque": ImagingStyle(z_spacing=1.0, psf_lateral=(0.8, 1.2), psf_axial=(1.8, 3.0),
                                   signal=(800.0, 2000.0), background=(1500.0, 2600.0),
                                   background_variation=(0.25, 0.6), texture=0.25, **_COMMON),
}


def _smooth_field(
    rng: np.random.Generator, extent: np.ndarray, *, terms: int = 6
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Parameters of a smooth random field: a sum of separable products of cosines.

    Each term is ``a * cos(k_z z + p_z) cos(k_y y + p_y) cos(k_x x + p_x)`` with periods of 0.7
    to 4 patch sizes. Separable terms cost a few multiplications per voxel, where plane waves
    in arbitrary directions would need a cosine per voxel.
    """
    params = []
    amplitudes = rng.uniform(0.3, 1.0, size=terms)
    # A product of three cosines with random phases has variance 1/8: scale to unit variance.
    amplitudes *= np.sqrt(8.0 / (amplitudes**2).sum())
    for a in amplitudes:
        k = 2 * np.pi / (rng.uniform(0.7, 4.0, size=3) * extent)
        params.append((float(a), k, rng.uniform(0, 2 * np.pi, size=3)))
    return params


def _eval_field(
    params: list[tuple[float, np.ndarray, np.ndarray]],
    z: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(z.shape, y.shape, x.shape), dtype=np.float32)
    for a, k, phase in params:
        fz = np.cos(k[0] * z + phase[0]).astype(np.float32) * np.float32(a)
        fy = np.cos(k[1] * y + phase[1]).astype(np.float32)
        fx = np.cos(k[2] * x + phase[2]).astype(np.float32)
        out += (fz * fy) * fx
    return out


def _stripes(rng: np.random.Generator, shape: tuple[int, int, int], amplitude: float) -> np.ndarray:
    """Multiplicative stripe field ``S(z, y)``, shape ``(Z, Y, 1)``, mean about 1."""
    nz, ny, _ = shape
    # Thin stripes (one to two pixels wide), partly fixed through the stack and partly drifting
    # with z, as the shadows move with the sheet.
    profile = ndi.gaussian_filter1d(rng.normal(size=ny), float(rng.uniform(0.5, 1.2)))
    profile /= profile.std() or 1.0
    drift = ndi.gaussian_filter(rng.normal(size=(nz, ny)), (max(nz / 12, 1.0), 0.8))
    drift /= drift.std() or 1.0
    field = 1.0 + amplitude * (profile[None, :] + drift)
    return np.clip(field, 0.3, None).astype(np.float32)[:, :, None]


def acquire(
    density: np.ndarray,
    rng: np.random.Generator,
    *,
    style: ImagingStyle,
    spacing: tuple[float, float, float],
) -> tuple[np.ndarray, dict[str, float]]:
    """Image a fluorophore density with the light-sheet forward model (see the module notes).

    Parameters
    ----------
    density : (Z, Y, X) ndarray of float32
        Fluorophore density; CONSUMED: it is blurred and overwritten in place by the image, to
        keep memory at one float32 volume.
    rng : numpy.random.Generator
        The only source of randomness.
    style : ImagingStyle
        Parameter ranges; the values used are drawn from them.
    spacing : tuple of float
        Voxel size ``(z, y, x)``.

    Returns
    -------
    image : (Z, Y, X) ndarray of float32
        Integer-valued raw intensities in ``[0, 65535]`` (the array passed as ``density``).
    params : dict
        The parameter values drawn.

    Examples
    --------
    >>> d = np.zeros((8, 8, 8), np.float32); d[4, 4, 4] = 1
    >>> img, p = acquire(d, np.random.default_rng(0), style=IMAGING_STYLES["cfos"],
    ...                  spacing=(2.0, 1.0, 1.0))
    >>> img.dtype.name, bool(np.all(img == np.round(img))), bool(img.min() >= 0)
    ('float32', True, True)
    """
    if density.dtype != np.float32 or density.ndim != 3:
        raise ValueError(
            f"density must be a 3D float32 array. Got {density.dtype} {density.shape}."
        )
    shape = density.shape
    sp = np.asarray(spacing, dtype=float)
    p = {
        "psf_sigma_lateral": float(rng.uniform(*style.psf_lateral)),
        "psf_sigma_axial": float(rng.uniform(*style.psf_axial)),
        "signal": float(rng.uniform(*style.signal)),
        "background": float(rng.uniform(*style.background)),
        "background_variation": float(rng.uniform(*style.background_variation)),
        "stripes": float(rng.uniform(*style.stripes)),
        "attenuation_length": float(rng.uniform(*style.attenuation)),
        "sheet_attenuation_length": float(rng.uniform(3.0, 10.0) * style.attenuation[1]),
        "gain": float(rng.uniform(*style.gain)),
        "offset": float(rng.uniform(80.0, 120.0)),
        "read_noise": float(rng.uniform(1.5, 4.0)),
    }
    # Fine tissue texture, added before the blur so it has the PSF's grain.
    if style.texture > 0:
        for z0 in range(0, shape[0], _SLAB):
            slab = density[z0 : z0 + _SLAB]
            slab += np.float32(style.texture) * rng.random(slab.shape, dtype=np.float32)
    sigma = (p["psf_sigma_axial"] / sp[0], p["psf_sigma_lateral"] / sp[1],
             p["psf_sigma_lateral"] / sp[2])
    ndi.gaussian_filter(density, sigma, output=density, mode="nearest")
    field = _smooth_field(rng, np.asarray(shape) * sp)
    stripes = _stripes(rng, shape, p["stripes"])
    yc = ((np.arange(shape[1], dtype=np.float32) + 0.5) * sp[1])[None, :, None]
    xc = ((np.arange(shape[2], dtype=np.float32) + 0.5) * sp[2])[None, None, :]
    sheet = np.exp(-xc / p["sheet_attenuation_length"]).astype(np.float32)
    for z0 in range(0, shape[0], _SLAB):
        slab = density[z0 : z0 + _SLAB]
        zc = ((np.arange(z0, z0 + slab.shape[0], dtype=np.float32) + 0.5) * sp[0])[:, None, None]
        background = np.float32(p["background"]) * np.clip(
            1.0 + np.float32(p["background_variation"]) * _eval_field(field, zc, yc, xc), 0.2, None
        )
        depth = np.exp(-zc / p["attenuation_length"]).astype(np.float32)
        expected = (np.float32(p["signal"]) * slab + background) * stripes[z0 : z0 + slab.shape[0]]
        expected *= depth * sheet
        photons = rng.poisson(expected / np.float32(p["gain"]))
        raw = p["offset"] + p["gain"] * photons + rng.normal(0.0, p["read_noise"], size=slab.shape)
        slab[...] = np.clip(np.round(raw), 0.0, SATURATION)
    return density, p
