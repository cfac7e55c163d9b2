"""The ``hyper-sapiens review`` verb: serve a clip's review page on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..data.io import DataFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "review",
        help="a local page to check a clip's keypoints, correct them, and save the corrections for training",
        description="Serve a page for one clip folder written by `hyper-sapiens video` (OUT/<clip>/): the recording "
        "with the skeleton drawn over it (raw, cleaned and corrected tracks), a timeline of plausibility and "
        "keypoint score with flagged frames, gaps and outliers, every joint's trajectory, and the movement "
        "features. Drag a joint, mark it not visible or accept a frame: each reviewed frame is saved at once to "
        "OUT/<clip>/review/annotations.json (COCO keypoints, a `type: coco` training source) with its image in "
        "review/images/, and to keypoints.csv's review columns. The server listens on 127.0.0.1 only and every "
        "URL carries a random token (docs/video.md, Review and correct).",
        epilog="example: hyper-sapiens review video_out/clip   (then open the printed URL; Ctrl-C stops)",
    )
    parser.add_argument("clip", metavar="CLIP_FOLDER", help="a folder written by `hyper-sapiens video`: OUT/<clip>")
    parser.add_argument("--video", default=None, metavar="PATH",
                        help="the recording (video file or folder of frames) when the path features.json records "
                        "(clip.input) is not found from here")
    parser.add_argument("--frames", action="store_true",
                        help="show JPEG frames extracted into CLIP_FOLDER/review/frames/ even when the browser "
                        "could play the video (for a browser without the codec)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free port)")
    parser.add_argument("--no-browser", action="store_true", help="print the URL; do not open a browser")
    parser.set_defaults(func=run)
    return parser


def build_app(clip_folder: str, video: str | None = None, force_frames: bool = False, quiet: bool = False) -> Any:
    """The :class:`~hyper_sapiens.review.server.ReviewApp` of a clip folder: the clip read, its media ready
    (frames extracted if needed), its reviews loaded and ``keypoints.csv``'s review columns in sync."""
    from .clip import clip_tracks, load_clip
    from .corrections import ReviewStore
    from .media import prepare_media, read_frame
    from .server import ReviewApp

    clip = load_clip(clip_folder)
    tracks = clip_tracks(clip)  # every file read and checked before frames are extracted
    media = prepare_media(clip, video, force_frames=force_frames, quiet=quiet)
    store = ReviewStore(clip, lambda t: read_frame(media.source, t, (clip.width, clip.height), clip.fps),
                        read_only=media.read_only)
    store.sync_csv()
    return ReviewApp(clip, media, store, tracks=tracks)


def run(args: argparse.Namespace) -> int:
    from .server import make_server, url

    try:
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {args.port}")
        app = build_app(args.clip, args.video, args.frames)
        server = make_server(app, args.port)
    except (DataFileError, ValueError, OSError) as err:
        print(f"review: error: {err}", file=sys.stderr)
        return 2
    address = url(server, app)
    if app.media.read_only:
        print(f"review: {app.media.read_only}", file=sys.stderr)
    reviewed = len(app.store.reviews)
    print(f"review: {app.clip.name}: {app.clip.frames} frames, {reviewed} reviewed; shown as "
          f"{'video' if app.media.kind == 'video' else 'JPEG frames'} ({app.media.codec})", file=sys.stderr)
    print(f"review: open {address}  (127.0.0.1 only; the token in the URL is the key; Ctrl-C stops)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(address)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"review: {len(app.store.reviews)} reviewed frames in {app.store.path}", file=sys.stderr)
    return 0
