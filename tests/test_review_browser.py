"""The review page in headless Chromium: the frame on screen (read back from the bar code drawn into every frame)
is the frame whose skeleton is drawn, after loading, stepping, jumping, playing and pausing, for a video the
browser plays (VP9 written by OpenCV; H.264 when ffmpeg is there) and for extracted JPEG frames (mp4v); a joint
dragged with real mouse events is saved in frame pixels, keys mark and accept frames, and a reload shows them.

Needs Playwright for Python and a system Chromium (``apt-get install chromium``; ``.ci/run`` installs both);
skipped otherwise. No browser is downloaded."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import review_helpers as H

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                               "(pip install playwright)")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (apt-get install chromium)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
K = H.K


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path | None]:
    root = tmp_path_factory.mktemp("review_browser")
    return {codec: H.make_clip(root / codec, codec) for codec in ("VP90", "h264", "mp4v")}


def _wait(page, condition: str, timeout: float = 20.0) -> None:
    """Poll a JavaScript ``condition`` (Playwright's own polling evaluates strings, which the page's Content
    Security Policy forbids; a plain evaluate is not affected, so the page is tested under its real policy)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({condition})"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"page: still not {condition} after {timeout} s")
        time.sleep(0.05)


def _settle(page) -> None:
    _wait(page, "window.hsReview && window.hsReview.ready && window.hsReview.settled()")


def _open(browser, server: H.ReviewServer, frame: int = 0):
    page = browser.new_page(viewport={"width": 960, "height": 640})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{server.url}#frame={frame}", wait_until="domcontentloaded")
    _settle(page)
    page.errors = errors
    return page


def _shown(page) -> tuple[int, int, dict]:
    """(frame whose skeleton is drawn, frame index read from the pixels on screen, what is drawn)."""
    drawn = json.loads(page.locator("#overlay").get_attribute("data-drawn"))
    png = page.locator("#stage").screenshot()
    code = H.frame_code(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))
    return drawn["frame"], code, drawn


def _track(clip: Path, t: int, file: str = "keypoints.json") -> list:
    kp = json.loads((clip / file).read_text())[t]["keypoints"]
    return [None if kp[3 * k: 3 * k + 3] == [0, 0, 0] else [kp[3 * k], kp[3 * k + 1]] for k in range(K)]


def _close(a: list, b: list, tol: float) -> bool:
    """Two lists of joints (``None`` or ``[x, y, ...]``) agree within ``tol`` pixels."""
    return len(a) == len(b) and all((p is None) == (q is None) and (p is None or np.allclose(p, q, atol=tol))
                                    for p, q in zip(a, b))


TRACK_FILES = {"raw": "keypoints_raw.json", "cleaned": "keypoints.json", "corrected": "keypoints_corrected.json"}


def _check(page, clip: Path, expected: int) -> None:
    """The page is on frame ``expected``: its image on screen, and the selected track's joints of that frame in
    keypoints*.json drawn over it."""
    _settle(page)
    frame, code, drawn = _shown(page)
    assert (frame, code) == (expected, expected), f"wanted frame {expected}: skeleton of {frame}, image of {code}"
    assert _close(drawn["model"], _track(clip, expected, TRACK_FILES[drawn["track"]]), 1e-3)


@pytest.mark.parametrize("codec", ["VP90", "h264", "mp4v"])
def test_the_skeleton_is_drawn_on_the_frame_on_screen(browser, clips, codec):
    clip = clips[codec]
    if clip is None:
        pytest.skip(f"cannot write {codec} here ({'no ffmpeg' if codec == 'h264' else 'OpenCV lacks it'})")
    server = H.ReviewServer(clip)
    try:
        assert server.app.media.kind == ("frames" if codec == "mp4v" else "video")
        page = _open(browser, server)
        _check(page, clip, 0)
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        _check(page, clip, 3)
        page.keyboard.press("n")             # the next flagged frame, twice
        _check(page, clip, H.FLAGGED[0])
        page.keyboard.press("n")
        _check(page, clip, H.FLAGGED[1])
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Shift+ArrowRight")
        _check(page, clip, H.FLAGGED[1] + 9)
        timeline = page.locator("#timeline")            # a click on the timeline jumps there
        box = timeline.bounding_box()
        timeline.click(position={"x": box["width"] * 62.5 / H.FRAMES, "y": box["height"] / 2})
        _check(page, clip, 62)
        page.keyboard.press("1")             # the raw track
        _check(page, clip, 62)
        assert _shown(page)[2]["track"] == "raw"
        page.keyboard.press("2")
        page.evaluate("hsReview.goTo(8)")
        _settle(page)
        page.keyboard.press(" ")             # play, then pause: the page settles on the frame on screen
        _wait(page, "hsReview.state.frame >= 14")
        page.keyboard.press(" ")
        _settle(page)
        frame, code, _ = _shown(page)
        assert frame == code and frame >= 14
        _check(page, clip, frame)
        assert not page.errors, page.errors
        page.close()
    finally:
        server.close()


def test_a_dragged_joint_is_saved_in_frame_pixels_and_shown_after_a_reload(browser, clips):
    codec = "VP90" if clips["VP90"] is not None else "mp4v"
    clip = clips[codec]
    server = H.ReviewServer(clip)
    try:
        page = _open(browser, server, 10)
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        _check(page, clip, 12)
        k = H.J["left_elbow"]
        before = _shown(page)[2]["model"]
        x0, y0 = page.evaluate("([x, y]) => hsReview.clientOf(x, y)", before[k])
        scale = page.evaluate("document.getElementById('overlay').getBoundingClientRect().width") / H.SIZE[0]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 30, y0 - 20, steps=6)
        page.mouse.up()
        _wait(page, "hsReview.lastSave && hsReview.lastSave.frame === 12 && hsReview.state.pending === 0")
        page.keyboard.press("ArrowRight")    # step on
        _check(page, clip, 13)
        coco = json.loads((clip / "review" / "annotations.json").read_text())
        (ann,) = coco["annotations"]
        saved = np.array(ann["keypoints"]).reshape(K, 3)
        assert ann["image_id"] == 12 and saved[k, 2] == 2
        assert saved[k, 0] == pytest.approx(before[k][0] + 30 / scale, abs=1 / scale + 0.01)
        assert saved[k, 1] == pytest.approx(before[k][1] - 20 / scale, abs=1 / scale + 0.01)
        others = [j for j in range(K) if j != k]
        assert _close(saved[others, :2].tolist(), [before[j] for j in others], 0.006)
        assert H.frame_code(cv2.imread(str(clip / "review" / "images" / "frame_000012.jpg"))) == 12
        page.locator("#joints li").nth(0).click()   # select the nose in the list, mark it hidden (v=1)
        page.keyboard.press("v")
        _wait(page, "hsReview.lastSave && hsReview.lastSave.frame === 13 && hsReview.state.pending === 0")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("a")             # accept frame 14 as it is
        _wait(page, "hsReview.lastSave && hsReview.lastSave.frame === 14 && hsReview.state.pending === 0")
        knee = _shown(page)[2]["review"][H.J["left_knee"]]
        page.mouse.click(*page.evaluate("([x, y]) => hsReview.clientOf(x, y)", knee[:2]), button="right")
        _wait(page, "hsReview.state.pending === 0 && hsReview.state.reviews.get(14)[13][2] === 1")
        coco = json.loads((clip / "review" / "annotations.json").read_text())
        assert [im["id"] for im in coco["images"]] == [12, 13, 14]
        anns = {a["image_id"]: np.array(a["keypoints"]).reshape(K, 3) for a in coco["annotations"]}
        assert anns[13][0, 2] == 1 and anns[14][H.J["left_knee"], 2] == 1
        assert _close(anns[14][:, :2].tolist(), _track(clip, 14), 0.006)
        page.keyboard.press("Delete")        # and remove frame 14's review again
        _wait(page, "hsReview.state.pending === 0 && !hsReview.state.reviews.has(14)")
        assert [im["id"] for im in json.loads((clip / "review" / "annotations.json").read_text())["images"]] \
            == [12, 13]
        page.goto(f"{server.url}#frame=12", wait_until="domcontentloaded")
        page.reload(wait_until="domcontentloaded")
        _settle(page)
        frame, code, drawn = _shown(page)
        assert frame == code == 12 and _close(drawn["review"], saved.tolist(), 1e-6)
        assert "reviewed" in page.locator("#position").inner_text()
        assert not page.errors, page.errors
        page.close()
    finally:
        server.close()


def test_without_the_recording_the_page_says_corrections_are_off(browser, clips, tmp_path):
    clip = H.write_clip_folder(tmp_path / "out" / "wave", str(tmp_path / "gone.mp4"))
    shutil.copy(clips["mp4v"].parent.parent / "wave.mp4", clip / "skeleton.mp4")
    server = H.ReviewServer(clip)
    try:
        page = _open(browser, server, 5)
        assert "Corrections are off" in page.locator("#message").inner_text()
        page.keyboard.press("a")
        assert "corrections are off" in page.locator("#message").inner_text()
        assert not (clip / "review" / "annotations.json").exists()
        page.close()
    finally:
        server.close()


def test_blank_media_hides_the_recordings_pixels_and_keeps_the_skeleton(browser, clips):
    """``review_screenshot.py --blank-media``: the frame's pixels (its bar code) leave the stage, the drawing stays."""
    from benchmark_helpers import load_benchmark

    shot = load_benchmark("review_screenshot")
    server = H.ReviewServer(clips["mp4v"])  # extracted JPEG frames: the <img> path
    try:
        page = _open(browser, server, frame=5)
        drawn, code, _ = _shown(page)
        assert drawn == code == 5
        shot.blank_media(page)
        for element in ("video", "frame"):
            assert page.evaluate(f"getComputedStyle(document.getElementById('{element}')).visibility") == "hidden"
        drawn, code, what = _shown(page)
        # the skeleton of frame 5 is still drawn; where the bar code was, every bit reads the same (the stage's
        # background): no frame on screen
        assert drawn == 5 and code in (0, (1 << H.BITS) - 1)
        assert what["track"] == "cleaned"
        assert not page.errors, page.errors
        page.close()
    finally:
        server.close()
