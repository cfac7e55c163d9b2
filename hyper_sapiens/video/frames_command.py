"""The ``hyper-sapiens frames`` verb: unlabelled clip frames with person boxes, as a ``type: unlabeled`` source."""

from __future__ import annotations

import argparse
import json
import sys

from ..data.io import DataFileError
from ..data.skeletons import SkeletonFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "frames",
        help="every N-th frame of clips as JPEGs with a person box each -> an unlabelled training source",
        description="Write every N-th frame of each CLIP (a video file, or a folder of them) to OUT/images/<clip>/, "
        "with OUT/images.json (COCO images), OUT/detections.json (one person box per frame) and OUT/frames.json "
        "(what was kept and left out). A training config reads them as {type: unlabeled, image_dir: OUT/images, "
        "detections: OUT/detections.json, images_json: OUT/images.json}. The box comes from the clip's OpenPose "
        "track (--openpose: a folder with one OpenPose folder per clip, named like the clip; frames without a "
        "person are left out and counted), else the whole frame (docs/training.md).",
        epilog="example: hyper-sapiens frames videos/ --openpose openpose/ --every 10 --out data/clip_frames",
    )
    parser.add_argument("inputs", nargs="+", metavar="CLIP", help="video file, or folder of video files")
    parser.add_argument("--out", required=True, help="output folder (must not hold an earlier extraction)")
    parser.add_argument("--every", type=int, default=10, help="keep frames 0, N, 2N, ... (default 10)")
    parser.add_argument("--openpose", default=None,
                        help="folder of OpenPose folders, one per clip named like it (BODY_25 or BODY_18 JSON, "
                        "pixels or --keypoint_scale 3 fractions); default: the whole frame is the box")
    parser.add_argument("--margin", type=float, default=0.15,
                        help="grow an OpenPose box by this fraction of its longer side on every side (default 0.15)")
    parser.add_argument("--min-joints", type=int, default=4,
                        help="an OpenPose person with fewer joints gives no box (default 4)")
    parser.add_argument("--missing-openpose", default="error", choices=("error", "whole-frame"),
                        help="a clip without an OpenPose folder: stop with an error (default) or box its frames by "
                        "the whole frame")
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality (default 92)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from .frames import extract_frames

    try:
        summary = extract_frames(args.inputs, args.out, every=args.every, openpose=args.openpose,
                                 margin=args.margin, min_joints=args.min_joints, quality=args.quality,
                                 progress=not args.no_progress,
                                 missing_openpose=args.missing_openpose.replace("-", "_"))
    except (FileNotFoundError, FileExistsError, ValueError, DataFileError, SkeletonFileError) as err:
        print(f"frames: {err}", file=sys.stderr)
        return 2
    left_out = sum(c["no_person"] for c in summary["clips"].values())
    print(json.dumps({"out": args.out, "images": summary["images"], "clips": len(summary["clips"]),
                      "left_out_no_person": left_out, "box_source": summary["box_source"]}))
    return 0
