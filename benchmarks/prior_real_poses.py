"""How plausible real infant poses look to a prior trained on rendered skeletons. Prints one JSON object.

The prior is the demo's (``prior_demo`` on a ``hyper-sapiens synth --preset demo`` folder's skeletons, trained here
unless ``--prior`` names one). Scored with :func:`hyper_sapiens.prior.score_keypoints` (lower = more plausible),
each group beside the prior's own held-out rendered poses (the validation sequences of its training split):

- ``syrip_train/<posture>``: SyRIP's real training annotations (``--syrip``, FiDIP layout, the image field
  ``posture``), labelled joints only;
- ``openpose/<clip>``: OpenPose tracks of real clips (``--openpose DIR``, read as ``train-prior --openpose`` reads
  them: :mod:`hyper_sapiens.data.openpose`), frames with at least ``min_visible`` joints.

Per group: poses scored (``n``), poses the normaliser cannot use (no hips or torso: ``invalid``), mean and median
score, the share above the held-out rendered poses' 95th percentile (``flagged``: 0.05 for poses like the rendered
ones), and the AUC of the group against the held-out rendered poses (0.5: the prior cannot tell them apart; 1: every
real pose scores less plausible than every rendered one).

With ``--prior-openpose`` the prior is trained (or, with ``--prior``, was trained) on the rendered skeletons plus
the ``--openpose`` tracks, as ``train-prior --openpose`` does; the reference is then its held-out rendered poses
(the rendered files of its validation split), and the OpenPose groups are its training data (or held out, as the
split has it), not an independent test: SyRIP's poses are.

    python benchmarks/prior_real_poses.py --data data/demo --syrip SYRIP \\
        [--openpose OPENPOSE --openpose-videos VIDEOS [--prior-openpose]] [--prior prior.safetensors] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyper_sapiens.data.io import read_json
from hyper_sapiens.data.syrip_layout import syrip_file
from hyper_sapiens.keypoints import COCO17


def syrip_poses(root: str, split: str = "train") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """SyRIP's annotations of ``split`` (FiDIP layout) per image ``posture``: ``{posture: (keypoints (N, 17, 2)
    pixels, visible (N, 17))}``; annotations without labelled keypoints are left out."""
    coco = read_json(syrip_file(root, "fidip", f"{split}_ann"))
    posture = {im["id"]: str(im.get("posture", "unknown")) for im in coco["images"]}
    groups: dict[str, list[np.ndarray]] = {}
    for ann in coco["annotations"]:
        kp = np.asarray(ann.get("keypoints") or [], np.float32).reshape(-1, 3)
        if kp.shape != (COCO17.num_keypoints, 3) or not (kp[:, 2] > 0).any():
            continue
        groups.setdefault(posture[ann["image_id"]], []).append(kp)
    return {name: (np.stack(v)[..., :2], (np.stack(v)[..., 2] > 0).astype(np.float32))
            for name, v in sorted(groups.items())}


def group_stats(scores: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """The numbers of one group against the held-out rendered poses' scores ``reference``."""
    from hyper_sapiens.prior.quality import auc

    ok = scores[np.isfinite(scores)]
    ref = reference[np.isfinite(reference)]
    threshold = float(np.quantile(ref, 0.95))
    return {"n": int(len(ok)), "invalid": int((~np.isfinite(scores)).sum()),
            "mean": float(ok.mean()) if len(ok) else None, "median": float(np.median(ok)) if len(ok) else None,
            "flagged": float((ok > threshold).mean()) if len(ok) else None,
            "auc_vs_rendered": auc(ok, ref) if len(ok) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a `synth --preset demo` folder (its skeletons/)")
    parser.add_argument("--prior", default=None, help="a prior trained on those skeletons (default: train one)")
    parser.add_argument("--syrip", default=None, help="SyRIP in FiDIP's layout: its training annotations")
    parser.add_argument("--openpose", action="append", default=[], help="OpenPose folder(s), as train-prior reads")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--openpose-frame-size", default=None, help="WxH: the OpenPose files hold fractions")
    size.add_argument("--openpose-videos", default=None, help="the clips, for each folder's frame size")
    parser.add_argument("--prior-openpose", action="store_true",
                        help="the prior learns the --openpose tracks beside the rendered skeletons")
    parser.add_argument("--out", default=None, help="keep the trained prior here (default: a temporary folder)")
    args = parser.parse_args()
    if args.prior_openpose and not args.openpose:
        parser.error("--prior-openpose needs --openpose")

    from hyper_sapiens.data.openpose import load_openpose_sequences
    from hyper_sapiens.prior import PosePrior, score_keypoints
    from hyper_sapiens.prior.command import frame_size, load_prior_config
    from hyper_sapiens.prior.train import build_prior, prepare_data, train_prior

    over = [f"data.root={Path(args.data).resolve()}", "train.progress=false"]
    if args.prior_openpose:
        over.append(f"data.openpose=[{','.join(str(Path(d).resolve()) for d in args.openpose)}]")
        if args.openpose_videos:
            over.append(f"data.openpose_videos={Path(args.openpose_videos).resolve()}")
        if args.openpose_frame_size:
            w, h = frame_size(args.openpose_frame_size)
            over.append(f"data.openpose_frame_size=[{w},{h}]")
    cfg = load_prior_config("prior_demo", over)
    report: dict[str, Any] = {"data": args.data, "prior_config": "prior_demo", "prior_openpose": args.prior_openpose}
    with tempfile.TemporaryDirectory() as tmp:
        prior_path = Path(args.prior) if args.prior else Path(args.out or tmp) / "prior" / "prior.safetensors"
        if not args.prior:
            start = time.perf_counter()
            train_prior(cfg, str(prior_path.parent))
            report["train_s"] = round(time.perf_counter() - start, 1)
        report["prior"] = str(prior_path)
        prior = PosePrior.load(prior_path)
        prior.eval()
        data = prepare_data(cfg, build_prior(cfg))  # the same seeded split as training: raw["val"] is held out

        def score(kp: np.ndarray, vis: np.ndarray) -> np.ndarray:
            return score_keypoints(prior, torch.from_numpy(np.asarray(kp, np.float32)),
                                   torch.from_numpy(np.asarray(vis, np.float32))).numpy()

        reference = score(*data.raw["val_files"])
        report["rendered_held_out"] = {**group_stats(reference, reference), "files": data.summary["val_files"]}
        groups: dict[str, Any] = {}
        if args.syrip:
            poses = syrip_poses(args.syrip, "train")
            for name, (kp, vis) in poses.items():
                groups[f"syrip_train/{name}"] = group_stats(score(kp, vis), reference)
            kp = np.concatenate([p[0] for p in poses.values()])
            vis = np.concatenate([p[1] for p in poses.values()])
            groups["syrip_train/all"] = group_stats(score(kp, vis), reference)
        if args.openpose:
            size = frame_size(args.openpose_frame_size) if args.openpose_frame_size else None
            tracks = load_openpose_sequences(args.openpose, frame_size=size, videos=args.openpose_videos)
            min_visible = int(cfg["data"]["min_visible"])
            all_scores = []
            for track in tracks:
                seq = track.sequence
                keep = (seq.visible > 0).sum(1) >= min_visible
                s = score(seq.keypoints[keep], seq.visible[keep]) if keep.any() else np.zeros(0)
                all_scores.append(s)
                groups[f"openpose/{seq.path.name}"] = {**group_stats(s, reference), **track.summary()}
            groups["openpose/all"] = group_stats(np.concatenate(all_scores), reference)
        report["groups"] = groups
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
