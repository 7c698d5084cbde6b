"""Writing results to disk: a file appears whole or not at all, survives a power loss once
written, and only ever replaces a regular file.

A destination must be missing or a regular file. Anything else is refused with a
:class:`DestinationError` before a byte is written: a directory, a device, a FIFO, a socket, and
a symbolic link (never followed: renaming over it would replace the link, writing through it
would land wherever it points; give the target's own path instead). Nothing is written under
``/dev``, ``/proc`` or ``/sys`` (their real paths, so links to them are caught too).

The data goes to a temporary file beside the destination, is fsynced, renamed over the
destination, and the directory is fsynced, so after a crash the destination holds its old
content or its new one, never an empty or partial file. Temporary files are named
``.NAME.PID.RANDOM.tmp``; one left by a killed process (its PID no longer running) is removed the
next time NAME is written.

What is written carries one time, :func:`created_utc`, which ``SOURCE_DATE_EPOCH`` pins (the
reproducible-builds convention), so two runs of one command write the same bytes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from perfsim.errors import PerfsimError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # reading the umask sets it: put it back at once (at import, one thread)
_FILE_MODE = 0o666 & ~_UMASK
"""mkstemp makes files private (0600); results get the usual permissions instead."""

SYSTEM_ROOTS = (Path("/dev"), Path("/proc"), Path("/sys"))
"""Kernel file systems: perfsim never writes under them."""
TEMP_SUFFIX = ".tmp"

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"))


class DestinationError(PerfsimError):
    """A destination perfsim will not write: not a regular file, a link, or a system path."""


def check_destination(path: str | Path) -> None:
    """Raise :class:`DestinationError` unless ``path`` may be written by :func:`write_atomic`
    (missing or a regular file, not a link, not under a system root). Other ``OSError``\\ s of
    looking at it (a parent that is a file, no permission) propagate."""
    path = Path(path)
    real = Path(os.path.realpath(path.parent)) / path.name
    for root in SYSTEM_ROOTS:
        if real.is_relative_to(root):
            raise DestinationError(f"{path}: perfsim never writes under {root}; give a path "
                                   f"to a regular file elsewhere")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise DestinationError(f"{path}: is a symbolic link (to {os.readlink(path)}); perfsim "
                               f"does not write through links: give the target's own path, "
                               f"or remove the link")
    for is_kind, kind in _KINDS:
        if is_kind(mode):
            raise DestinationError(f"{path}: is {kind}, not a regular file; perfsim only "
                                   f"replaces regular files: give another path")


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, fsync it and rename it over
    ``path`` (atomic on POSIX file systems), then fsync the directory. ``path`` is checked
    first (:func:`check_destination`)."""
    path = Path(path)
    check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                               dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)
    try:
        write(Path(tmp))
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a directory's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Remove the temporary files of ``path`` whose writer no longer runs."""
    prefix = f".{path.name}."
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if not (entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX)):
                continue
            pid, _, rest = entry.name[len(prefix):-len(TEMP_SUFFIX)].partition(".")
            if pid.isdigit() and rest and "." not in rest and not _running(int(pid)):
                Path(entry.path).unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def created_utc() -> str:
    """Now, or ``SOURCE_DATE_EPOCH`` when set, as ISO 8601 UTC to the second."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH")
    if pinned is None:
        return datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        return datetime.fromtimestamp(int(pinned), timezone.utc).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        raise PerfsimError(f"SOURCE_DATE_EPOCH must be a whole number of seconds since "
                           f"1970-01-01 UTC (such as 1700000000), got {pinned!r}") from None
