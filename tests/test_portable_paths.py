"""Absolute paths rewritten against named folders, so that shipped files carry no machine's layout."""

from __future__ import annotations

from hyper_sapiens.portable_paths import ELSEWHERE, absolute_paths_in, is_absolute_path, portable


def test_paths_under_an_anchor_become_named_and_others_keep_only_their_name():
    value = {
        "out": "/home/alice/runs/pre",
        "data": {"adults": "/home/alice/runs/pre/data/adults", "real": "/mnt/d/real-adults/annotations/val.json"},
        "list": ["/home/alice/runs/pre/train/", "relative/path.json", 3, None],
        "other": "/etc/passwd",
        "text": "a sentence / with a slash",
    }
    got = portable(value, {"OUT": "/home/alice/runs/pre", "REAL_ADULTS": "/mnt/d/real-adults"})
    assert got == {
        "out": "OUT",
        "data": {"adults": "OUT/data/adults", "real": "REAL_ADULTS/annotations/val.json"},
        "list": ["OUT/train", "relative/path.json", 3, None],
        "other": f"{ELSEWHERE}/passwd",
        "text": "a sentence / with a slash",
    }
    assert absolute_paths_in(got) == []
    assert absolute_paths_in(value) == [
        "out: /home/alice/runs/pre", "data.adults: /home/alice/runs/pre/data/adults",
        "data.real: /mnt/d/real-adults/annotations/val.json", "list[0]: /home/alice/runs/pre/train/",
        "other: /etc/passwd",
    ]


def test_the_deepest_anchor_names_a_path_and_a_prefix_is_not_a_parent():
    anchors = {"OUT": "/r/pre", "ADULTS": "/r/pre/data/adults"}
    assert portable("/r/pre/data/adults/images", anchors) == "ADULTS/images"
    assert portable("/r/pre/data/demo", anchors) == "OUT/data/demo"
    assert portable("/r/prefix/x", anchors) == f"{ELSEWHERE}/x"  # /r/prefix is not under /r/pre


def test_windows_and_home_paths_count_as_absolute():
    assert is_absolute_path("C:\\Users\\bob\\x.json") and is_absolute_path("~/runs") and is_absolute_path("/x")
    assert not is_absolute_path("runs/x") and not is_absolute_path("") and not is_absolute_path("OUT/train")
