"""File operations inside a run directory that never follow a link out of it.

Every file rmbench reads or writes in a run directory (run.json, records.jsonl, summary.json,
summary.md, batches.json, gate.md, the lock) goes through these functions. Each opens with
``O_NOFOLLOW``: a symbolic link planted in place of a file is refused with a one-line error
instead of being followed to a file elsewhere (which a rerun would otherwise truncate or append
to). Atomic writes create a fresh temporary file (``O_EXCL``) next to the target and rename it
over the target; the rename replaces a link itself, never what it points to.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterator

from rmbench.errors import UserError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def write_error(path: Path, e: OSError) -> UserError:
    """A disk problem as a one-line error that says what is kept."""
    if e.errno == errno.ENOSPC:
        why = "disk full"
    elif e.errno == errno.EFBIG:
        why = "file size limit reached"
    elif e.errno == errno.EROFS:
        why = "read-only file system"
    else:
        why = e.strerror or str(e)
    return UserError(f"cannot write {path}: {why}; completed records are kept, rerun the same command to resume")


def link_error(path: Path) -> UserError:
    return UserError(f"{path} is a symbolic link; rmbench never follows a link out of a run directory "
                     "(replace it with the real file, or start over with --overwrite)")


def _is_link_error(e: OSError, path: Path) -> bool:
    # O_NOFOLLOW on a link fails with ELOOP (Linux) or EMLINK/EFTYPE (BSDs)
    return e.errno in (errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", -1)) or path.is_symlink()


def open_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` for a regular file of a run directory, and nothing else: a symbolic link, a
    directory, a FIFO or a device at ``path`` is refused (a FIFO never blocks the open), and a file
    opened for writing in place (append, truncate) must have no other name (a hard link would carry
    the writes to a file elsewhere)."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as e:
        if _is_link_error(e, path):
            raise link_error(path) from None
        if e.errno == errno.EISDIR:
            raise not_a_file(path, "a directory") from None
        if e.errno == errno.ENXIO:
            raise not_a_file(path, "a FIFO or socket") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise not_a_file(path, "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        in_place = flags & os.O_APPEND or (flags & os.O_RDWR and not flags & os.O_CREAT)
        if in_place and st.st_nlink > 1:
            raise UserError(f"{path} has other names (a hard link); rmbench writes a run directory's files "
                            "in place only when they are the run's own (copy it to a fresh file, or --overwrite)")
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def not_a_file(path: Path, what: str) -> UserError:
    # --overwrite removes a link or a FIFO, never a directory (it may hold anything)
    how = "remove it" if what == "a directory" else "remove it (or start over with --overwrite)"
    return UserError(f"{path} is {what}, where rmbench keeps a file; {how}")


def remove(path: Path) -> None:
    """Delete a file of a run directory (a link is removed itself, never its target)."""
    if path.is_dir() and not path.is_symlink():
        raise not_a_file(path, "a directory")
    try:
        path.unlink(missing_ok=True)
    except OSError as e:
        raise write_error(path, e) from None


def _opener(path: Path):
    def opener(p, flags):
        return open_fd(Path(p), flags)

    return opener


def open_text(path: Path, mode: str = "r"):
    """A text file inside a run directory (UTF-8), never through a link."""
    return open(path, mode, encoding="utf-8", opener=_opener(path))


def open_binary(path: Path, mode: str = "rb"):
    return open(path, mode, opener=_opener(path))


def read_text(path: Path) -> str:
    with open_text(path) as f:
        return f.read()


def exists(path: Path) -> bool:
    """True for a file or a link (a link is refused when it is opened)."""
    return path.exists() or path.is_symlink()


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        if exists(tmp):
            remove(tmp)  # a leftover of a crash, or a planted link: removes the entry, not a target
        fd = open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise write_error(path, e) from None


def dumps_strict(data: Any, **kw: Any) -> str:
    """JSON that other tools can read: NaN and infinities are refused, not written."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False, **kw)
    except ValueError as e:
        raise UserError(f"refusing to write a value JSON cannot hold ({e}); check the numbers you passed") from None


def json_text(data: Any) -> str:
    """The text ``write_json_atomic`` writes for ``data``."""
    return dumps_strict(data, indent=2) + "\n"


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json_text(data))


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes (read without following a link)."""
    h = hashlib.sha256()
    with open_binary(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def iter_lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number from 1, text without the newline, whether the line ended with a newline)."""
    with open_binary(path) as f:
        for n, raw in enumerate(f, start=1):
            complete = raw.endswith(b"\n")
            yield n, raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r"), complete


def cut_torn_tail(path: Path) -> bool:
    """Cut a last line that has no newline (a write cut short by a crash); True if one was cut."""
    fd = open_fd(path, os.O_RDWR)
    with os.fdopen(fd, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return False
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        pos, chunk = size, 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            data = f.read(pos - start)
            idx = data.rfind(b"\n")
            if idx >= 0:
                f.truncate(start + idx + 1)
                return True
            pos = start
        f.truncate(0)
        return True
