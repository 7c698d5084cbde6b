"""The tiling search's answers kept on disk between runs.

A run costs its layers by tiling searches, whose kernels (:mod:`.nest_kernels`) answer three
questions: a table's ranking at one capacity, buffer count and rates (the row chosen, its
cycles and link cycles, and the range of rooms it stands for), a row's tiling and bytes per
role, and the fewest bytes any row of a table moves (a layer's floor); on a hierarchy with
local levels, a layer's tiling of them all is a fourth (:func:`answered`). Running the same layers
on the same hardware again asks the same questions. While :func:`kept` is in force the answers
are looked up in a file first, and the ones made are added to it when the block ends: a run
that finds every answer there calls no kernel, so it neither imports Numba nor starts its CPU
target (about 0.3 s of a warm ``perfsim run``, its largest part). A run with a question not
there (a new layer, new rates) computes that answer as before and pays that start-up then.

The answers are the kernels' own, bit for bit: each is looked up by the :func:`digest` of
everything its kernel reads (the nest, the costs, the levels above, the capacity, buffer
counts and rates, exactly), in a file named by a fingerprint of perfsim's source files,
NumPy's version and Numba's installed files, so an upgrade or an edit of perfsim starts a new
file. The file is an SQLite database (Python's ``sqlite3``): a run reads only the answers it
asks for, whatever the file's size, and adds its own in one transaction, so runs ending at
once both keep theirs and a run stopped midway adds nothing. A file that cannot be read as
answers (truncated, another format) is ignored, and replaced when the block ends. It keeps
:data:`MAX_KEPT_ANSWERS`, the directory :data:`KEPT_FILES`.

The directory is ``$PERFSIM_CACHE_DIR`` if set, else the user's cache directory
(``platformdirs``: ``~/.cache/perfsim`` on Linux). The command line's ``perfsim run`` keeps
answers; the library keeps none unless asked (``with kept(): ...``), and a sweep never does
(its points ask questions once each, by the thousand).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pickle
import time
from collections.abc import Iterator, Mapping
from importlib.util import find_spec
from pathlib import Path

import numpy as np

MAX_KEPT_ANSWERS = 100_000
"""Answers a file keeps, the most recently written (about 200 bytes each on disk). A run reads
only the answers it asks for (MobileNet V1 on one config asks about 300 questions), so the
file's size costs a run nothing but disk."""

KEPT_FILES = 4
"""Files of answers a directory keeps (each perfsim installation, or edit, writes its own),
the most recently written."""

MISSING = object()
"""What :meth:`KeptAnswers.get` returns for a question without a kept answer."""


class KeptAnswers:
    """Answers by question, from the SQLite file at ``path`` (none if it is missing or cannot
    be read), and those this run made, which :meth:`save` adds to it."""

    def __init__(self, path: Path):
        self.path = path
        self.answers: dict = {}  # this run's, found or made, by question
        self.made: dict[bytes, bytes] = {}  # digest of the question -> pickled answer
        self._names: dict[tuple, bytes] = {}
        self._forms: dict = {}
        self._file = None  # an sqlite3.Connection once opened; False: none to read

    def table_name(self, key: tuple) -> bytes:
        """A search table's key (``(nest, costs, values, orders, shape, level)``, the arrays as
        bytes: :func:`~.nest_search._one_level_key`) as its :func:`digest` (kept per key, the
        nest's canonical form per nest: layers alike share it)."""
        found = self._names.get(key)
        if found is None:
            nest = key[0]
            form = self._forms.get(nest)
            if form is None:
                form = self._forms[nest] = canonical(nest)
            found = self._names[key] = digest((form, *key[1:]))
        return found

    def get(self, question: tuple):
        """The answer kept for ``question``, or :data:`MISSING`."""
        found = self.answers.get(question, MISSING)
        if found is MISSING and self._reader():
            import sqlite3

            try:
                row = self._file.execute("SELECT answer FROM answers WHERE question = ?",
                                         (digest(question),)).fetchone()
            except sqlite3.Error:  # not a file of answers after all
                self._file = False
                return MISSING
            if row is not None:
                found = self.answers[question] = pickle.loads(row[0])
        return found

    def answer(self, question: tuple, compute, *args):
        """The answer kept for ``question``, else ``compute(*args)``, kept."""
        found = self.get(question)
        if found is MISSING:
            found = compute(*args)
            self.keep(question, found)
        return found

    def keep(self, question: tuple, answer) -> None:
        self.answers[question] = answer
        self.made[digest(question)] = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)

    def _reader(self) -> bool:
        """Whether there is a file to read answers from (opened, read-only, on first use)."""
        if self._file is None:
            import sqlite3  # 5 ms: only where answers are kept

            try:
                self._file = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro",
                                             uri=True)
            except sqlite3.Error:  # missing
                self._file = False
        return self._file is not False

    def save(self) -> None:
        """Add the answers made to the file, in one transaction, keeping the
        :data:`MAX_KEPT_ANSWERS` most recently written, and the directory's
        :data:`KEPT_FILES` most recently written files (nothing when no answer was made). A
        file that is not a file of answers is replaced; one that cannot be written is left as
        it is: the answers are only kept for speed."""
        self.close()
        if not self.made:
            return
        import sqlite3

        for _ in range(2):
            try:
                self._write()
                break
            except (sqlite3.OperationalError, OSError):  # read-only, or held by another run
                break  # too long (an OperationalError is a DatabaseError too: caught first)
            except sqlite3.DatabaseError:  # not a file of answers: start it afresh
                self.path.unlink(missing_ok=True)
        _prune(self.path.parent, self.path.name)

    def close(self) -> None:
        """Close the file read from, if open."""
        if self._file:
            self._file.close()
        self._file = False

    def _write(self) -> None:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(self.path, timeout=10)) as file, file:
            file.execute("CREATE TABLE IF NOT EXISTS answers (question BLOB PRIMARY KEY, "
                         "answer BLOB NOT NULL, written INTEGER NOT NULL) WITHOUT ROWID")
            now = time.time_ns()
            file.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                             ((question, answer, now) for question, answer
                              in self.made.items()))
            file.execute("DELETE FROM answers WHERE question IN (SELECT question FROM "
                         "answers ORDER BY written DESC LIMIT -1 OFFSET ?)",
                         (MAX_KEPT_ANSWERS,))


def _prune(directory: Path, own: str) -> None:
    """Remove the files of answers in ``directory`` beyond the :data:`KEPT_FILES` most
    recently written (never ``own``)."""
    try:
        files = sorted(directory.glob("searches-*.sqlite"), key=lambda p: p.stat().st_mtime_ns,
                       reverse=True)
        for path in [p for p in files if p.name != own][KEPT_FILES - 1:]:
            path.unlink(missing_ok=True)
    except OSError:
        pass


_active: KeptAnswers | None = None


def active() -> KeptAnswers | None:
    """The answers in force (:func:`kept`), or None."""
    return _active


@contextlib.contextmanager
def kept(directory: str | os.PathLike | None = None) -> Iterator[KeptAnswers]:
    """Answer the tiling searches from the kept file in ``directory`` (default:
    :func:`cache_directory`) while the block runs, and add the answers made to it when the
    block ends without an error."""
    global _active
    answers = KeptAnswers(Path(directory or cache_directory()) / f"searches-{fingerprint()}.sqlite")
    previous, _active = _active, answers
    try:
        yield answers
    except BaseException:
        answers.close()
        raise
    finally:
        _active = previous
    answers.save()


def cache_directory() -> Path:
    """``$PERFSIM_CACHE_DIR``, else the user's cache directory for perfsim."""
    given = os.environ.get("PERFSIM_CACHE_DIR")
    if given:
        return Path(given)
    import platformdirs

    return Path(platformdirs.user_cache_dir("perfsim"))


_fingerprint: str | None = None


def fingerprint() -> str:
    """:func:`fingerprint_of` perfsim's own package, once a process (81 files, about 4 ms)."""
    global _fingerprint
    if _fingerprint is None:
        _fingerprint = fingerprint_of(Path(__file__).resolve().parents[2])
    return _fingerprint


def fingerprint_of(package: Path) -> str:
    """16 hex digits naming what the answers depend on beyond their questions: the source
    files of ``package`` (their paths and bytes), NumPy's version, and Numba's installed
    package (its ``__init__.py``'s path, size and time: an upgrade replaces it)."""
    found = hashlib.blake2b(np.__version__.encode(), digest_size=8)
    try:
        numba = find_spec("numba")
    except (ImportError, ValueError):  # a stand-in module without a spec
        numba = None
    if numba is not None and numba.origin:
        stat = os.stat(numba.origin)
        found.update(f"{numba.origin}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for path in sorted(package.rglob("*.py")):
        source = path.read_bytes()
        found.update(str(path.relative_to(package)).encode() + b"\0")
        found.update(len(source).to_bytes(8, "little") + source)
    return found.hexdigest()


def answered(question: tuple, compute, *args):
    """``compute(*args)``, answered by the kept answers in force (:func:`kept`) to
    ``question``, whose :func:`digest` names it: everything the answer depends on."""
    if _active is None:
        return compute(*args)
    return _active.answer(digest(question), compute, *args)


def digest(value) -> bytes:
    """16 bytes that stand for ``value``'s content in any process (:func:`canonical`)."""
    data = pickle.dumps(canonical(value), protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.blake2b(data, digest_size=16).digest()


def canonical(value):
    """``value`` as plain tuples, strings and numbers (hashable), the same in every process: a
    dataclass as its class's name and its fields, a set sorted, a mapping as its items in
    order, an array as its type, shape and values (a record's padding left out, which its bytes
    would carry). A float keeps every bit, as pickle writes it."""
    if isinstance(value, (str, bytes, int, float, type(None))):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(map(canonical, value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(map(canonical, value), key=repr)))
    if isinstance(value, Mapping):
        return ("mapping", tuple((canonical(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, canonical(value.tolist()))
    if dataclasses.is_dataclass(value):
        return (type(value).__qualname__,
                tuple(canonical(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"no canonical form for {type(value).__name__}")
