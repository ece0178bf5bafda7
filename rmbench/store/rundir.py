"""A run directory: ``run.json``, ``records.jsonl`` (appended as work completes),
``summary.json`` and ``summary.md`` (written only when the run is complete).

Guarantees: an exclusive lock (two runs cannot write the same directory); a torn last line left
by a crash is cut off on reopen; a rerun with the same settings resumes, skipping completed
examples; ``summary.json`` is written atomically and only for a complete run.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from rmbench.errors import UserError

RUN_JSON = "run.json"
RECORDS = "records.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
LOCK = ".lock"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._=+-]+")


def default_run_name(model: str, tasks: list[str]) -> str:
    name = f"{model.replace('/', '__')}--{'+'.join(tasks)}"
    return _SAFE_NAME.sub("_", name).strip("._") or "run"


def safe_run_dir(output_dir: str | os.PathLike, run_name: str) -> Path:
    """The run directory under the output root; a name that would escape it is refused."""
    if not run_name or run_name in (".", ".."):
        raise UserError(f"--run-name '{run_name}' is not a usable name")
    if os.path.isabs(run_name) or any(part == ".." for part in Path(run_name).parts) or "\\" in run_name:
        raise UserError(f"--run-name '{run_name}' must be a plain name inside the output directory")
    if "\x00" in run_name:
        raise UserError("--run-name contains a NUL byte")
    root = Path(output_dir).resolve()
    path = (root / run_name).resolve()
    if root != path and root not in path.parents:
        raise UserError(f"--run-name '{run_name}' points outside the output directory")
    return path


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


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
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


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def dumps_record(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def read_records(path: Path, repair: bool = False) -> Iterator[dict]:
    """Records from a records.jsonl; a torn or corrupt line (a crash mid-write) is skipped, and
    with ``repair`` a torn tail is cut off the file."""
    if not path.exists():
        return
    if repair:
        _repair_tail(path)
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn tail
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def _repair_tail(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # find the last newline and cut everything after it
        pos = size
        chunk = 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            data = f.read(pos - start)
            idx = data.rfind(b"\n")
            if idx >= 0:
                f.truncate(start + idx + 1)
                return
            pos = start
        f.truncate(0)


class RunDir:
    def __init__(self, path: Path):
        self.path = path
        self._lock_fd: int | None = None
        self._records_fh = None

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def create(cls, output_dir: str, run_name: str, identity: dict, overwrite: bool = False) -> "RunDir":
        path = safe_run_dir(output_dir, run_name)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create output directory {path}: {e.strerror or e}") from None
        if not os.access(path, os.W_OK):
            raise UserError(f"output directory {path} is not writable")
        rd = cls(path)
        rd._lock()
        try:
            rd._check_identity(identity, overwrite)
        except BaseException:
            rd.close()
            raise
        return rd

    def _lock(self) -> None:
        import fcntl

        try:
            fd = os.open(self.path / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as e:
            raise UserError(f"cannot write to output directory {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(f"another rmbench run is using {self.path} (locked); wait for it or pick another --run-name") from None
        self._lock_fd = fd

    def _check_identity(self, identity: dict, overwrite: bool) -> None:
        run_json = self.path / RUN_JSON
        if not run_json.exists():
            return
        try:
            previous = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = {}
        same = previous.get("identity") == identity
        if overwrite:
            for name in (RECORDS, SUMMARY_JSON, SUMMARY_MD, RUN_JSON):
                (self.path / name).unlink(missing_ok=True)
        elif not same and (self.path / RECORDS).exists():
            diff = sorted(k for k in set(identity) | set(previous.get("identity") or {})
                          if identity.get(k) != (previous.get("identity") or {}).get(k))
            raise UserError(f"{self.path} holds a run with different settings ({', '.join(diff) or 'unknown'}); "
                            "use another --run-name or --overwrite")

    # -- records ------------------------------------------------------------------------
    def completed(self) -> dict[tuple[str, str], dict]:
        return {(r["task"], r["id"]): r for r in read_records(self.path / RECORDS, repair=True)
                if "task" in r and "id" in r}

    def drop_records(self, keep: Iterable[dict]) -> None:
        """Rewrite records.jsonl with only ``keep`` (used by --retry-failed)."""
        text = "".join(dumps_record(r) + "\n" for r in keep)
        write_text_atomic(self.path / RECORDS, text)

    def append(self, record: dict) -> None:
        try:
            if self._records_fh is None:
                self._records_fh = open(self.path / RECORDS, "a", encoding="utf-8")
            self._records_fh.write(dumps_record(record) + "\n")
            self._records_fh.flush()
        except OSError as e:
            raise write_error(self.path / RECORDS, e) from None

    def sync(self) -> None:
        if self._records_fh is not None:
            try:
                self._records_fh.flush()
                os.fsync(self._records_fh.fileno())
            except OSError as e:
                raise write_error(self.path / RECORDS, e) from None

    def finalize_records(self, records: list[dict]) -> None:
        """Rewrite records.jsonl in canonical (dataset) order, atomically."""
        if self._records_fh is not None:
            try:
                self._records_fh.close()
            except OSError as e:
                raise write_error(self.path / RECORDS, e) from None
            finally:
                self._records_fh = None
        write_text_atomic(self.path / RECORDS, "".join(dumps_record(r) + "\n" for r in records))

    def invalidate_summary(self) -> None:
        for name in (SUMMARY_JSON, SUMMARY_MD):
            (self.path / name).unlink(missing_ok=True)

    def write_run_json(self, data: dict) -> None:
        write_json_atomic(self.path / RUN_JSON, data)

    def write_summary(self, summary: dict, markdown: str) -> None:
        write_json_atomic(self.path / SUMMARY_JSON, summary)
        write_text_atomic(self.path / SUMMARY_MD, markdown)

    def close(self) -> None:
        if self._records_fh is not None:
            try:
                self._records_fh.close()
            except OSError:
                pass
            self._records_fh = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def load_run(path: str | os.PathLike) -> dict:
    """A finished run as {"path", "run", "summary"}; a clear error for anything else."""
    p = Path(path)
    if p.is_file() and p.name == SUMMARY_JSON:
        p = p.parent
    if not p.is_dir():
        raise UserError(f"{path}: not a run directory")
    summ = p / SUMMARY_JSON
    if not summ.exists():
        raise UserError(f"{path}: no summary.json (the run is incomplete or not an rmbench run)")
    try:
        summary = json.loads(summ.read_text(encoding="utf-8"))
        run = json.loads((p / RUN_JSON).read_text(encoding="utf-8")) if (p / RUN_JSON).exists() else {}
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable run files: {e}") from None
    tasks = summary.get("tasks") if isinstance(summary, dict) else None
    if not isinstance(tasks, dict) or not all(isinstance(t, dict) for t in tasks.values()) or not isinstance(run, dict):
        raise UserError(f"{path}: summary.json is not an rmbench summary (expected {{\"tasks\": {{name: {{...}}}}}})")
    return {"path": str(p), "run": run, "summary": summary}
