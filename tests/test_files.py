"""Files written whole (index/files.py): the manifest, the synced roots, the `qa new`
marks and fetched articles all go through one writer."""

from __future__ import annotations

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
