import numpy as np
import pytest

from hyper_sapiens.keypoints import (
    COCO17,
    COCO17_LIMBS,
    COCO17_SYMMETRIC_LIMBS,
    LAYOUTS,
    MINIRGBD25,
    KeypointConverter,
    KeypointLayout,
    get_layout,
    resolve_subset,
    subset_names,
    torso_length,
    torso_radius,
)


def _side_and_stem(name: str) -> tuple[str | None, str]:
    """('left'|'right'|None, name without its side) for the naming styles of our layouts."""
    for side in ("left", "right"):
        if name.startswith(side):
            return side, name[len(side):].lstrip("_").lower()
    if len(name) > 1 and name[0] in "LR" and name[1].isupper():  # OpenPose: LShoulder
        return ("left" if name[0] == "L" else "right"), name[1:].lower()
    return None, name.lower()


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_flip_is_an_involution_that_swaps_left_and_right(layout):
    flip = np.asarray(layout.flip_indices)
    np.testing.assert_array_equal(flip[flip], np.arange(layout.num_keypoints))
    for i, j in enumerate(flip):
        side_i, stem_i = _side_and_stem(layout.names[i])
        side_j, stem_j = _side_and_stem(layout.names[j])
        if i == j:
            assert side_i is None, layout.names[i]
        else:
            assert {side_i, side_j} == {"left", "right"} and stem_i == stem_j, (layout.names[i], layout.names[j])


def test_coco17_matches_published_tables():
    assert COCO17.num_keypoints == 17
    assert COCO17.flip_indices == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    assert COCO17.sigmas[0] == pytest.approx(0.026) and COCO17.sigmas[11] == pytest.approx(0.107)
    assert len(COCO17.bones) == 19
    # COCO's own 1-based skeleton starts with [16, 14], [14, 12]
    assert COCO17.bones[0] == (15, 13) and COCO17.bones[1] == (13, 11)


def test_limb_pairs_are_mirror_images():
    flip = COCO17.flip_indices
    for a, b in COCO17_SYMMETRIC_LIMBS:
        la, lb = COCO17_LIMBS[a], COCO17_LIMBS[b]
        assert (flip[la[0]], flip[la[1]]) == lb


def test_minirgbd_to_coco_has_13_common_points_each_mapped_once():
    conv = KeypointConverter("minirgbd25")
    assert len(conv.common_indices) == 13
    assert set(conv.common_names) == set(COCO17.names) - {"left_eye", "right_eye", "left_ear", "right_ear"}
    used = conv.table[conv.table >= 0]
    assert len(set(used.tolist())) == len(used)


def test_body25_to_coco_maps_all_17_points_once():
    conv = KeypointConverter("body25")
    assert conv.common_indices == tuple(range(17))
    assert len(set(conv.table.tolist())) == 17


def test_converter_values_and_visibility():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4, 25, 3)).astype(np.float32)
    vis = rng.integers(0, 3, size=(4, 25)).astype(np.float32)
    out, out_vis = KeypointConverter(MINIRGBD25)(pts, vis)
    assert out.shape == (4, 17, 3) and out_vis.shape == (4, 17)
    lw = COCO17.index("left_wrist")
    np.testing.assert_array_equal(out[:, lw], pts[:, MINIRGBD25.index("leftHand")])
    np.testing.assert_array_equal(out_vis[:, lw], vis[:, MINIRGBD25.index("leftHand")])
    eye = COCO17.index("left_eye")
    assert np.all(out_vis[:, eye] == 0) and np.all(out[:, eye] == 0)
    single, single_vis = KeypointConverter("minirgbd25")(pts[0])
    assert single.shape == (17, 3) and np.all(single_vis[list(KeypointConverter("minirgbd25").common_indices)] == 1)


def test_converter_flip_commutes():
    """Converting then flipping equals flipping then converting."""
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(2, 25, 2))
    conv = KeypointConverter("minirgbd25")
    a, va = conv(pts[:, MINIRGBD25.flip_array()])
    b, vb = conv(pts)
    np.testing.assert_array_equal(a, b[:, COCO17.flip_array()])
    np.testing.assert_array_equal(va, vb[:, COCO17.flip_array()])


def test_inverse_direction_and_identity():
    conv = KeypointConverter("coco17", "minirgbd25")
    assert len(conv.common_indices) == 13
    ident = KeypointConverter("coco17", "coco17")
    pts = np.arange(34, dtype=np.float32).reshape(17, 2)
    np.testing.assert_array_equal(ident(pts)[0], pts)


def test_converter_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\(N, 25, D\)"):
        KeypointConverter("minirgbd25")(np.zeros((3, 17, 2)))
    with pytest.raises(ValueError, match="visibility shape"):
        KeypointConverter("minirgbd25")(np.zeros((3, 25, 2)), np.zeros((3, 24)))
    with pytest.raises(KeyError, match="no keypoint mapping"):
        KeypointConverter("minirgbd25", "body25")
    with pytest.raises(KeyError, match="unknown keypoint layout"):
        get_layout("h36m")


def test_subsets():
    assert resolve_subset("all") == tuple(range(17))
    assert len(resolve_subset("minirgbd25")) == 13
    assert len(resolve_subset("body25")) == 17
    assert len(resolve_subset("mpii16")) == 12
    assert resolve_subset(["nose", 5, "6"]) == (0, 5, 6)
    assert resolve_subset("nose,left_eye") == (0, 1)
    assert subset_names((0, 1)) == ["nose", "left_eye"]
    with pytest.raises(KeyError, match="unknown keypoint subset"):
        resolve_subset("foo")
    with pytest.raises(IndexError):
        resolve_subset([17])


def test_layout_validation():
    with pytest.raises(ValueError, match="duplicate"):
        KeypointLayout("x", ("a", "a"), (), ())
    with pytest.raises(ValueError, match="flip pair"):
        KeypointLayout("x", ("a", "b"), ((0, 0),), ())


@pytest.mark.parametrize("layout", [COCO17, MINIRGBD25, get_layout("body25")], ids=lambda layout: layout.name)
def test_torso_length_and_radius_on_a_rectangle(layout):
    # shoulders 2 apart at y = 0, hips 2 apart at y = 4: sides 4, widths 2
    kp = np.zeros((2, layout.num_keypoints, 2))
    ls, rs, lh, rh = layout.torso
    kp[:, ls], kp[:, rs], kp[:, lh], kp[:, rh] = (1, 0), (-1, 0), (1, 4), (-1, 4)
    kp[1] *= 3.0                                         # both measures scale with the skeleton
    visible = np.ones(kp.shape[:2])
    visible[1, lh] = 0
    size, ok = torso_length(kp, visible, layout)
    np.testing.assert_allclose(size, [4.0, 12.0])
    assert ok.tolist() == [True, False]                  # a hidden hip makes the torso unusable
    np.testing.assert_allclose(torso_radius(kp, layout), [np.sqrt(4**2 + 2**2) / 2, 3 * np.sqrt(4**2 + 2**2) / 2])


def test_torso_needs_torso_joints():
    layout = KeypointLayout("x", ("a", "b"), (), ())
    with pytest.raises(ValueError, match="no torso joints"):
        torso_radius(np.zeros((1, 2, 2)), layout)
