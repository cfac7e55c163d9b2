"""Torso sizes of a skeleton, from the layout's four torso joints (``KeypointLayout.torso``).

Two measures, for two different jobs; both are in the keypoints' own unit (pixels, metres, ...):

* :func:`torso_length` -- the mean length of the two torso sides, ``(|l_sho - l_hip| + |r_sho - r_hip|) / 2``.
  A *bone length*: the reference that G-Error divides the other bones by
  (``hyper_sapiens/evaluation/g_error.py``; ``hyper_sapiens/losses/bone.py`` computes the same quantity in
  torch, differentiably, for the bone-ratio loss). It has a validity flag because evaluation must drop
  frames whose torso is not fully visible.
* :func:`torso_radius` -- the RMS distance of the four torso joints from their centroid. The *unit of the
  pose prior*: the prior's normaliser divides poses by it, times its ``scale_factor``
  (``PoseNormalizer(scale="torso")`` in ``hyper_sapiens/prior/normalize.py``, torch), so amounts measured
  with it (the corruptions and limb ratios of ``hyper_sapiens/prior/quality.py``) are in the prior's units.
  It uses the shoulder and hip widths as well as the sides, so it stays away from 0 when a torso is seen
  end-on.

The two are not interchangeable: for a torso with sides ``h`` and widths ``w`` (a rectangle),
``torso_length = h`` while ``torso_radius = sqrt(h² + w²) / 2``.
"""

from __future__ import annotations

import numpy as np

from .layouts import COCO17, KeypointLayout

__all__ = ["torso_length", "torso_radius"]


def _torso_indices(layout: KeypointLayout) -> tuple[int, int, int, int]:
    if layout.torso is None:
        raise ValueError(f"layout {layout.name!r} has no torso joints (shoulders and hips)")
    return layout.torso


def torso_length(
    keypoints: np.ndarray, visible: np.ndarray, layout: KeypointLayout = COCO17
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the two shoulder-hip distances, and whether it can be used.

    Args:
        keypoints: ``(N, K, D)`` joint positions (any unit), ``K`` joints in ``layout`` order.
        visible: ``(N, K)`` visibility or confidence; ``> 0`` counts as visible.
        layout: the skeleton; its ``torso`` gives (left shoulder, right shoulder, left hip, right hip).

    Returns:
        ``(size (N,), ok (N,) bool)``: ``size`` in the keypoints' unit; ``ok`` where all four torso joints
        are visible and ``size > 0``.
    """
    ls, rs, lh, rh = _torso_indices(layout)
    size = 0.5 * (
        np.linalg.norm(keypoints[:, ls] - keypoints[:, lh], axis=-1)
        + np.linalg.norm(keypoints[:, rs] - keypoints[:, rh], axis=-1)
    )
    ok = (visible[:, [ls, rs, lh, rh]] > 0).all(axis=1) & (size > 0)
    return size, ok


def torso_radius(keypoints: np.ndarray, layout: KeypointLayout = COCO17) -> np.ndarray:
    """``(N,)`` RMS distance of the four torso joints from their centroid, in the keypoints' unit.

    Args:
        keypoints: ``(N, K, D)`` joint positions (any unit), ``K`` joints in ``layout`` order; all four torso
            joints are assumed present (no visibility: the poses come from data or the prior, complete).
        layout: the skeleton; its ``torso`` names the four joints.
    """
    torso = keypoints[:, list(_torso_indices(layout))]
    return np.sqrt(((torso - torso.mean(1, keepdims=True)) ** 2).sum(-1).mean(1))
