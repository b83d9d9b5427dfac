"""Files written whole (index/files.py): the manifest, the synced roots, the `qa new`
marks and fetched articles all go through one writer."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from index.files import replace_file


def test_writers_at_once_each_leave_a_whole_file_and_nothing_beside_it(tmp_path):
    """Two syncs of different collections write synced-roots.json at once: with one fixed
    temporary name, one writer's rename took the other's half-written file, and the
    other's rename failed."""
    path = tmp_path / "synced-roots.json"
    contents = [f'{{"writer": {n}, "pad": "{"x" * 20000 * (n + 1)}"}}'.encode() for n in range(4)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(50):
                replace_file(path, data)
        except BaseException as exc:  # noqa: BLE001 - any failure of a writer is the finding
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(data,)) for data in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_bytes() in contents
    assert [p.name for p in tmp_path.iterdir()] == ["synced-roots.json"]


def test_a_write_that_fails_leaves_the_old_file(tmp_path):
    path = tmp_path / "manifest.json"
    replace_file(path, b'{"old": true}')
    with pytest.raises(TypeError):
        replace_file(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b'{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_files_get_the_mode_a_plain_open_gives_them_and_private_ones_0600(tmp_path):
    """A data folder shared by a group: the manifest, the synced roots and fetched articles
    follow the umask as any file the user writes; only the settings file (it may hold an
    API key) stays the owner's alone."""
    old = os.umask(0o022)
    try:
        replace_file(tmp_path / "synced-roots.json", b"[]")
        replace_file(tmp_path / "config.toml", b"x = 1", private=True)
        os.umask(0o027)
        replace_file(tmp_path / "looked.json", b"{}")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"synced-roots.json": 0o644, "config.toml": 0o600, "looked.json": 0o640}
