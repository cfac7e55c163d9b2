"""Data set sizes: ``tiny`` (unit tests), ``demo`` (the embedded default), ``bench`` (benchmarks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .postures import check_mix
from .scenery import DEFAULT_SCENERY, SceneryRates

DEMO_POSTURE_MIX: tuple[tuple[str, float], ...] = (
    # SyRIP's real training images are 45 % prone, 35 % supine, 17 % sitting, 3 % standing; standing gets a
    # little more (its real test images are 11 % standing) and crawling is counted with prone. Infants held up by
    # an adult are SyRIP's Standing: their 3 % come out of the standing share, which stays at 5 %.
    ("prone", 0.18), ("prone_forearms", 0.10), ("prone_hands", 0.06), ("crawling", 0.10),     # Prone 44 %
    ("supine", 0.25), ("side_left", 0.04), ("side_right", 0.04),                              # Supine 33 %
    ("sitting_free", 0.08), ("sitting_tripod", 0.05), ("sitting_supported", 0.05),           # Sitting 18 %
    ("standing_free", 0.01), ("standing_holding", 0.01), ("held_upright", 0.03),             # Standing 5 %
)
"""The fine postures of the presets' images and skeleton sequences and their shares (sum 1)."""

LYING_ONLY_MIX: tuple[tuple[str, float], ...] = (
    ("supine", 0.76), ("prone", 0.12), ("side_left", 0.06), ("side_right", 0.06))
"""The renderer's mix before non-lying postures existed (for a preset that wants it)."""


@dataclass(frozen=True)
class Preset:
    """How much to render. Image sizes are (width, height) in pixels."""

    name: str
    image_size: tuple[int, int]
    train_syn: int
    train_real: int
    test_real: int
    labelled_fraction: float          # of train_real images that carry keypoints
    minirgbd_sequences: int
    minirgbd_frames: int
    minirgbd_size: tuple[int, int]    # MINI-RGBD is 640x480; smaller sizes scale its intrinsics
    skeleton_sequences: int
    skeleton_frames: int
    fps: float
    syn_subjects: int                 # distinct infants per split (test infants never appear in training)
    real_subjects: int
    test_subjects: int
    posture_mix: tuple[tuple[str, float], ...] = field(default=DEMO_POSTURE_MIX)
    views: str = "mixed"              # "mixed": camera views per posture kind (camera.VIEW_MIX); "above": all above
    scenery: SceneryRates = field(default=DEFAULT_SCENERY)  # floors, rugs, sofas, cots, blankets, adult hands

    def __post_init__(self) -> None:
        check_mix(self.posture_mix)
        if self.views not in ("mixed", "above"):
            raise ValueError(f"preset {self.name!r}: views must be 'mixed' or 'above', got {self.views!r}")

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny", image_size=(128, 128), train_syn=12, train_real=8, test_real=6, labelled_fraction=0.5,
        minirgbd_sequences=2, minirgbd_frames=3, minirgbd_size=(160, 120),
        skeleton_sequences=5, skeleton_frames=64, fps=30.0, syn_subjects=6, real_subjects=4, test_subjects=3,
    ),
    "demo": Preset(
        name="demo", image_size=(256, 256), train_syn=1000, train_real=400, test_real=200, labelled_fraction=0.25,
        minirgbd_sequences=4, minirgbd_frames=50, minirgbd_size=(640, 480),
        skeleton_sequences=100, skeleton_frames=200, fps=30.0, syn_subjects=120, real_subjects=60, test_subjects=30,
    ),
    "bench": Preset(
        name="bench", image_size=(256, 256), train_syn=5000, train_real=2000, test_real=1000, labelled_fraction=0.25,
        minirgbd_sequences=12, minirgbd_frames=100, minirgbd_size=(640, 480),
        skeleton_sequences=500, skeleton_frames=200, fps=30.0, syn_subjects=400, real_subjects=200, test_subjects=100,
    ),
}


def get_preset(name: str, image_size: tuple[int, int] | None = None) -> Preset:
    """The preset called ``name``, optionally with another SyRIP-style image size (width, height)."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown synth preset {name!r}; known: {sorted(PRESETS)}") from None
    if image_size is not None:
        w, h = (int(v) for v in image_size)
        if w < 32 or h < 32:
            raise ValueError(f"image_size must be at least 32x32 pixels, got {w}x{h}")
        preset = replace(preset, image_size=(w, h))
    return preset
