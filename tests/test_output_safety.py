"""What perfsim writes: only regular files are ever replaced (never a device, a FIFO, a
directory, a symbolic link or anything under /dev or /proc), a file appears whole or not at
all and is fsynced before it is renamed into place, temporary files of killed writers are
cleaned, and outputs are byte-identical across runs once SOURCE_DATE_EPOCH pins the
provenance timestamp."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import perfsim.storage as storage
from perfsim.cli import main
from perfsim.storage import DestinationError, check_destination, write_text_atomic


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, err: str, path) -> None:
    assert code == 2, err
    assert err.startswith(f"perfsim: error: {path}: ") and len(err.splitlines()) == 1, err


def test_export_refuses_a_fifo_a_symlink_and_a_directory_and_leaves_them_as_they_were(
        tmp_path, capsys):
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    target = tmp_path / "kept.onnx"
    target.write_bytes(b"the user's file")
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    directory = tmp_path / "folder.onnx"
    directory.mkdir()
    for path, says in ((fifo, "is a FIFO"), (link, "is a symbolic link"),
                       (directory, "is a directory")):
        code, out, err = _cli(capsys, "export", "lenet5", path)
        _refused(code, err, path)
        assert says in err and out == ""
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert link.is_symlink() and target.read_bytes() == b"the user's file"
    assert directory.is_dir() and not any(directory.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["folder.onnx", "kept.onnx", "link.onnx", "pipe.onnx"]  # no temporary file left


def test_export_refuses_a_device_file(tmp_path, capsys):
    """A character device made in the temporary directory (a twin of /dev/null: needs root),
    never the real /dev."""
    device = tmp_path / "null.onnx"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device file needs root")
    code, _, err = _cli(capsys, "export", "lenet5", device)
    _refused(code, err, device)
    assert "is a character device" in err
    assert stat.S_ISCHR(os.lstat(device).st_mode)


@pytest.mark.parametrize("path", ["/dev/null", "/dev/full", "/dev/shm/perfsim.onnx",
                                  "/proc/self/perfsim.onnx", "/sys/perfsim.onnx"])
def test_nothing_is_written_under_dev_proc_or_sys(path):
    """The check alone (it writes nothing): a system path is refused before any file is
    touched, whatever is or is not there."""
    with pytest.raises(DestinationError, match=f"^{path}: perfsim never writes under /"):
        check_destination(path)


def test_a_link_into_dev_is_caught_by_its_real_path(tmp_path):
    (tmp_path / "devices").symlink_to("/dev")
    with pytest.raises(DestinationError, match="never writes under /dev"):
        check_destination(tmp_path / "devices" / "out.onnx")


def test_a_run_whose_run_json_is_a_symlink_is_refused_before_any_file_is_written(
        tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    (out / "run.json").symlink_to(elsewhere)
    code, _, err = _cli(capsys, "run", "lenet5", "--hw", "matrix_engine", "--out", out)
    _refused(code, err, out / "run.json")
    assert [p.name for p in out.iterdir()] == ["run.json"]  # layers.csv not written either
    assert (out / "run.json").is_symlink() and elsewhere.read_text() == "{}"


def test_a_fault_between_write_and_rename_keeps_the_old_file_and_leaves_no_temp(
        tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    path.write_text("old")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_the_temp_file_is_fsynced_before_the_rename_and_the_directory_after(
        tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    fsync, replace = storage.fsync_path, os.replace

    def record_fsync(path):
        events.append(("fsync", Path(path).name))
        fsync(path)

    def record_replace(src, dst):
        events.append(("replace", Path(src).name))
        replace(src, dst)

    monkeypatch.setattr(storage, "fsync_path", record_fsync)
    monkeypatch.setattr(storage.os, "replace", record_replace)
    write_text_atomic(tmp_path / "result.json", "new")
    temp = events[0][1]
    assert temp.startswith(f".result.json.{os.getpid()}.") and temp.endswith(".tmp")
    assert events == [("fsync", temp), ("replace", temp), ("fsync", tmp_path.name)]
    assert (tmp_path / "result.json").read_text() == "new"


def test_temp_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".result.json.{dead_pid}.abc123.tmp"
    live = tmp_path / f".result.json.{os.getpid()}.def456.tmp"  # another thread's, say
    other = tmp_path / f".result.json.7.{dead_pid}.ghi789.tmp"  # the file "result.json.7"'s
    for temp in (stale, live, other):
        temp.write_bytes(b"x" * 1000)
    write_text_atomic(tmp_path / "result.json", "new")
    assert not stale.exists() and live.exists() and other.exists()


def _outputs(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != "sweep.lock" and "parts" not in p.parts}


def test_outputs_are_byte_identical_across_runs_with_source_date_epoch(
        tmp_path, capsys, monkeypatch):
    """The same commands in two directories: every file written is identical byte for byte
    (run.json, its report and PNGs, an ONNX export, a sweep's tables and manifest)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("workloads: [lenet5]\nhw: matrix_engine\n"
                    "grid: {engines.mxu.rows: [8, 16]}\n")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    outputs = []
    for name in ("first", "second"):
        where = tmp_path / name
        where.mkdir()
        monkeypatch.chdir(where)
        for args in (["run", "lenet5", "--hw", "matrix_engine", "--out", "o", "--report", "o"],
                     ["export", "lenet5", "o/lenet5.onnx"],
                     ["sweep", spec, "--out", "o/sweep", "--workers", "1"]):
            code, _, err = _cli(capsys, *args)
            assert code == 0, err
        outputs.append(_outputs(where / "o"))
    assert {"run.json", "report.html", "lenet5.onnx", "sweep/sweep.parquet"} <= set(outputs[0])
    assert b'"created_utc": "2023-11-14T22:13:20+00:00"' in outputs[0]["run.json"]
    assert outputs[0] == outputs[1]


def test_a_bad_source_date_epoch_is_one_clean_error(capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    code, _, err = _cli(capsys, "list")
    assert code == 2 and err == ("perfsim: error: SOURCE_DATE_EPOCH must be a whole number of "
                                 "seconds since 1970-01-01 UTC (such as 1700000000), got "
                                 "'yesterday'\n")
