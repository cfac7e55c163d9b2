"""Rendering speed per SyRIP-style image: the data set writer's own per-image function, one process, the ``demo``
preset (256x256), the first ``--images`` images of ``train_syn`` (PNG with depth, normal and part maps) and of
``train_real`` (JPEG), written to a temporary folder. Prints one JSON object (milliseconds per image).

Run it against another checkout to compare versions side by side (the script only uses what every version has):

    nice -n 19 python benchmarks/synth_speed.py --images 50
    PYTHONPATH=/path/to/other/checkout nice -n 19 python benchmarks/synth_speed.py --images 50
    nice -n 19 python benchmarks/synth_speed.py --images 50 --no-scenery   # this version without the scenes
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace

import cv2

from hyper_sapiens.synth import dataset
from hyper_sapiens.synth.presets import get_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50, help="images per split (default: 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-scenery", action="store_true", help="render with scenery.NO_SCENERY")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as the writer's workers do
    preset = get_preset("demo")
    if args.no_scenery:
        from hyper_sapiens.synth.scenery import NO_SCENERY

        preset = replace(preset, scenery=NO_SCENERY)
    result = {"images_per_split": args.images, "image_size": list(preset.image_size)}
    with tempfile.TemporaryDirectory() as out:
        dataset._init_worker_inline({"preset": preset, "seed": args.seed, "out": out})
        for split in ("train_syn", "train_real"):
            start = time.perf_counter()
            for index in range(1, args.images + 1):
                dataset._render_syrip(split, index)
            result[f"{split}_ms"] = round((time.perf_counter() - start) / args.images * 1000.0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
