"""Video: one infant tracked top-down through a recording, its keypoints cleaned, movement features measured.

``reader`` (frames of a video file or a folder), ``tracker`` (the crop box from frame to frame, batched
inference), ``cleaning`` (gaps, interpolation, temporal filters), ``features`` (speeds, range of motion,
symmetry), ``outputs`` (CSV, JSON, the drawn video), ``command`` (the ``video`` verb) and ``truth`` (a
track's error and jitter against the true joints of a synthetic MINI-RGBD-style sequence). See docs/video.md.
"""
