"""Cleaning a keypoint track: low scores and outliers become gaps, short gaps are interpolated, a temporal filter
removes jitter.

Tracks are ``(T, K, 2)`` arrays of image pixels over ``T`` frames, with ``NaN`` where a joint is missing.
Each joint coordinate is cleaned on its own; a filter restarts after every gap it cannot bridge, so a missing
stretch never leaks into its neighbours.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FILTERS",
    "CleanedTrack",
    "clean_track",
    "interpolate_gaps",
    "mask_low_scores",
    "one_euro_filter",
    "reject_outliers",
    "savgol_filter",
]

FILTERS = ("one-euro", "savgol", "none")


def mask_low_scores(keypoints: np.ndarray, scores: np.ndarray, min_score: float) -> np.ndarray:
    """A float64 copy of ``keypoints (T, K, 2)`` with ``NaN`` where ``scores (T, K) < min_score`` or not finite."""
    out = np.array(keypoints, np.float64)
    bad = ~(np.asarray(scores, np.float64) >= min_score) | ~np.isfinite(out).all(-1)
    out[bad] = np.nan
    return out


def reject_outliers(
    track: np.ndarray, window: int = 7, k: float = 3.0, min_px: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """A Hampel-style filter on 2-D points: drop a joint where it jumps away from the running median.

    For each joint and frame ``t``, ``m_t`` is the coordinate-wise median of the joint's present positions over
    the ``window`` frames centred on ``t``, and ``d_t = |p_t - m_t|`` (pixels). While a joint moves steadily
    the running median follows it (for monotonic motion it is the centre frame's own position), so ``d_t`` is
    the noise of the track; a one- or two-frame jump stands out of it. The joint's robust spread over the clip
    is ``σ = 1.4826 · median_t d_t``, and ``p_t`` is an outlier when ``d_t > max(k σ, min_px)`` (Hampel's
    identifier, Pearson 2002, "Outliers in process modeling and identification", with the scale taken over the
    whole track so that motion inside a window does not inflate it). ``min_px`` keeps sub-pixel noise on a
    still joint (σ ≈ 0) from counting. A frame is judged only when its window holds as many present positions
    before it as after it (at least one each): in a lopsided window, at the clip's ends or beside a gap, the
    median of a moving joint lags or leads it.

    Args:
        track: ``(T, K, 2)`` pixels, ``NaN`` = missing.
        window: odd number of frames in the window (>= 3).
        k: threshold in robust σ; ``0`` turns the filter off.
        min_px: the smallest distance (pixels) from the running median that can count as an outlier.

    Returns:
        ``(track with the outliers set to NaN (T, K, 2) float64, outlier (T, K) bool)``.
    """
    out = np.array(track, np.float64)
    outlier = np.zeros(out.shape[:2], bool)
    if window < 3 or window % 2 == 0:
        raise ValueError(f"outlier window must be odd and >= 3 frames, got {window}")
    if k < 0 or min_px < 0:
        raise ValueError(f"outlier k and min_px must be >= 0, got {k}, {min_px}")
    if k == 0 or out.shape[0] < 3:
        return out, outlier
    half = window // 2
    padded = np.pad(out, ((half, half), (0, 0), (0, 0)), constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)         # (T, K, 2, W)
    present = np.isfinite(win).all(2)                                               # (T, K, W)
    before, after = present[..., :half].sum(-1), present[..., half + 1:].sum(-1)
    judged = present[..., half] & (before == after) & (before >= 1)                # (T, K): symmetric windows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                            # all-NaN windows
        median = np.nanmedian(win, axis=-1)                                         # (T, K, 2)
        distance = np.linalg.norm(out - median, axis=-1)                            # (T, K)
        distance[~judged] = np.nan
        spread = 1.4826 * np.nanmedian(distance, axis=0)                            # (K,)
    with np.errstate(invalid="ignore"):
        outlier = judged & np.isfinite(distance) & (distance > np.maximum(k * np.nan_to_num(spread), min_px))
    out[outlier] = np.nan
    return out, outlier


def _runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def interpolate_gaps(track: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill interior gaps of at most ``max_gap`` frames linearly between the frames either side.

    Args:
        track: ``(T, K, 2)`` pixels, ``NaN`` = missing (both coordinates of a joint go missing together).
        max_gap: the longest gap (frames) to fill; longer gaps, and gaps at the start or end, stay ``NaN``.

    Returns:
        ``(filled (T, K, 2), interpolated (T, K) bool)``.
    """
    out = np.array(track, np.float64)
    filled = np.zeros(out.shape[:2], bool)
    t = out.shape[0]
    for k in range(out.shape[1]):
        missing = ~np.isfinite(out[:, k]).all(-1)
        for start, stop in _runs(missing):
            if start == 0 or stop == t or stop - start > max_gap:
                continue
            a, b = out[start - 1, k], out[stop, k]
            w = (np.arange(start, stop) - (start - 1))[:, None] / (stop - (start - 1))
            out[start:stop, k] = a + w * (b - a)
            filled[start:stop, k] = True
    return out, filled


def _segments(values: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of finite values in a 1-D array."""
    return _runs(np.isfinite(values))


def one_euro_filter(
    track: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0
) -> np.ndarray:
    """The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) on every coordinate of ``track (T, K, 2)``.

    A first-order low-pass whose cutoff rises with speed: ``cutoff = min_cutoff + beta * |dx/dt|``, so slow
    jitter is smoothed strongly and fast movements lag little.

    Args:
        fps: frames per second (the sampling rate).
        min_cutoff: cutoff in Hz at rest.
        beta: cutoff increase in Hz per px/s of (low-passed) speed.
        d_cutoff: cutoff in Hz of the speed's own low-pass.
    """
    if fps <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
        raise ValueError(f"one-euro: need fps, min_cutoff, d_cutoff > 0 and beta >= 0, got {fps}, "
                         f"{min_cutoff}, {d_cutoff}, {beta}")
    period = 1.0 / fps

    def alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / period)

    src = np.asarray(track, np.float64)
    out = src.copy()
    flat_in = src.reshape(src.shape[0], -1)
    flat_out = out.reshape(src.shape[0], -1)
    a_d = alpha(d_cutoff)
    for c in range(flat_in.shape[1]):
        for start, stop in _segments(flat_in[:, c]):
            x_hat, dx_hat = flat_in[start, c], 0.0
            for i in range(start + 1, stop):
                x = flat_in[i, c]
                dx_hat = a_d * (x - x_hat) / period + (1 - a_d) * dx_hat
                a = alpha(min_cutoff + beta * abs(dx_hat))
                x_hat = a * x + (1 - a) * x_hat
                flat_out[i, c] = x_hat
    return out


def _savgol_hat(window: int, order: int) -> np.ndarray:
    """``(window, window)`` matrix: least-squares polynomial fit of degree ``order`` over ``window`` samples,
    evaluated at each of them (row ``window // 2`` is the Savitzky–Golay smoothing kernel)."""
    x = np.arange(window, dtype=np.float64) - window // 2
    vander = np.vander(x, order + 1, increasing=True)
    return vander @ np.linalg.pinv(vander)


def savgol_filter(track: np.ndarray, window: int = 9, order: int = 2) -> np.ndarray:
    """Savitzky–Golay smoothing of every coordinate of ``track (T, K, 2)`` over runs of finite values.

    Inside a run each point is the value at its centre of the degree-``order`` polynomial fitted to the
    ``window`` points around it; the first and last ``window // 2`` points of a run take the polynomial fitted
    to the run's first or last window. Runs shorter than ``window`` are left as they are. A polynomial of
    degree >= 1 reproduces linear motion exactly.
    """
    if window < 3 or window % 2 == 0 or not 0 <= order < window:
        raise ValueError(f"savgol: window must be odd and >= 3, and 0 <= order < window; got {window}, {order}")
    hat = _savgol_hat(window, order)
    half = window // 2
    kernel = hat[half]
    src = np.asarray(track, np.float64)
    out = src.copy()
    flat_in = src.reshape(src.shape[0], -1)
    flat_out = out.reshape(src.shape[0], -1)
    for c in range(flat_in.shape[1]):
        for start, stop in _segments(flat_in[:, c]):
            if stop - start < window:
                continue
            y = flat_in[start:stop, c]
            smooth = np.convolve(y, kernel[::-1], mode="valid")
            seg = flat_out[start:stop, c]
            seg[half: len(y) - half] = smooth
            seg[:half] = hat[:half] @ y[:window]
            seg[len(y) - half:] = hat[half + 1:] @ y[-window:]
    return out


@dataclass
class CleanedTrack:
    """A cleaned track: ``keypoints (T, K, 2)`` pixels (``NaN`` where still missing), ``gap (T, K)`` where the
    raw joint was dropped (score below the threshold, or an outlier), ``outlier (T, K)`` where it was dropped as
    an outlier, ``interpolated (T, K)`` where a gap was filled."""

    keypoints: np.ndarray
    gap: np.ndarray
    interpolated: np.ndarray
    outlier: np.ndarray


def clean_track(
    keypoints: np.ndarray,
    scores: np.ndarray,
    fps: float,
    min_score: float = 0.3,
    max_gap: int = 5,
    method: str = "savgol",
    min_cutoff: float = 1.0,
    beta: float = 0.05,
    window: int = 9,
    order: int = 2,
    outlier_k: float = 3.0,
    outlier_window: int = 7,
    outlier_min_px: float = 2.0,
) -> CleanedTrack:
    """Gaps (``scores < min_score``) → outliers (:func:`reject_outliers` with ``outlier_window``,
    ``outlier_k``, ``outlier_min_px``; ``outlier_k=0``: none) become gaps too → linear interpolation of gaps up
    to ``max_gap`` frames → ``method`` (``one-euro`` with ``min_cutoff``/``beta``, ``savgol`` with
    ``window``/``order``, or ``none``).

    ``keypoints (T, K, 2)`` pixels, ``scores (T, K)``, ``fps`` frames per second."""
    if method not in FILTERS:
        raise ValueError(f"unknown filter {method!r}; choose one of {', '.join(FILTERS)}")
    if max_gap < 0:
        raise ValueError(f"max gap must be >= 0 frames, got {max_gap}")
    masked = mask_low_scores(keypoints, scores, min_score)
    masked, outlier = reject_outliers(masked, outlier_window, outlier_k, outlier_min_px)
    gap = ~np.isfinite(masked).all(-1)
    filled, interpolated = interpolate_gaps(masked, max_gap)
    if method == "one-euro":
        filled = one_euro_filter(filled, fps, min_cutoff=min_cutoff, beta=beta)
    elif method == "savgol":
        filled = savgol_filter(filled, window=window, order=order)
    return CleanedTrack(filled, gap, interpolated, outlier)
