"""Scenery around the rendered infants (issue 24, item 3): floors, rugs, sofas, cots, a blanket over the legs and an
adult's hand. Each scene has its own random stream, so the same seed renders the same infant, camera and look with
and without scenery; the tests compare the two."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from test_synth_render import normals_from_depth

from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.synth import render_sample
from hyper_sapiens.synth.appearance import sample_look
from hyper_sapiens.synth.body import sample_shape
from hyper_sapiens.synth.camera import sample_camera
from hyper_sapiens.synth.drape import CLEARANCE, _top_heights
from hyper_sapiens.synth.raytrace import backdrop_wall
from hyper_sapiens.synth.sample import body_bounds, pose_infant, render_body
from hyper_sapiens.synth.scenery import (
    ADULT_SKIN,
    DEFAULT_SCENERY,
    ELEMENTS,
    NO_SCENERY,
    SETTINGS,
    SLEEVE,
    SceneryRates,
    sample_scenery,
)
from hyper_sapiens.synth.textures import FLOOR_KINDS, sample_floor

BLANKET_ONLY = SceneryRates(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
COT_ONLY = SceneryRates(0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
HAND_ONLY = SceneryRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
FLOOR_ALL = SceneryRates(1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0)  # no rug: it is paint, compared geometry ignores it
BED_ALL = SceneryRates(0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
_ANKLES = [COCO17.index("left_ankle"), COCO17.index("right_ankle")]
_KNEES = [COCO17.index("left_knee"), COCO17.index("right_knee")]


def _pair(seed: int, rates: SceneryRates, domain: str = "syn", size=(160, 160), **kw) -> tuple[dict, dict]:
    """The same image rendered without scenery and with ``rates``."""
    bare = render_sample(seed, domain, size, scenery=NO_SCENERY, **kw)
    dressed = render_sample(seed, domain, size, scenery=rates, **kw)
    assert np.array_equal(bare["joints3d_coco"], dressed["joints3d_coco"])  # the same infant ...
    assert bare["camera"] == dressed["camera"]  # ... seen by the same camera
    assert bare["scene"] == "bed"
    return bare, dressed


def _pixels(kp: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inside = kp[:, 2] > 0
    iu = np.clip(np.floor(kp[:, 0] + 0.5).astype(int), 0, shape[1] - 1)
    iv = np.clip(np.floor(kp[:, 1] + 0.5).astype(int), 0, shape[0] - 1)
    return iu, iv, inside


def _normal_error(s: dict, mask: np.ndarray) -> float:
    """Median angle (degrees) between rendered normals and normals from the depth map, inside ``mask`` eroded."""
    ref = normals_from_depth(s["depth"].astype(np.float64), s["camera"])
    angle = np.degrees(np.arccos(np.clip(np.sum(s["normal"] * ref, axis=-1), -1.0, 1.0)))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inner.sum() > 30
    return float(np.median(angle[inner]))


def test_a_blanket_over_the_legs_hides_the_ankles_in_the_depth_and_normal_maps():
    hidden = 0
    for seed in range(4):
        for posture in ("supine", "side_left"):
            bare, covered = _pair(seed, BLANKET_ONLY, posture=posture, view="above", size=(224, 224))
            assert covered["scene"] == "bed+blanket"
            cloth = covered["depth"] < bare["depth"] - 1e-4  # the blanket lies over what was seen before
            assert cloth.sum() > 200 and np.all(covered["parts"][cloth] == 0)
            assert _normal_error(covered, cloth) < 3.0
            v0, v1 = bare["keypoints_coco"][:, 2], covered["keypoints_coco"][:, 2]
            assert np.all(v1 <= v0)
            inside = v0[_ANKLES] > 0
            assert np.all(v1[_ANKLES][inside] == 1)  # under the blanket: occluded, as COCO labels them
            hidden += int(np.sum((v0[_ANKLES] == 2) & (v1[_ANKLES] == 1)))
            assert np.all(v1[:5] == v0[:5])  # the face stays out
    assert hidden >= 5


def test_the_blanket_lies_on_the_legs_neither_under_them_nor_floating():
    for seed in range(8):
        rng = np.random.default_rng(seed)
        body, _ = pose_infant(rng, sample_shape(rng), ("supine", "side_right")[seed % 2], float(rng.uniform(-3, 3)))
        camera = sample_camera(rng, 128, 128, *body_bounds(body))
        drape = sample_scenery(rng, body, camera, "supine", BLANKET_ONLY).drape
        assert drape is not None
        # anywhere on the blanket, between grid nodes too, its surface is above every covered body part
        u = rng.uniform(0.0, drape.extent[0], 4000)
        v = rng.uniform(0.0, drape.extent[1], 4000)
        ground = drape.origin + u[:, None] * drape.axes[0] + v[:, None] * drape.axes[1]
        top = _top_heights(body, ground)
        surface = drape.surface(u, v)[0]
        assert np.all(surface - top >= np.where(top > 0, 0.5 * CLEARANCE, 0.001)), (seed, np.min(surface - top))
        # it rests on the body (within 3 cm of its highest covered point) and does not float above it
        nu, nv = drape.height.shape
        gu, gv = np.meshgrid(np.arange(nu) * drape.cell, np.arange(nv) * drape.cell, indexing="ij")
        nodes = drape.origin + gu[..., None] * drape.axes[0] + gv[..., None] * drape.axes[1]
        tops = _top_heights(body, nodes.reshape(-1, 3)).reshape(nu, nv)
        peak = np.unravel_index(np.argmax(tops), tops.shape)
        assert drape.height[peak] - tops[peak] < 0.03
        assert drape.height.max() < tops.max() + 0.03
        # its free edges lie on the mattress; the knees and ankles are under it
        assert max(drape.height[:, 0].max(), drape.height[:, -1].max(), drape.height[-1].max()) < 0.015
        local = drape.local(body.coco17()[0, _KNEES + _ANKLES])
        assert np.all((local[2:, :2] > 0) & (local[2:, :2] < np.array(drape.extent[:2])))


def test_cot_sides_in_front_of_the_infant_hide_its_keypoints():
    occluded = in_front = 0
    for seed in range(6):
        bare, cot = _pair(seed, COT_ONLY, posture=("sitting_free", "supine", "crawling")[seed % 3], view="eye_level")
        assert cot["scene"] == "bed+cot"
        bars = cot["depth"] < bare["depth"] - 1e-4
        assert bars.sum() > 100 and np.all(cot["parts"][bars] == 0)
        in_front += int(np.any(bars & (bare["parts"] > 0)))  # bars between the camera and the infant
        v0, v1 = bare["keypoints_coco"][:, 2], cot["keypoints_coco"][:, 2]
        assert np.all(v1 <= v0)
        iu, iv, inside = _pixels(cot["keypoints_coco"], bars.shape)
        assert np.all(v1[inside & bars[iv, iu]] == 1)  # a bar at a keypoint's pixel: v = 1
        occluded += int(np.sum((v0 == 2) & (v1 == 1)))
    assert in_front >= 4 and occluded >= 3  # (the near side is left out when the camera is at it)


def _surface_points(centres, axes, radii, a, b, r) -> np.ndarray:
    """Points on the surfaces of ellipsoids ``(centres, axes (columns), radii)`` and capsules ``(a, b, r)``."""
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(300, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pts = [c + (dirs * rad) @ ax.T for c, ax, rad in zip(centres, axes, radii)]
    s = np.linspace(0.0, 1.0, 25)[:, None, None]
    for p, q, rad in zip(a, b, r):
        pts.append((p + s * (q - p) + rad * dirs[None, :60]).reshape(-1, 3))
    return np.concatenate(pts)


def _inside(points: np.ndarray, centres, axes, radii, a, b, r) -> np.ndarray:
    """Which ``points`` lie inside any of the ellipsoids and capsules."""
    out = np.zeros(points.shape[0], dtype=bool)
    for c, ax, rad in zip(centres, axes, radii):
        out |= np.sum(((points - c) @ ax / rad) ** 2, axis=1) < 1.0
    for p, q, rad in zip(a, b, r):
        s = np.clip((points - p) @ (q - p) / np.dot(q - p, q - p), 0.0, 1.0)
        out |= np.linalg.norm(points - (p + s[:, None] * (q - p)), axis=1) < rad
    return out


def test_an_adult_hand_stays_clear_of_the_infant_and_is_background():
    placed = 0
    for seed in range(16):
        rng = np.random.default_rng(seed)
        posture = ("supine", "sitting_free", "crawling", "standing_free")[seed % 4]
        shape = sample_shape(rng)
        body, _ = pose_infant(rng, shape, posture, float(rng.uniform(-3, 3)))
        camera = sample_camera(rng, 160, 160, *body_bounds(body), "syn", ("above", "oblique", "eye_level")[seed % 3])
        scene = sample_scenery(rng, body, camera, posture, HAND_ONLY)
        if "hand" not in scene.elements:
            continue
        placed += 1
        assert scene.elements == ("hand",) and set(scene.materials) <= {ADULT_SKIN, SLEEVE}
        hand = (scene.ell_centre, scene.ell_rot, scene.ell_radii, scene.cap_a, scene.cap_b, scene.cap_radius)
        infant = (body.ell_centre[0], body.ell_rot[0], body.ell_radii, body.cap_a[0], body.cap_b[0], body.cap_radii)
        assert not _inside(_surface_points(*hand), *infant).any()
        assert not _inside(_surface_points(*infant), *hand).any()
        assert np.all(scene.cap_a[:, 2] >= -1e-9) and np.all(scene.ell_centre[:, 2] > 0)  # not under the floor
        look = sample_look(np.random.default_rng(1), "syn")
        bare = render_body(body, shape, camera, look, np.random.default_rng(2))
        with_hand = render_body(body, shape, camera, look, np.random.default_rng(2), scenery=scene)
        hand_px = with_hand["depth"] < bare["depth"] - 1e-4
        assert hand_px.sum() > 20 and np.all(with_hand["parts"][hand_px] == 0)  # in the image, not labelled
        assert np.all(with_hand["keypoints_coco"][:, 2] <= bare["keypoints_coco"][:, 2])
    assert placed >= 8


def test_floor_patterns_are_deterministic_vary_and_show_boards_and_grout():
    xy = np.random.default_rng(0).uniform(0.0, 1.2, (20000, 2))
    kinds, looks = set(), []
    for seed in range(24):
        floor = sample_floor(np.random.default_rng(seed), "real")
        colour = floor.colour(xy)
        assert np.array_equal(colour, sample_floor(np.random.default_rng(seed), "real").colour(xy))
        assert np.array_equal(colour[:1000], floor.colour(xy[:1000]))  # a function of the point alone
        assert colour.min() >= 0.0 and colour.std(axis=0).max() > 0.01  # textured, not flat
        kinds.add(floor.kind)
        looks.append(colour.mean(axis=0))
        c, s = np.cos(floor.angle), np.sin(floor.angle)
        across = -xy[:, 0] * s + xy[:, 1] * c  # the coordinate across boards / tile rows
        bright = colour.mean(axis=1)
        if floor.kind in ("planks", "tiles"):
            edge = np.abs(np.mod(across / floor.period + 0.5, 1.0) - 0.5) * floor.period < 0.0015
            middle = np.abs(np.mod(across / floor.period, 1.0) - 0.5) * floor.period < 0.01
            assert bright[edge].mean() < bright[middle].mean() - 0.02 or floor.kind == "tiles", floor.kind
            if floor.kind == "tiles":  # grout lines show the grout colour
                assert np.abs(colour[edge] - floor.other).max(axis=1).mean() < 0.1
    assert kinds == set(FLOOR_KINDS)
    assert np.std(np.array(looks), axis=0).max() > 0.05  # floors of different seeds differ
    assert sample_floor(np.random.default_rng(0), "syn").kind == "plain"


@pytest.mark.parametrize("rates,posture,view,seed", [(FLOOR_ALL, "sitting_free", "eye_level", 0),
                                                     (FLOOR_ALL, "supine", "floor", 1),
                                                     (BED_ALL, "supine", "oblique", 2),
                                                     (BED_ALL, "crawling", "eye_level", 3)])
def test_scenery_on_or_off_changes_only_the_scenery_pixels(rates, posture, view, seed):
    bare, dressed = _pair(seed, rates, posture=posture, view=view, size=(160, 128))
    assert dressed["scene"] != "bed" or posture not in ("supine",)
    geometry = (dressed["depth"] != bare["depth"]) | (dressed["parts"] != bare["parts"])
    changed = np.any(dressed["image"] != bare["image"], axis=-1)
    assert geometry.any() and changed.any()
    assert not np.any(changed & ~geometry)  # the clean domain: only where scenery (or the moved wall) is
    assert np.all((dressed["parts"] == bare["parts"]) | (dressed["parts"] == 0))  # scenery only hides the body
    assert np.all(dressed["keypoints_coco"][:, 2] <= bare["keypoints_coco"][:, 2])
    # the box and area are the infant's own: scenery hides keypoints, it does not shrink the box
    assert dressed["bbox_xywh"] == bare["bbox_xywh"] and dressed["area"] == bare["area"]
    scenery = geometry & (dressed["depth"] < bare["depth"] - 1e-4)
    assert _normal_error(dressed, scenery) < 3.0  # the scenery's normals agree with its depth and the intrinsics
    if view != "oblique":
        assert np.all(dressed["depth"] > 0)  # no empty pixel


def test_scenery_rates_choose_what_appears():
    with pytest.raises(ValueError, match="rug"):
        SceneryRates(rug=1.5)
    rng = np.random.default_rng(3)
    body, _ = pose_infant(rng, sample_shape(rng), "sitting_free", 0.3)
    camera = sample_camera(rng, 128, 128, *body_bounds(body), "syn", "floor")  # it sees the wall: room for a sofa
    assert backdrop_wall(body, camera) is not None
    for seed in range(5):
        none = sample_scenery(np.random.default_rng(seed), body, camera, "sitting_free", NO_SCENERY)
        assert none.name == "bed" and none.materials.size == 0 and none.rug is None
        floor = sample_scenery(np.random.default_rng(seed), body, camera, "sitting_free", FLOOR_ALL)
        assert floor.setting == "floor" and "sofa" in floor.elements and "cot" not in floor.elements
        bed = sample_scenery(np.random.default_rng(seed), body, camera, "sitting_free", BED_ALL)
        assert bed.setting == "bed" and "cot" in bed.elements and "hand" not in bed.elements
        assert "blanket" not in floor.elements + bed.elements  # blankets cover lying infants only
    # adults get no scenery, infants a named scene
    assert render_sample(0, "syn", (64, 64), population="adult")["scene"] is None
    assert render_sample(0, "syn", (64, 64))["scene"].split("+")[0] in SETTINGS


def test_image_entries_name_their_scene_and_meta_holds_the_rates(tiny_dataset):
    meta = json.loads((tiny_dataset / "meta.json").read_text())
    assert meta["preset_config"]["scenery"] == vars(DEFAULT_SCENERY)
    scenes = []
    for split in ("train_syn", "train_real", "test_real"):
        coco = json.loads((tiny_dataset / "syrip" / "annotations" / f"{split}.json").read_text())
        for image in coco["images"]:
            setting, *elements = image["scene"].split("+")
            assert setting in SETTINGS and set(elements) <= set(ELEMENTS)
            scenes.append(image["scene"])
    assert len(set(scenes)) >= 3  # the tiny set already shows several kinds of scene
