"""The synthetic infant renderer in memory: geometry, labels, conventions, motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hyper_sapiens.keypoints import COCO17, MINIRGBD25, KeypointConverter
from hyper_sapiens.synth import PART_FLIP, PART_NAMES, render_sample
from hyper_sapiens.synth.body import (
    DOF_HI,
    DOF_INDEX,
    DOF_LO,
    MIRROR_DOF,
    NUM_DOFS,
    OWN_PARTS_COCO,
    OWN_PARTS_SMIL,
    forward_kinematics,
    mirror_angles,
    sample_shape,
)
from hyper_sapiens.synth.camera import look_from_above, sample_camera
from hyper_sapiens.synth.motion import pose_body, sample_motion, sample_posture
from hyper_sapiens.synth.raytrace import intersect_capsule, intersect_ellipsoid
from hyper_sapiens.synth.sample import body_bounds, render_body, sequence_keypoints
from hyper_sapiens.synth.scenery import NO_SCENERY


def normals_from_depth(depth: np.ndarray, cam: dict) -> np.ndarray:
    """Unit normals facing the camera from a z-depth map by central differences of back-projected points."""
    h, w = depth.shape
    u = (np.arange(w) - cam["cx"]) / cam["fx"]
    v = (np.arange(h) - cam["cy"]) / cam["fy"]
    p = np.stack([u[None, :] * depth, v[:, None] * depth, depth], axis=-1)
    pu = np.zeros_like(p)
    pv = np.zeros_like(p)
    pu[:, 1:-1] = p[:, 2:] - p[:, :-2]
    pv[1:-1] = p[2:] - p[:-2]
    n = np.cross(pv, pu)
    return n / (np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12)


@pytest.mark.parametrize("seed,domain", [(0, "syn"), (1, "real"), (2, "syn"), (3, "real"), (4, "syn")])
def test_rendered_normals_agree_with_normals_from_depth(seed, domain):
    s = render_sample(seed, domain, (192, 160))
    depth = s["depth"].astype(np.float64)
    normal = s["normal"].astype(np.float64)
    assert depth.shape == (160, 192) and normal.shape == (160, 192, 3)
    assert np.allclose(np.linalg.norm(normal, axis=-1)[depth > 0], 1.0, atol=1e-5)
    ref = normals_from_depth(depth, s["camera"])
    angle = np.degrees(np.arccos(np.clip(np.sum(normal * ref, axis=-1), -1.0, 1.0)))
    body = (s["parts"] > 0).astype(np.uint8)
    interior = cv2.erode(body, np.ones((5, 5), np.uint8)).astype(bool)
    assert interior.sum() > 300
    assert np.median(angle[interior]) < 3.0
    mattress = cv2.erode(1 - body, np.ones((5, 5), np.uint8)).astype(bool)
    assert np.median(angle[mattress]) < 0.5
    # surfaces face the camera: normal . ray < 0
    assert np.mean(normal[interior][:, 2] < 0) > 0.95


def _on_own_part(kp: np.ndarray, parts: np.ndarray, own: np.ndarray) -> np.ndarray:
    """For each keypoint with v == 2: is the part at its nearest pixel one of its own parts?"""
    vis = kp[:, 2] == 2
    iu = np.floor(kp[vis, 0] + 0.5).astype(int)
    iv = np.floor(kp[vis, 1] + 0.5).astype(int)
    return own[np.flatnonzero(vis), parts[iv, iu]]


def test_visible_keypoints_lie_on_their_own_part_in_memory():
    counts = np.zeros(3, int)
    for seed in range(6):
        s = render_sample(seed, "real" if seed % 2 else "syn", (160, 160))
        for key, own in (("keypoints_coco", OWN_PARTS_COCO), ("keypoints_25", OWN_PARTS_SMIL)):
            kp = s[key]
            assert np.all(_on_own_part(kp, s["parts"], own))
            counts += np.bincount(kp[:, 2].astype(int), minlength=3)
    assert counts[2] > 0.5 * counts.sum()  # most keypoints are visible...
    assert counts[1] > 0  # ...but occlusion happens


def test_horizontal_flip_gives_a_valid_labelling():
    flip = np.asarray(COCO17.flip_indices)
    checked = 0
    for seed in range(6):
        s = render_sample(seed, "syn", (144, 128))
        w = s["parts"].shape[1]
        parts_f = PART_FLIP[s["parts"][:, ::-1]]
        kp_f = s["keypoints_coco"][flip].copy()
        kp_f[:, 0] = (w - 1) - kp_f[:, 0]
        assert np.all(_on_own_part(kp_f, parts_f, OWN_PARTS_COCO))
        checked += int((kp_f[:, 2] == 2).sum())
        # without swapping left and right the flipped labelling is wrong somewhere
        kp_bad = s["keypoints_coco"].copy()
        kp_bad[:, 0] = (w - 1) - kp_bad[:, 0]
        assert not np.all(_on_own_part(kp_bad, parts_f, OWN_PARTS_COCO))
    assert checked > 40


def test_part_and_dof_tables_are_mirror_symmetric():
    assert np.array_equal(PART_FLIP[PART_FLIP], np.arange(len(PART_NAMES)))
    assert np.array_equal(OWN_PARTS_COCO[list(COCO17.flip_indices)][:, PART_FLIP], OWN_PARTS_COCO)
    assert np.array_equal(OWN_PARTS_SMIL[list(MINIRGBD25.flip_indices)][:, PART_FLIP], OWN_PARTS_SMIL)
    assert np.array_equal(MIRROR_DOF[MIRROR_DOF], np.arange(NUM_DOFS))
    # mirrored angles give a mirrored body: x -> -x in the body frame, left <-> right joints
    rng = np.random.default_rng(3)
    shape = sample_shape(rng)
    shape = type(shape)(**{**shape.__dict__, "offsets": _symmetric(shape.offsets)})
    angles = sample_motion(rng, 1)
    a = forward_kinematics(shape, angles).joints[0]
    b = forward_kinematics(shape, mirror_angles(angles)).joints[0]
    mirrored = b[list(MINIRGBD25.flip_indices)] * np.array([-1.0, 1.0, 1.0])
    assert np.allclose(a, mirrored, atol=1e-9)


def _symmetric(offsets: np.ndarray) -> np.ndarray:
    """Offsets with the right side exactly mirroring the left (removes the sampled asymmetry)."""
    out = offsets.copy()
    for left, right in MINIRGBD25.flip_pairs:
        out[right] = out[left] * np.array([-1.0, 1.0, 1.0])
    return out


def test_supine_infant_seen_from_above_has_its_left_on_the_image_right():
    """Documented convention: head at the image top -> the infant's left hand is on the image's right."""
    rng = np.random.default_rng(0)
    shape = sample_shape(rng)
    angles = np.zeros(NUM_DOFS)
    angles[DOF_INDEX["shoulder_elev"]] = angles[DOF_INDEX["rshoulder_elev"]] = np.radians(-40)
    body = pose_body(shape, angles[None], "supine", 0.0)
    centre, radius = body_bounds(body)
    rot, t = look_from_above(centre, 1.0, 0.0, 0.0, 0.0)
    from hyper_sapiens.synth.camera import Camera

    cam = Camera(fx=200.0, fy=200.0, cx=127.5, cy=127.5, width=256, height=256, R=rot, t=t)
    from hyper_sapiens.synth.appearance import sample_look

    s = render_body(body, shape, cam, sample_look(rng, "syn"), rng)
    kp = s["keypoints_coco"]
    idx = COCO17.index
    assert kp[idx("nose"), 1] < kp[idx("left_hip"), 1]  # head at the top
    for side_pair in (("left_wrist", "right_wrist"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")):
        left, right = (kp[idx(n)] for n in side_pair)
        assert left[0] > right[0], side_pair
        assert left[2] == 2 and right[2] == 2
    # the left hand's pixels carry the left_hand part id
    u, v = (int(round(c)) for c in kp[idx("left_wrist"), :2])
    assert PART_NAMES[s["parts"][v, u]] in ("left_forearm", "left_hand")


def test_render_sample_api_shapes_units_and_determinism():
    a = render_sample(7, "real", (96, 80))
    b = render_sample(7, "real", (96, 80))
    assert a["image"].shape == (80, 96, 3) and a["image"].dtype == np.uint8
    assert a["depth"].dtype == np.float32 and a["normal"].dtype == np.float32 and a["parts"].dtype == np.uint8
    assert a["keypoints_coco"].shape == (17, 3) and a["keypoints_25"].shape == (25, 3)
    assert a["joints3d_coco"].shape == (17, 3) and a["joints3d_25"].shape == (25, 3)
    assert set(a["camera"]) == {"fx", "fy", "cx", "cy"}
    for key in ("image", "depth", "normal", "parts", "keypoints_coco", "joints3d_25"):
        assert np.array_equal(a[key], b[key]), key
    assert a["encoded"] == b["encoded"] and a["ext"] == ".jpg"
    # "image" is exactly what the saved JPEG decodes to
    assert np.array_equal(cv2.imdecode(np.frombuffer(a["encoded"], np.uint8), cv2.IMREAD_COLOR), a["image"])
    # infant-sized, in metres, in front of the camera
    z = a["depth"][a["parts"] > 0]
    assert 0.2 < z.min() and z.max() < 3.0
    # projection of the 3D joints gives the 2D keypoints
    cam = a["camera"]
    j = a["joints3d_coco"].astype(np.float64)
    uv = np.stack([cam["fx"] * j[:, 0] / j[:, 2] + cam["cx"], cam["fy"] * j[:, 1] / j[:, 2] + cam["cy"]], 1)
    assert np.allclose(uv, a["keypoints_coco"][:, :2], atol=1e-3)
    # the tight box is the box of the infant's silhouette (without the scenery, which may hide some of it)
    ys, xs = np.nonzero(render_sample(7, "real", (96, 80), scenery=NO_SCENERY)["parts"])
    assert a["bbox_xywh"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    assert a["area"] == xs.size
    # COCO and MINI-RGBD keypoints agree on their 13 common points
    conv = KeypointConverter("minirgbd25", "coco17")
    xyz, _ = conv(a["joints3d_25"][None], np.ones((1, 25)))
    common = list(conv.common_indices)
    assert np.allclose(xyz[0, common], a["joints3d_coco"][common], atol=1e-6)
    with pytest.raises(ValueError, match="domain"):
        render_sample(0, "cartoon", (64, 64))


def test_domains_share_geometry_but_not_appearance():
    rng = np.random.default_rng(5)
    shape = sample_shape(rng)
    angles = sample_motion(rng, 1)[0]
    body = pose_body(shape, angles[None], "supine", 0.2)
    cam = sample_camera(rng, 128, 128, *body_bounds(body))
    scene = {"shape": shape, "posture": "supine", "angles": angles, "heading": 0.2, "camera": cam}
    syn = render_sample(11, "syn", (128, 128), **scene)
    real = render_sample(11, "real", (128, 128), **scene)
    # same seed and scene -> same geometry; a different look
    assert np.array_equal(syn["depth"], real["depth"]) and np.array_equal(syn["parts"], real["parts"])
    assert np.abs(syn["image"].astype(int) - real["image"].astype(int)).mean() > 10


def test_ray_primitive_intersections_match_closed_forms():
    d = np.array([[0.0, 0.0, 1.0], [0.3, 0.0, 1.0], [0.05, 0.02, 1.0]])
    # sphere of radius 0.1 at z = 1 (as an ellipsoid)
    t = intersect_ellipsoid(d, np.array([0.0, 0.0, 1.0]), np.eye(3), np.full(3, 0.1))
    assert t[0] == pytest.approx(0.9) and np.isinf(t[1])
    assert np.linalg.norm(t[2] * d[2] - [0, 0, 1]) == pytest.approx(0.1)
    # horizontal capsule along x at z = 1: the ray straight ahead hits the side at z = 0.9
    tc = intersect_capsule(d, np.array([-0.2, 0.0, 1.0]), np.array([0.2, 0.0, 1.0]), 0.1)
    assert tc[0] == pytest.approx(0.9)
    assert np.linalg.norm(tc[1] * d[1] - [0.2, 0, 1]) == pytest.approx(0.1)  # the end cap
    assert np.isinf(intersect_capsule(np.array([0.4, 0.0, 1.0]), np.array([-0.2, 0.0, 1.0]),
                                      np.array([0.2, 0.0, 1.0]), 0.1))
    # capsule pointing at the camera: the near cap is hit
    tz = intersect_capsule(d[:1], np.array([0.0, 0.0, 1.5]), np.array([0.0, 0.0, 1.0]), 0.1)
    assert tz[0] == pytest.approx(0.9)


def test_motion_is_smooth_within_limits_and_alive():
    rng = np.random.default_rng(0)
    angles = sample_motion(rng, 300, fps=30.0, posture=sample_posture(rng))
    assert angles.shape == (300, NUM_DOFS)
    assert np.all(angles >= DOF_LO - 1e-12) and np.all(angles <= DOF_HI + 1e-12)
    step = np.abs(np.diff(angles, axis=0))
    assert step.max() < np.radians(25)  # no jumps at 30 fps (vigorous kicks reach ~500 deg/s)
    assert np.percentile(step, 99) < np.radians(6)
    hips = angles[:, [DOF_INDEX["hip_flex"], DOF_INDEX["knee_flex"]]]
    assert np.degrees(hips.std(axis=0)).min() > 5  # the legs actually move (kicking)


def test_ray_cast_visibility_of_sequences_matches_the_renderer():
    from hyper_sapiens.synth.appearance import sample_look

    agree = total = 0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        shape = sample_shape(rng)
        posture = sample_posture(rng)
        body = pose_body(shape, sample_motion(rng, 6, posture=posture), posture, rng.uniform(-3, 3))
        centre, radius = body_bounds(body)
        cam = sample_camera(rng, 128, 128, centre, radius)
        seq = sequence_keypoints(body, cam, shape)
        look = sample_look(rng, "syn")
        for f in (0, 5):
            s = render_body(body, shape, cam, look, rng, frame=f)
            assert np.allclose(seq["coco_uv"][f], s["keypoints_coco"][:, :2], atol=1e-3)
            agree += int((seq["coco_vis"][f] == s["keypoints_coco"][:, 2]).sum())
            agree += int((seq["smil_vis"][f] == s["keypoints_25"][:, 2]).sum())
            total += 17 + 25
    assert agree / total > 0.95  # the two differ only where a keypoint's pixel centre and its ray disagree
