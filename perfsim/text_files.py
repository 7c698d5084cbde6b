"""Reading the user's text files (network files, hardware configs, sweep specs, SCALE-Sim
topologies and configs): UTF-8 text, or one error naming the file and the line.

A name that cannot be a file (too long for the file system, a NUL byte in it) is not a file
(:func:`is_file`), so a command that also takes names (``--hw matrix_engine``) says what the
name is not rather than failing inside the operating system.
"""

from __future__ import annotations

from pathlib import Path

from perfsim.errors import PerfsimError


def is_file(path: str | Path) -> bool:
    """Whether ``path`` names an existing regular file; False for a name no file can have."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # ENAMETOOLONG, "embedded null byte"
        return False


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(path: str | Path, error: type[PerfsimError]) -> str:
    """The text of ``path``, decoded as UTF-8 (a leading byte-order mark dropped); ``error``
    says why not: no such file, a directory, unreadable, not UTF-8 or binary (a NUL byte),
    with the line of the first offending byte."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise error(f"{path}: cannot read it: {reason}") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise error(f"{path}:{_line_of(data, nul)}: a NUL byte: this is not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{path}:{_line_of(data, err.start)}: byte 0x{data[err.start]:02x} is not "
                    f"UTF-8 text; perfsim reads text files as UTF-8: save the file as UTF-8"
                    ) from None
