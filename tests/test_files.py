"""Atomic files: whole or not at all, with the permissions of an ordinary file."""

import json
import os
import stat

import numpy as np
import pytest

from brainlz.files import atomic_write, write_json, write_text


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_text(tmp_path / "a.txt", "hello\n")
        with atomic_write(tmp_path / "b.npz") as handle:
            np.savez(handle, x=np.arange(3))
    finally:
        os.umask(old)
    assert path.read_text() == "hello\n"
    assert _mode(path) == 0o666 & ~umask and _mode(tmp_path / "b.npz") == 0o666 & ~umask
    np.testing.assert_array_equal(np.load(tmp_path / "b.npz")["x"], np.arange(3))


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path, error):
    path = write_text(tmp_path / "result.json", "old\n")
    with pytest.raises(error):
        with atomic_write(path, "w") as handle:
            handle.write("half of the new")
            raise error("stopped while writing")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_write_json_is_indented_json_with_a_newline(tmp_path):
    data = {"b": [1, 2.5, None], "a": {"x": "y"}}
    path = write_json(tmp_path / "sub" / "d.json", data, make_parents=True)
    assert path.read_text() == json.dumps(data, indent=2) + "\n"
    assert json.loads(path.read_text()) == data


def test_bad_mode_and_missing_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "missing" / "x.txt", "text")
    assert not (tmp_path / "missing").exists()
