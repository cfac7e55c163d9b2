"""Infant postures beyond lying and the cameras that film them (issue 24): resting on the ground, the shape of
each posture, SyRIP's posture names in the files, the presets' posture mix, and depth/normal consistency from
every camera view."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
from test_synth_render import normals_from_depth

from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.synth import render_sample
from hyper_sapiens.synth.appearance import sample_look
from hyper_sapiens.synth.body import DOF_HI, DOF_INDEX, DOF_LO, sample_shape
from hyper_sapiens.synth.camera import VIEW_MIX, VIEWS, sample_camera
from hyper_sapiens.synth.dataset import draw_posture_and_view, item_rng
from hyper_sapiens.synth.motion import pose_body, sample_motion, template_angles
from hyper_sapiens.synth.postures import (
    CONTACT_TOL,
    GROUNDED,
    HELD,
    LYING,
    POSTURE_DETAILS,
    SINK,
    SPECS,
    SYRIP_POSTURES,
    balance_margin,
    check_mix,
    holding_rail,
    lowest_z,
    posture_kind,
    support_gaps,
    syrip_posture,
)
from hyper_sapiens.synth.presets import DEMO_POSTURE_MIX, get_preset
from hyper_sapiens.synth.sample import body_bounds, pose_infant, render_body

_IDX = COCO17.index


def _coco_z(body) -> np.ndarray:
    """(17,) world height (metres) of the COCO keypoints of a one-frame body."""
    return body.coco17()[0, :, 2]


def test_every_non_lying_posture_rests_on_the_ground_or_is_held():
    assert set(GROUNDED) | set(HELD) == set(SPECS) and not set(GROUNDED) & set(HELD)
    assert HELD == ("held_upright",)
    assert all(SPECS[p].supports for p in GROUNDED) and not any(SPECS[p].supports for p in HELD)
    with pytest.raises(ValueError, match="held up by an adult"):
        support_gaps(pose_infant(np.random.default_rng(0), sample_shape(np.random.default_rng(0)), "held_upright",
                                 0.0)[0], "held_upright")


@pytest.mark.parametrize("posture", GROUNDED)
def test_every_upright_posture_rests_on_the_ground_within_its_joint_limits(posture):
    rng = np.random.default_rng(11)
    for i in range(10):
        shape = sample_shape(rng)
        body, angles = pose_infant(rng, shape, posture, float(rng.uniform(-np.pi, np.pi)))
        assert np.all(angles >= DOF_LO - 1e-12) and np.all(angles <= DOF_HI + 1e-12)
        # the lowest point of the whole body sinks SINK into the ground: nothing floats, nothing sinks deeper
        assert lowest_z(body)[0] == pytest.approx(-SINK, abs=1e-9)
        # every support group (seat, legs, hands, knees, feet) touches the ground
        gaps = support_gaps(body, posture)[0]
        assert gaps.max() <= CONTACT_TOL, (i, np.round(gaps * 100, 2))
    # the template pose (the fallback when no draw touches) touches for any subject
    for seed in range(4):
        body = pose_body(sample_shape(np.random.default_rng(seed)), template_angles(posture)[None], posture, 0.3)
        assert support_gaps(body, posture).max() <= CONTACT_TOL


@pytest.mark.parametrize("posture", LYING)
def test_lying_postures_keep_resting_on_the_mattress(posture):
    rng = np.random.default_rng(5)
    render_rng = np.random.default_rng(6)  # its own stream: the poses below do not depend on a render's draws
    lows = []
    for _ in range(20):
        s = render_sample(render_rng, "syn", (64, 64), posture=posture)
        assert s["posture_detail"] == posture and s["view"] == "above"
        shape = sample_shape(rng)
        body = pose_body(shape, sample_motion(rng, 1, posture=posture), posture, 0.0)
        lows.append(lowest_z(body)[0])
    # the head or torso sinks 4 mm; a limb pushing into the mattress lifts the body (at most 1.5 cm deeper)
    assert -0.02 < min(lows) and max(lows) <= -0.004 + 1e-9


def test_sitting_crawling_and_standing_have_their_shapes():
    rng = np.random.default_rng(3)
    for _ in range(8):
        shape = sample_shape(rng)
        for posture in ("sitting_free", "sitting_tripod", "sitting_supported"):
            z = _coco_z(pose_infant(rng, shape, posture, 0.0)[0])
            hips = z[[_IDX("left_hip"), _IDX("right_hip")]]
            assert hips.max() < 0.1, posture  # the hips are near the ground (inside the seated pelvis)
            assert z[_IDX("nose")] > hips.max() + 0.12, posture  # the head well above them
            assert z[_IDX("left_shoulder")] > hips.max() + 0.08, posture
        for posture in ("standing_free", "standing_holding"):
            z = _coco_z(pose_infant(rng, shape, posture, 0.0)[0])
            ankles, knees = z[[_IDX("left_ankle"), _IDX("right_ankle")]], z[[_IDX("left_knee"), _IDX("right_knee")]]
            hips = z[[_IDX("left_hip"), _IDX("right_hip")]]
            shoulders = z[[_IDX("left_shoulder"), _IDX("right_shoulder")]]
            assert ankles.max() < 0.06  # the feet are on the ground
            assert ankles.max() < knees.min() < knees.max() < hips.min() < hips.max() < shoulders.min()
            assert z[:5].min() > max(shoulders.max(), hips.max())  # the face is above every body joint
            assert z[:5].max() > 0.35
        z = _coco_z(pose_infant(rng, shape, "crawling", 0.0)[0])
        knees, wrists = z[[_IDX("left_knee"), _IDX("right_knee")]], z[[_IDX("left_wrist"), _IDX("right_wrist")]]
        hips, shoulders = z[[_IDX("left_hip"), _IDX("right_hip")]], z[[_IDX("left_shoulder"), _IDX("right_shoulder")]]
        assert knees.max() < 0.05 and wrists.max() < 0.08  # on hands and knees
        assert hips.min() > 0.08 and shoulders.min() > 0.1  # the trunk off the ground
        for posture in ("prone_forearms", "prone_hands"):
            z = _coco_z(pose_infant(rng, shape, posture, 0.0)[0])
            assert z[_IDX("nose")] > 0.06, posture  # head up (flat prone: median 0.3 cm, the face on the mattress)
            assert z[[_IDX("left_hip"), _IDX("right_hip")]].max() < 0.085, posture  # pelvis down


def test_clips_of_every_posture_stay_smooth_and_on_the_ground():
    rng = np.random.default_rng(2)
    shape = sample_shape(rng)
    for posture in GROUNDED:  # held infants' clips: tests/test_synth_held.py
        angles = sample_motion(rng, 90, 30.0, posture)
        assert np.all(angles >= DOF_LO - 1e-12) and np.all(angles <= DOF_HI + 1e-12)
        body = pose_body(shape, angles, posture, 0.4)
        assert np.allclose(lowest_z(body), -SINK, atol=1e-9)
        gaps = support_gaps(body, posture)
        assert np.median(gaps.max(axis=1)) < 2.5 * CONTACT_TOL, posture  # supports mostly touch, frame by frame
        root = body.joints[:, 0]
        assert np.abs(np.diff(root, axis=0)).max() < 0.03, posture  # levelling frame by frame does not jump


def test_posture_names_are_syrips_and_every_detail_has_one():
    assert SYRIP_POSTURES == ("Supine", "Prone", "Sitting", "Standing")  # as SyRIP's files spell them
    for detail in POSTURE_DETAILS:
        assert syrip_posture(detail) in SYRIP_POSTURES
    assert syrip_posture("crawling") == "Prone" and syrip_posture("side_left") == "Supine"
    assert {syrip_posture(d) for d in POSTURE_DETAILS} == set(SYRIP_POSTURES)


def test_files_carry_posture_posture_detail_and_view(tiny_dataset):
    root = tiny_dataset
    seen = set()
    for split in ("train_syn", "train_real", "test_real"):
        coco = json.loads((root / "syrip" / "annotations" / f"{split}.json").read_text())
        for image in coco["images"]:
            assert image["posture"] in SYRIP_POSTURES
            assert image["posture_detail"] in POSTURE_DETAILS
            assert syrip_posture(image["posture_detail"]) == image["posture"]
            assert image["view"] in VIEWS
            seen.add(image["posture"])
    assert len(seen) >= 3
    with np.load(root / "skeletons" / "seq_00001_coco17_2d.npz") as z:
        assert str(z["posture"]) in SYRIP_POSTURES and str(z["posture_detail"]) in POSTURE_DETAILS
        assert str(z["view"]) in VIEWS
    meta = json.loads((root / "meta.json").read_text())
    assert [tuple(p) for p in meta["preset_config"]["posture_mix"]] == list(DEMO_POSTURE_MIX)


def test_demo_posture_and_view_shares_match_the_declared_mix():
    preset = get_preset("demo")
    n = 4000
    draws = [draw_posture_and_view(item_rng(0, 1, i), preset) for i in range(1, n + 1)]
    declared: dict[str, float] = {}
    for detail, p in preset.posture_mix:
        declared[syrip_posture(detail)] = declared.get(syrip_posture(detail), 0.0) + p
    assert declared == pytest.approx({"Prone": 0.44, "Supine": 0.33, "Sitting": 0.18, "Standing": 0.05})
    for name, p in declared.items():
        share = sum(syrip_posture(d) == name for d, _ in draws) / n
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n), (name, share, p)
    for detail, p in preset.posture_mix:
        share = sum(d == detail for d, _ in draws) / n
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-3, (detail, share, p)
    for kind in ("upright", "held"):
        views = [v for d, v in draws if posture_kind(d) == kind]
        assert len(views) > 50, kind
        for view, p in VIEW_MIX[kind]:
            share = views.count(view) / len(views)
            assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / len(views)), (kind, view, share, p)
        assert set(views) == {v for v, _ in VIEW_MIX[kind]}, kind
    assert {v for _, v in draws} == set(VIEWS)
    # an "above" preset keeps every camera above
    assert {draw_posture_and_view(item_rng(0, 1, i), replace(preset, views="above"))[1] for i in range(50)} == {"above"}


@pytest.mark.parametrize("view,posture,seed", [("oblique", "crawling", 0), ("eye_level", "sitting_tripod", 1),
                                               ("floor", "standing_free", 2), ("eye_level", "prone_forearms", 3),
                                               ("floor", "supine", 4)])
def test_every_view_keeps_depth_normals_and_intrinsics_consistent(view, posture, seed):
    s = render_sample(seed, "syn", (192, 160), posture=posture, view=view)
    assert s["view"] == view and s["posture_detail"] == posture and s["posture"] == syrip_posture(posture)
    depth, normal, cam = s["depth"].astype(np.float64), s["normal"].astype(np.float64), s["camera"]
    if view != "oblique":
        assert (depth > 0).all()  # the floor and the wall behind the infant: no empty sky
    ref = normals_from_depth(depth, cam)
    angle = np.degrees(np.arccos(np.clip(np.sum(normal * ref, axis=-1), -1.0, 1.0)))
    body = (s["parts"] > 0).astype(np.uint8)
    interior = cv2.erode(body, np.ones((5, 5), np.uint8)).astype(bool)
    assert interior.sum() > 200
    assert np.median(angle[interior]) < 3.0
    background = cv2.erode(1 - body, np.ones((5, 5), np.uint8)).astype(bool) & (depth > 0)
    assert np.median(angle[background]) < 0.5
    h, w = depth.shape  # surfaces face the camera: n . ray < 0 (n_z < 0 fails for the floor of a camera looking up)
    ray = np.stack(np.broadcast_arrays((np.arange(w) - cam["cx"])[None, :] / cam["fx"],
                                       (np.arange(h) - cam["cy"])[:, None] / cam["fy"], np.ones((h, w))), axis=-1)
    assert np.mean(np.sum(normal * ray, axis=-1)[depth > 0] < 0) > 0.97
    j = s["joints3d_coco"].astype(np.float64)
    uv = np.stack([cam["fx"] * j[:, 0] / j[:, 2] + cam["cx"], cam["fy"] * j[:, 1] / j[:, 2] + cam["cy"]], 1)
    assert np.allclose(uv, s["keypoints_coco"][:, :2], atol=1e-3)


def test_the_floor_faces_a_camera_that_looks_upwards():
    """A floor-level camera filming a standing infant often looks up; every surface, the floor included, still faces
    it and agrees with the depth (the floor's normal used to be flipped by the sign of its z in the camera frame)."""
    looked_up = 0
    for seed in range(6):
        s = render_sample(seed, "syn", (96, 96), posture="standing_free", view="floor")
        cam, depth, normal = s["camera"], s["depth"].astype(np.float64), s["normal"].astype(np.float64)
        u = (np.arange(96) - cam["cx"]) / cam["fx"]
        v = (np.arange(96) - cam["cy"]) / cam["fy"]
        rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((96, 96))), axis=-1)
        assert np.all(np.sum(normal * rays, axis=-1)[depth > 0] < 0), seed  # every surface faces the camera
        floor = (s["parts"] == 0) & (normal[..., 1] < -0.9)  # world up points up the image: the floor
        looked_up += int(np.median(normal[floor][:, 2]) > 0)  # up has a forward component: the camera looks up
        ref = normals_from_depth(depth, cam)
        angle = np.degrees(np.arccos(np.clip(np.sum(normal * ref, axis=-1), -1.0, 1.0)))
        inner = cv2.erode(floor.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert inner.sum() > 50 and np.median(angle[inner]) < 0.5, seed
    assert looked_up >= 3


def test_side_views_look_from_the_side_and_above_views_from_above():
    rng = np.random.default_rng(0)
    body = pose_body(sample_shape(rng), template_angles("sitting_free")[None], "sitting_free", 0.0)
    centre, radius = body_bounds(body)
    for view, (lo, hi) in {"above": (60, 90), "oblique": (25, 65), "eye_level": (5, 35), "floor": (-20, 32)}.items():
        for _ in range(10):
            cam = sample_camera(rng, 128, 128, centre, radius, "syn", view)
            forward = cam.R[2]  # the optical axis in world coordinates
            down = np.degrees(np.arcsin(-forward[2]))
            assert lo <= down <= hi, (view, down)
            eye = -cam.R.T @ cam.t
            assert eye[2] > 0.03  # never below the floor


def test_bad_postures_views_and_mixes_are_refused():
    with pytest.raises(ValueError, match="unknown posture 'flying'"):
        render_sample(0, "syn", (64, 64), posture="flying")
    with pytest.raises(ValueError, match="for infants"):
        render_sample(0, "syn", (64, 64), posture="sitting_free", population="adult")
    with pytest.raises(ValueError, match="unknown camera view 'drone'"):
        render_sample(0, "syn", (64, 64), view="drone")
    with pytest.raises(ValueError, match="sum to 1"):
        check_mix({"supine": 0.5, "prone": 0.4})
    with pytest.raises(ValueError, match="unknown posture"):
        replace(get_preset("tiny"), posture_mix=(("kneeling", 1.0),))
    with pytest.raises(ValueError, match="views"):
        replace(get_preset("tiny"), views="sideways")


def test_standing_infants_hold_a_rail_that_stands_on_the_ground_and_hides_what_is_behind_it():
    rng = np.random.default_rng(4)
    shape = sample_shape(rng)
    body, _ = pose_infant(rng, shape, "standing_holding", 0.7)
    rail = holding_rail(body)
    assert rail.shape == (3, 2, 3)
    bar = rail[0]
    assert abs(bar[0, 2] - bar[1, 2]) < 1e-9  # horizontal
    for hand in (4, 5):  # the hands' ellipsoids hold the bar
        c = body.ell_centre[0, hand]
        s = np.clip(np.dot(c - bar[0], bar[1] - bar[0]) / np.sum((bar[1] - bar[0]) ** 2), 0, 1)
        assert np.linalg.norm(c - (bar[0] + s * (bar[1] - bar[0]))) < 0.06
    assert np.allclose(rail[1:, 1, 2], 0.0) and np.allclose(rail[1:, 0], bar)  # posts from the bar's ends down
    # rendered from the front at eye level, the rail hides some of the infant; the keypoints it hides are v = 1
    cam = sample_camera(rng, 160, 160, *body_bounds(body), "syn", "eye_level", facing=0.7 + np.pi / 2)
    look = sample_look(np.random.default_rng(0), "syn")
    plain = render_body(body, shape, cam, look, np.random.default_rng(1))
    held = render_body(body, shape, cam, look, np.random.default_rng(1), props=rail)
    rail_px = (held["depth"] < plain["depth"] - 1e-6)
    assert rail_px.sum() > 30 and np.all(held["parts"][rail_px] == 0)
    assert np.all(held["keypoints_coco"][:, 2] <= plain["keypoints_coco"][:, 2])
    ref = normals_from_depth(held["depth"].astype(np.float64), held["camera"])
    inner = cv2.erode(rail_px.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    angle = np.degrees(np.arccos(np.clip(np.sum(held["normal"] * ref, axis=-1), -1.0, 1.0)))
    assert np.median(angle[inner]) < 5.0  # the rail's normals agree with its depth


def test_free_sitting_and_standing_infants_keep_their_balance_and_feet_flat():
    rng = np.random.default_rng(8)
    for posture in ("sitting_free", "standing_free"):
        for _ in range(8):
            body, _ = pose_infant(rng, sample_shape(rng), posture, float(rng.uniform(-3, 3)))
            assert balance_margin(body, posture) >= 0.0, posture
        template = pose_body(sample_shape(rng), template_angles(posture)[None], posture, 0.0)
        assert balance_margin(template, posture) > 0.01, posture
    # standing infants' feet are flat: their mean long axis is horizontal
    body, _ = pose_infant(rng, sample_shape(rng), "standing_free", 0.0)
    toes = body.ell_rot[0, [6, 7], :, 2].mean(axis=0)
    assert abs(toes[2]) < 1e-6 * np.linalg.norm(toes)
    # a standing infant on tiptoe leans back, with its centre of mass behind its heels: out of balance
    angles = template_angles("standing_free")
    angles[[DOF_INDEX["ankle_flex"], DOF_INDEX["rankle_flex"]]] = np.radians(35.0)
    leaning = pose_body(sample_shape(rng), angles[None], "standing_free", 0.0)
    assert balance_margin(leaning, "standing_free") < 0.0
