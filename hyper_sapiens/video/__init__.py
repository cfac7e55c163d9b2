"""Video: one infant tracked top-down through a recording, its keypoints cleaned, movement features measured.

``reader`` (frames of a video file or a folder), ``tracker`` (the crop box from frame to frame, batched
inference), ``cleaning`` (gaps, interpolation, temporal filters), ``features`` (speeds, range of motion,
symmetry), ``outputs`` (CSV, JSON, the drawn video) and ``command`` (the ``video`` verb). See docs/video.md.
"""
