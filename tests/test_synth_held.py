"""Infants held up by an adult (issue 24, posture ``held_upright``): the body hangs in the air from the chest, the
adult's two hands grip the chest under the armpits without pressing into it, and they are scenery (part id 0) that
hides the keypoints behind it."""

from __future__ import annotations

import multiprocessing

import cv2
import numpy as np
import pytest

from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.synth import render_sample
from hyper_sapiens.synth.appearance import sample_look
from hyper_sapiens.synth.body import DOF_HI, DOF_INDEX, DOF_LO, PART_ID, sample_shape
from hyper_sapiens.synth.camera import VIEW_MIX, sample_camera
from hyper_sapiens.synth.holding import (
    NOMINAL_GRIP,
    AdultHands,
    adult_side,
    holding_fits,
    holding_hands,
    place_holding_hands,
)
from hyper_sapiens.synth.motion import pose_body, sample_motion, template_angles
from hyper_sapiens.synth.postures import HELD_LIFT, Hold, lowest_z, primitive_lowest_points, syrip_posture
from hyper_sapiens.synth.presets import DEMO_POSTURE_MIX
from hyper_sapiens.synth.sample import body_bounds, face_direction, pose_held_infant, pose_infant, render_body
from hyper_sapiens.synth.scenery import ADULT_SKIN, NO_SCENERY, SLEEVE, _add_holding, _Builder, sample_scenery

HELD = "held_upright"
_IDX = COCO17.index
DEPTH_BOUND = 0.003
"""Metres: the deepest any adult surface point may lie inside the infant (and the infant's inside the adult)."""


def _held(seed: int):
    """A random held pose drawn as ``render_sample`` draws it, its subject, generator and the adult's hands from
    either side (``{-1: behind, 1: in front}``)."""
    rng = np.random.default_rng(seed)
    shape = sample_shape(rng)
    body, _, hands = pose_held_infant(rng, shape, HELD, float(rng.uniform(-np.pi, np.pi)))
    return rng, shape, body, hands


def _surface(centres, axes, radii, a, b, r, n: int = 400) -> np.ndarray:
    """Dense random points on the surfaces of ellipsoids ``(centres, axes (columns), radii)`` and capsules
    ``(a, b, r)`` (an independent sampling from the one the hands were placed with)."""
    rng = np.random.default_rng(123)
    dirs = rng.normal(size=(n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pts = [c + (dirs * rad) @ ax.T for c, ax, rad in zip(centres, axes, radii)]
    for p, q, rad in zip(a, b, r):
        s = rng.uniform(0.0, 1.0, (n, 1))
        side = dirs - (dirs @ (q - p))[:, None] * (q - p) / max(float((q - p) @ (q - p)), 1e-18)
        side /= np.linalg.norm(side, axis=1, keepdims=True)
        pts.append(p + s * (q - p) + rad * side)     # on the cylinder
        pts.append(p + rad * dirs)                    # on the end spheres
        pts.append(q + rad * dirs)
    return np.concatenate(pts)


def _depth_inside(points, centres, axes, radii, a, b, r) -> np.ndarray:
    """``(N,)`` how deep (metres, 0 outside) each point lies inside the union of the ellipsoids and capsules:
    for capsules exactly, for ellipsoids the distance to the nearest of 20,000 points spread over its surface
    (a little more than the true depth, by at most half their spacing: under 0.5 mm for the largest torso)."""
    depth = np.zeros(points.shape[0])
    i = np.arange(20000) + 0.5
    zs = 1.0 - 2.0 * i / i.size
    phi = np.pi * (1.0 + 5.0**0.5) * i
    sphere = np.stack([np.sqrt(1 - zs**2) * np.cos(phi), np.sqrt(1 - zs**2) * np.sin(phi), zs], axis=1)
    for c, ax, rad in zip(centres, axes, radii):
        local = (points - c) @ ax
        inside = np.flatnonzero(np.sum((local / rad) ** 2, axis=1) < 1.0)
        shell = sphere * rad
        for k in inside:
            depth[k] = max(depth[k], float(np.sqrt(np.min(np.sum((shell - local[k]) ** 2, axis=1)))))
    for p, q, rad in zip(a, b, r):
        s = np.clip((points - p) @ (q - p) / max(float((q - p) @ (q - p)), 1e-18), 0.0, 1.0)
        dist = np.linalg.norm(points - (p + s[:, None] * (q - p)), axis=1)
        depth = np.maximum(depth, rad - dist)
    return depth


def _infant(body):
    return (body.ell_centre[0], body.ell_rot[0], body.ell_radii, body.cap_a[0], body.cap_b[0], body.cap_radii)


def _adult(hands: AdultHands):
    return (hands.ell_centre, hands.ell_axes, hands.ell_radii, hands.cap_a, hands.cap_b, hands.cap_radius)


def test_held_infants_are_syrips_standing_and_hang_in_the_air_upright():
    assert syrip_posture(HELD) == "Standing"
    assert dict(DEMO_POSTURE_MIX)[HELD] == pytest.approx(0.03)
    for seed in range(8):
        rng, shape, body, hands = _held(seed)
        low = lowest_z(body)[0]
        assert HELD_LIFT[0] - 1e-9 <= low <= HELD_LIFT[1] + 1e-9  # nothing below the ground: it hangs in the air
        feet = primitive_lowest_points(body, ("left_foot", "right_foot"))[0, :, 2]
        assert feet.min() >= HELD_LIFT[0] - 1e-9
        chest_up = body.rotations[0, 9, :, 1]
        assert np.degrees(np.arccos(chest_up[2])) < 25.0, seed  # near vertical: a lean of some degrees
        z = body.coco17()[0, :, 2]
        for side in ("left", "right"):  # legs hang below the trunk: hip above knee above ankle
            assert z[_IDX(f"{side}_ankle")] < z[_IDX(f"{side}_knee")] < z[_IDX(f"{side}_hip")], seed
        assert z[:5].min() > z[[_IDX("left_shoulder"), _IDX("right_shoulder")]].max()  # the head on top
        assert hands[-1].fits and hands[1].fits  # the adult's hands fit from behind and from the front
    body, _ = pose_infant(np.random.default_rng(0), sample_shape(np.random.default_rng(0)), HELD, 0.0)
    assert lowest_z(body)[0] >= HELD_LIFT[0] - 1e-9  # pose_infant draws held poses the same way
    # the template pose (the fallback when no draw fits) lets the hands fit for any subject
    for seed in range(4):
        body = pose_body(sample_shape(np.random.default_rng(seed)), template_angles(HELD)[None], HELD, 0.3,
                         hold=Hold(lift=0.05))
        assert holding_fits(body) and lowest_z(body)[0] == pytest.approx(0.05)


def test_render_sample_names_the_posture_scene_and_a_side_view():
    views = set()
    for seed in range(3):
        s = render_sample(seed, "syn", (96, 96), posture=HELD)
        assert s["posture"] == "Standing" and s["posture_detail"] == HELD
        assert s["scene"].split("+")[-1] == "holding" and "hand" not in s["scene"].split("+")
        assert s["view"] in dict(VIEW_MIX["held"]) and s["view"] != "above"
        views.add(s["view"])
        again = render_sample(seed, "syn", (96, 96), posture=HELD)
        assert np.array_equal(s["image"], again["image"]) and np.array_equal(s["parts"], again["parts"])
    # the hands belong to the posture: no scenery rate turns them off
    assert render_sample(0, "syn", (64, 64), posture=HELD, scenery=NO_SCENERY)["scene"] == "bed+holding"


def test_adult_hands_grip_the_chest_without_pressing_into_the_infant():
    drawn = 0
    for seed in range(8):
        rng, shape, body, ready = _held(seed)
        camera = sample_camera(rng, 128, 128, *body_bounds(body), "syn", "eye_level", face_direction(body))
        # the hands built with the pose (as render_sample uses them) or, every other seed, random grips drawn here
        hands = place_holding_hands(rng, body, camera, ready=ready if seed % 2 == 0 else None)
        drawn += int(hands.fits)
        if not hands.fits:
            continue
        adult_pts, infant_pts = _surface(*_adult(hands)), _surface(*_infant(body))
        # the hands touch, they do not press in: a bound on how deep either lies inside the other
        assert _depth_inside(adult_pts, *_infant(body)).max() < DEPTH_BOUND, seed
        assert _depth_inside(infant_pts, *_adult(hands)).max() < DEPTH_BOUND, seed
        chest, x_axis = body.joints[0, 9], body.rotations[0, 9, :, 0]
        for palm, side in zip(hands.palms, (1, -1)):  # each palm on its side of the chest, on the torso
            assert side * (palm - chest) @ x_axis > 0.04, seed
            torso = ([1, 2, 3], [1])  # chest, abdomen, pelvis ellipsoids; the trunk capsule
            near = np.linalg.norm(hands.ell_centre - palm, axis=1) < 1e-9
            pts = _surface(hands.ell_centre[near], hands.ell_axes[near], hands.ell_radii[near],
                           np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
            e, c = torso
            gap = _depth_inside(pts, body.ell_centre[0, e], body.ell_rot[0, e], body.ell_radii[e] + 0.005,
                                body.cap_a[0, c], body.cap_b[0, c], body.cap_radii[c] + 0.005)
            assert gap.max() > 0.0, seed  # within 5 mm of the torso: a grip, not a hover
        # the adult stands on the far side of the infant from the camera; the arms reach there, above the ground
        eye = -camera.R.T @ camera.t
        front = body.rotations[0, 9, :, 2] * np.array([1.0, 1.0, 0.0])
        adult = adult_side(body, camera)
        assert adult * (eye - chest) @ front <= 0.0
        for one in _split(hands):
            assert adult * (one.cap_b[-1] - chest) @ front > 0.1, seed  # the upper arm's far end
        assert np.all(np.minimum(hands.cap_a[:, 2], hands.cap_b[:, 2]) - hands.cap_radius > 0.0)
    assert drawn >= 7


def test_the_check_fails_when_an_arm_hangs_over_the_side_of_the_chest():
    """The fit check can fail: arms straight down along the chest leave the palms no room."""
    angles = template_angles(HELD)
    for name in ("shoulder_elev", "rshoulder_elev"):
        angles[DOF_INDEX[name]] = DOF_LO[DOF_INDEX[name]] + 0.05
    for name in ("shoulder_fwd", "rshoulder_fwd"):
        angles[DOF_INDEX[name]] = np.radians(0.0)
    assert np.all(angles >= DOF_LO) and np.all(angles <= DOF_HI)
    body = pose_body(sample_shape(np.random.default_rng(0)), angles[None], HELD, 0.0)
    assert not holding_fits(body)
    assert not holding_hands(body, -1, NOMINAL_GRIP).fits


def _split(hands: AdultHands) -> list[AdultHands]:
    """The two hands (the infant's left side first) as separate :class:`AdultHands` (each hand has as many
    ellipsoids and capsules as the other)."""
    ne, nc = len(hands.ell_centre) // 2, len(hands.cap_a) // 2
    return [AdultHands(hands.ell_centre[k * ne:(k + 1) * ne], hands.ell_axes[k * ne:(k + 1) * ne],
                       hands.ell_radii[k * ne:(k + 1) * ne], hands.cap_a[k * nc:(k + 1) * nc],
                       hands.cap_b[k * nc:(k + 1) * nc], hands.cap_radius[k * nc:(k + 1) * nc],
                       hands.cap_sleeve[k * nc:(k + 1) * nc], hands.palms[k:k + 1], hands.fits) for k in (0, 1)]


def _scenery(hands: AdultHands):
    b = _Builder()
    _add_holding(b, hands)
    return b.build(elements=("holding",))


def test_the_hands_are_background_beside_the_torso_and_hide_the_keypoints_behind_them():
    torso = PART_ID["torso"]
    seen = hidden = 0
    for seed in range(10):
        rng, shape, body, ready = _held(seed)
        view = ("eye_level", "oblique", "floor")[seed % 3]
        camera = sample_camera(rng, 160, 160, *body_bounds(body), "syn", view, face_direction(body))
        scene = sample_scenery(rng, body, camera, HELD, NO_SCENERY, holding=ready)
        assert scene.elements == ("holding",) and set(scene.materials) <= {ADULT_SKIN, SLEEVE}
        hands = place_holding_hands(np.random.default_rng(seed), body, camera, ready=ready)
        assert hands.fits
        look = sample_look(np.random.default_rng(1), "syn")
        bare = render_body(body, shape, camera, look, np.random.default_rng(2))
        held = render_body(body, shape, camera, look, np.random.default_rng(2), scenery=_scenery(hands))
        hand_px = held["depth"] < bare["depth"] - 1e-4
        assert np.all(held["parts"][hand_px] == 0)  # the hands are background in the part map
        assert np.all((held["parts"] == bare["parts"]) | (held["parts"] == 0))
        assert held["bbox_xywh"] == bare["bbox_xywh"] and held["area"] == bare["area"]  # the infant's own box
        for one in _split(hands):  # each hand seen is part-0 pixels right beside torso pixels
            alone = render_body(body, shape, camera, look, np.random.default_rng(2), scenery=_scenery(one))
            px = (alone["depth"] < bare["depth"] - 1e-4) & (alone["parts"] == 0)
            on_body = px & (bare["parts"] > 0)  # where the hand lies over the infant
            if on_body.sum() < 15:
                continue  # behind the infant, from this camera
            seen += 1
            ring = cv2.dilate(px.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~px
            assert np.any(ring & (alone["parts"] == torso)), seed
        for layout in ("coco", "25"):  # COCO's 17 and MINI-RGBD's 25 (spine joints lie behind the fingers)
            v0, v1 = bare[f"keypoints_{layout}"][:, 2], held[f"keypoints_{layout}"][:, 2]
            assert np.all(v1 <= v0)  # the hands never make a keypoint more visible
            kp = held[f"keypoints_{layout}"]
            iu = np.clip(np.floor(kp[:, 0] + 0.5).astype(int), 0, 159)
            iv = np.clip(np.floor(kp[:, 1] + 0.5).astype(int), 0, 159)
            z = held[f"joints3d_{layout}"][:, 2]
            behind = (v0 > 0) & hand_px[iv, iu] & (held["depth"][iv, iu] < z - 0.02)
            assert np.all(v1[behind] == 1), seed  # a keypoint behind a hand: labelled, not visible (COCO's v = 1)
            hidden += int(np.sum((v0 == 2) & (v1 == 1)))
    assert seen >= 10 and hidden >= 4


def test_clips_of_held_infants_hang_from_the_chest_and_kick_gently():
    rng = np.random.default_rng(4)
    shape = sample_shape(rng)
    angles = sample_motion(rng, 90, 30.0, HELD)
    assert np.all(angles >= DOF_LO - 1e-12) and np.all(angles <= DOF_HI + 1e-12)
    body = pose_body(shape, angles, HELD, 0.4, hold=Hold(lift=0.08))
    low = lowest_z(body)
    assert low.min() == pytest.approx(0.08) and np.all(low >= 0.08 - 1e-9)  # never touches the ground
    chest = body.joints[:, 9]
    assert np.allclose(chest, chest[0], atol=1e-9)  # the adult's grip keeps the chest in place
    assert np.all(body.rotations[:, 9, 2, 1] > np.cos(np.radians(10.0)))  # and upright (no lean given)
    knee = np.degrees(angles[:, DOF_INDEX["knee_flex"]])
    assert knee.max() - knee.min() > 5.0  # the legs move
    assert np.abs(np.diff(body.joints[:, 7], axis=0)).max() < 0.03  # smoothly


def _render_bytes(seed: int) -> bytes:
    s = render_sample(seed, "real", (96, 96), posture=HELD)
    return s["encoded"] + s["depth"].tobytes() + s["parts"].tobytes() + s["keypoints_coco"].tobytes()


def test_held_renders_are_the_same_in_another_process():
    """The data set writer renders each image whole in one worker process (spawned); a held image must not
    depend on which process renders it."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        there = pool.map(_render_bytes, [5, 6])
    assert there == [_render_bytes(5), _render_bytes(6)]
