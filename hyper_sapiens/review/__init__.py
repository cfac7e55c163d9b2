"""``hyper-sapiens review``: a local page to check a clip's keypoints, correct the wrong ones, and save the
corrections as a COCO keypoint file that ``train`` reads (``docs/video.md`` § Review and correct).

Modules, one job each: :mod:`.clip` reads the folder the ``video`` verb wrote, :mod:`.media` finds the recording
and decides whether a browser can play it (else extracts JPEG frames), :mod:`.corrections` validates and saves
corrections (``review/annotations.json``, ``review/images/``, review columns of ``keypoints.csv``),
:mod:`.server` serves the page on 127.0.0.1 behind a random token, :mod:`.command` is the verb. The page itself
(HTML + vanilla JavaScript) is in ``static/``.
"""
