"""The one atomic writer: a failed write leaves the old file and no temporary file behind."""

from __future__ import annotations

import pytest

from hyper_sapiens.io_atomic import atomic_write, atomic_write_bytes, temp_path


def test_atomic_write_bytes_creates_folders_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "file.bin"
    assert atomic_write_bytes(target, b"one") == target
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert not temp_path(target).exists()


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert not temp_path(target).exists()
