"""Atomic files: whole or not at all, with the permissions of an ordinary file; the one JSON converter."""

import json
import os
import stat

import numpy as np
import pytest

from brainlz.files import atomic_write, jsonable, write_json, write_text


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


def test_jsonable_gives_strict_json_of_every_kind_of_value():
    from brian2 import ms

    value = {1: np.arange(3), "x": (np.float64(0.5), np.int32(2), np.bool_(True)), "bad": [np.nan, -np.inf],
             "grid": np.array([[np.nan, 1.0]]), "q": 3 * ms, "none": None, "s": "text"}
    expected = {"1": [0, 1, 2], "x": [0.5, 2, True], "bad": [None, None], "grid": [[None, 1.0]], "q": "3. ms",
                "none": None, "s": "text"}
    converted = jsonable(value)
    assert converted == expected
    assert type(converted["x"][2]) is bool and type(converted["x"][1]) is int
    assert json.loads(json.dumps(converted, allow_nan=False)) == expected  # strict JSON: no NaN, no Infinity
