"""A screenshot of the ``review`` page of a clip folder, taken in headless Chromium.

    python benchmarks/review_screenshot.py video_out/clip --out review.png [--frame 120] [--video clip.mp4] \
        [--blank-media]

Starts the review server in this process (127.0.0.1, a fresh token), opens the page at ``--frame`` with Playwright
driving the system's Chromium (no browser download), waits until the frame and its skeleton are drawn, and saves
a full-page PNG. Needs ``pip install playwright`` and a Chromium (``apt-get install chromium`` on Debian).

Do not commit screenshots of real infant recordings: their images belong to their owners. ``--blank-media`` hides
the recording's pixels (the ``<video>`` and ``<img>`` that show the frame) before the shot, so the page's own
drawing (skeleton, timeline, trajectories, features) can be shown for a real clip without the third party's image.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from pathlib import Path

#: Chromium flags: headless, no sandbox (root in containers), nothing fetched from the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium(explicit: str | None) -> str:
    for candidate in ([explicit] if explicit else []) + ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(candidate) or (candidate if candidate and Path(candidate).is_file() else None)
        if path:
            return path
    raise SystemExit("review_screenshot: no Chromium found; install it (apt-get install chromium) or pass --chromium")


#: Hides the recording's pixels and keeps the page's own drawing (the overlay canvas is a separate element). Set
#: through the CSS object model: the page's Content Security Policy refuses inline style sheets.
BLANK_MEDIA_JS = ("document.querySelectorAll('#video, #frame')"
                  ".forEach(e => e.style.setProperty('visibility', 'hidden', 'important'))")


def blank_media(page) -> None:
    """Hide the frame's pixels on a Playwright ``page`` of the review page; the skeleton overlay stays drawn."""
    page.evaluate(BLANK_MEDIA_JS)


def wait_until_settled(page, timeout: float) -> None:
    """Poll until the page has drawn the frame and its skeleton. A plain ``evaluate`` each time: Playwright's own
    ``wait_for_function`` evaluates a string once its first try fails, which the page's Content Security Policy
    refuses (no ``unsafe-eval``)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("() => Boolean(window.hsReview && window.hsReview.ready && window.hsReview.settled())"):
        if time.monotonic() > deadline:
            raise SystemExit(f"review_screenshot: the page did not settle within {timeout:.0f} s")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", help="a clip folder written by `hyper-sapiens video` (OUT/<clip>)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--frame", type=int, default=0, help="frame to show (default 0)")
    parser.add_argument("--video", default=None, help="the recording, when features.json's path is not found")
    parser.add_argument("--frames", action="store_true", help="show extracted JPEG frames instead of the video")
    parser.add_argument("--width", type=int, default=1400, help="browser window width, CSS pixels (default 1400)")
    parser.add_argument("--height", type=int, default=1000, help="browser window height, CSS pixels (default 1000)")
    parser.add_argument("--chromium", default=None, help="Chromium executable (default: chromium on PATH)")
    parser.add_argument("--blank-media", action="store_true",
                        help="hide the recording's pixels (for a clip whose images you may not publish)")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("review_screenshot: needs Playwright for Python (pip install playwright)") from None
    from hyper_sapiens.review.command import build_app
    from hyper_sapiens.review.server import make_server, url

    app = build_app(args.clip, args.video, args.frames)
    server = make_server(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(args.chromium), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(f"{url(server, app)}#frame={args.frame}", wait_until="domcontentloaded")
            wait_until_settled(page, timeout=60.0)
            if args.blank_media:
                blank_media(page)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print(f"review_screenshot: {args.out} (frame {args.frame} of {app.clip.name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
