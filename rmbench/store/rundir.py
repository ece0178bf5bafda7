"""A run directory: ``run.json``, ``records.jsonl`` (appended as work completes), ``summary.json``
and ``summary.md`` (written only when the run is complete).

Guarantees:
- an exclusive lock: two runs cannot write the same directory;
- no file in it is followed through a symbolic link (``store/files.py``);
- a rerun resumes only a run it can identify: records without a readable ``run.json`` are never
  adopted, and every record line carries the run's identity hash, so records of another
  configuration are refused even when ``run.json`` has been replaced;
- on resume a torn last line (a crash mid-write) is cut off, and a line that is not a valid
  record is dropped with a note (its example is judged again);
- every reader of a finished run validates each artifact (``store/schema.py``) and checks that
  records.jsonl holds exactly the run's examples, each once, in order; anything else is a
  one-line error naming the file and line, never a different number;
- summary.json is written atomically and only for a complete run.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Callable, Iterable

from rmbench.config import check_run_name
from rmbench.errors import UserError
from rmbench.store import files
from rmbench.store.files import write_error, write_json_atomic, write_text_atomic

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
    check_run_name(run_name)
    root = Path(output_dir).resolve()
    path = (root / run_name).resolve()
    if path.parent != root:
        raise UserError(f"--run-name '{run_name}' points outside the output directory")
    return path


def dumps_record(record: dict) -> str:
    return files.dumps_strict(record, separators=(",", ":"))


class BadLine:
    """A records.jsonl line that is not a valid record."""

    def __init__(self, number: int, why: str):
        self.number, self.why = number, why

    def __str__(self) -> str:
        return f"line {self.number}: {self.why}"


def scan_records(path: Path) -> tuple[list[tuple[int, dict]], list[BadLine], bool]:
    """Every line of a records file: (valid records with their line numbers, bad lines, whether
    the last line is torn). Nothing is repaired here."""
    from rmbench.store.schema import record_problem

    good: list[tuple[int, dict]] = []
    bad: list[BadLine] = []
    torn = False
    for n, text, complete in files.iter_lines(path):
        if not complete:
            torn = True
            break
        if not text.strip():
            continue
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except ValueError as e:
            bad.append(BadLine(n, f"not valid JSON ({e})"))
            continue
        except RecursionError:
            bad.append(BadLine(n, "not valid JSON (nested too deeply to read)"))
            continue
        why = record_problem(data)
        if why:
            bad.append(BadLine(n, f"not a valid record ({why})"))
        else:
            good.append((n, data))
    return good, bad, torn


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def read_records(path: Path) -> list[dict]:
    """Every record of a records file, strictly: a bad or torn line is a one-line error."""
    good, bad, torn = scan_records(path)
    if bad:
        raise UserError(f"{path} {bad[0]}")
    if torn:
        raise UserError(f"{path}: the last line is cut short (an unfinished run); rerun its command to finish it")
    return [r for _, r in good]


class RunDir:
    """A run directory opened for writing by one run (holding its lock)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock_fd: int | None = None
        self._records_fh = None
        self.previous: dict | None = None   # the run.json found on opening, if any
        self.identity_hash: str | None = None

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def create(cls, output_dir: str, run_name: str, identity: dict, identity_hash: str,
               overwrite: bool = False) -> "RunDir":
        path = safe_run_dir(output_dir, run_name)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create output directory {path}: {e.strerror or e}") from None
        if not os.access(path, os.W_OK):
            raise UserError(f"output directory {path} is not writable")
        rd = cls(path)
        rd.identity_hash = identity_hash
        lock = path / LOCK
        if overwrite and (lock.is_symlink() or (lock.exists() and not lock.is_file() and not lock.is_dir())):
            files.remove(lock)  # a planted link (to anything) or FIFO, never a lock a run holds
        rd.lock()
        try:
            rd._check_identity(identity, identity_hash, overwrite)
        except BaseException:
            rd.close()
            raise
        return rd

    def lock(self) -> None:
        import fcntl

        try:
            fd = files.open_fd(self.path / LOCK, os.O_CREAT | os.O_RDWR)
        except OSError as e:
            raise UserError(f"cannot write to output directory {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(f"another rmbench run is using {self.path} (locked); wait for it or pick another --run-name") from None
        self._lock_fd = fd

    def _check_identity(self, identity: dict, identity_hash: str, overwrite: bool) -> None:
        names = (RECORDS, SUMMARY_JSON, SUMMARY_MD, RUN_JSON, RUN_JSON + ".tmp", SUMMARY_JSON + ".tmp",
                 SUMMARY_MD + ".tmp", RECORDS + ".tmp")
        if overwrite:
            for name in names:
                p = self.path / name
                if files.exists(p):
                    files.remove(p)  # removes a link itself, never its target
            return
        has_records = files.exists(self.path / RECORDS)
        run_json = self.path / RUN_JSON
        if run_json.is_dir() and not run_json.is_symlink():
            raise files.not_a_file(run_json, "a directory")  # --overwrite would not lift it
        if not files.exists(run_json):
            if has_records:
                raise UserError(f"{self.path} holds records but no run.json, so nothing says which run made them; "
                                "use --overwrite to start over or another --run-name")
            return
        from rmbench.store.schema import read_run_json

        try:
            previous = read_run_json(run_json)
        except UserError as e:
            if has_records:
                raise UserError(f"{self.path} holds records but its run.json is unreadable ({e}); "
                                "use --overwrite to start over or another --run-name") from None
            return
        self.previous = previous
        if has_records and previous.get("identity") != identity:
            before = previous.get("identity") or {}
            diff = sorted(k for k in set(identity) | set(before) if identity.get(k) != before.get(k))
            raise UserError(f"{self.path} holds a run with different settings ({', '.join(diff) or 'unknown'}); "
                            "use another --run-name or --overwrite")

    # -- records ------------------------------------------------------------------------
    def completed(self, note: Callable[[str], None] | None = None) -> dict[tuple[str, str], dict]:
        """The records already on disk, for a resumed run. A torn tail is cut off; lines that are
        not valid records are left out (their examples are judged again) and reported through
        ``note``; a record of another run configuration is an error."""
        path = self.path / RECORDS
        if not files.exists(path):
            return {}
        files.cut_torn_tail(path)
        good, bad, _ = scan_records(path)
        for b in bad:
            (note or _stderr)(f"note: {path.name} {b}; left out, its example will be judged again")
        out: dict[tuple[str, str], dict] = {}
        for n, r in good:
            mine = r.get("run_identity")
            if mine is None:  # written by an rmbench before 0.2, under the run.json checked above
                r["run_identity"] = self.identity_hash
            elif mine != self.identity_hash:
                raise UserError(f"{path} line {n} was written by another run configuration (identity {mine}, "
                                f"this run is {self.identity_hash}); use --overwrite or another --run-name")
            out[(r["task"], r["id"])] = r
        return out

    def drop_records(self, keep: Iterable[dict]) -> None:
        """Rewrite records.jsonl with only ``keep`` (used by --retry-failed)."""
        write_text_atomic(self.path / RECORDS, "".join(dumps_record(r) + "\n" for r in keep))

    def append(self, record: dict) -> None:
        try:
            if self._records_fh is None:
                self._records_fh = files.open_text(self.path / RECORDS, "a")
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

    def _close_records(self, quiet: bool = False) -> None:
        fh, self._records_fh = self._records_fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError as e:
                if not quiet:
                    raise write_error(self.path / RECORDS, e) from None

    def finalize_records(self, records: list[dict]) -> None:
        """Rewrite records.jsonl in canonical (dataset) order, atomically."""
        self._close_records()
        self.drop_records(records)

    def invalidate_summary(self) -> None:
        for name in (SUMMARY_JSON, SUMMARY_MD):
            p = self.path / name
            if files.exists(p):
                files.remove(p)

    def write_run_json(self, data: dict) -> None:
        from rmbench.store.schema import RunJson, check

        check(RunJson, data, f"{self.path / RUN_JSON} (being written)")
        write_json_atomic(self.path / RUN_JSON, data)

    def write_summary(self, summary: dict, markdown: str) -> str:
        return write_summary(self.path, summary, markdown)

    def close(self) -> None:
        self._close_records(quiet=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def write_summary(path: Path, summary: dict, markdown: str) -> str:
    """Write summary.json and summary.md; returns summary.json's SHA-256, which run.json keeps
    (``summary_sha256``) so that a summary edited afterwards is noticed by every reader."""
    import hashlib

    from rmbench.store.schema import Summary, check

    check(Summary, summary, f"{path / SUMMARY_JSON} (being written)")
    text = files.json_text(summary)
    files.write_text_atomic(path / SUMMARY_JSON, text)
    write_text_atomic(path / SUMMARY_MD, markdown)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_report(run_dir: Path, name: str, text: str) -> Path:
    """A report file (e.g. gate.md) written into a run directory, never through a link."""
    out = Path(run_dir) / name
    write_text_atomic(out, text)
    return out


# -- reading finished runs ----------------------------------------------------------------------

def run_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.is_file() and p.name in (SUMMARY_JSON, RUN_JSON):
        p = p.parent
    if not p.is_dir():
        raise UserError(f"{path}: not a run directory")
    return p


def load_run(path: str | os.PathLike) -> dict:
    """A finished run as {"path", "run", "summary"}: summary.json validated, run.json validated
    when present (a bare summary.json copied elsewhere has none)."""
    from rmbench.store.schema import read_run_json, read_summary

    p = run_path(path)
    if not files.exists(p / SUMMARY_JSON):
        raise UserError(f"{path}: no summary.json (the run is incomplete or not an rmbench run)")
    summary = read_summary(p / SUMMARY_JSON)
    if not files.exists(p / RUN_JSON) and files.exists(p / RECORDS):
        # a damaged run directory, not a bare summary: read as one, a gate would quietly go unpaired
        raise UserError(f"{path} holds records but no run.json, so nothing says which run made them; "
                        "rerun the run's command with --overwrite (leaderboard and gate also read a summary.json "
                        "named on its own)")
    run = read_run_json(p / RUN_JSON) if files.exists(p / RUN_JSON) else {}
    if run and run.get("status") != "complete":
        raise UserError(f"{path}: run.json says the run is {run.get('status')}; its summary.json is stale "
                        "(rerun the run's command to finish it)")
    _same_run(p, run, summary)
    return {"path": str(p), "run": run, "summary": summary}


def _same_run(p: Path, run: dict, summary: dict | None) -> None:
    """summary.json and run.json must come from one run (their identity hashes agree), and the
    summary must be the one the run wrote (its SHA-256 is run.json's ``summary_sha256``)."""
    if not run or summary is None:
        return
    want, got = run.get("identity_hash"), summary.get("run_identity")
    if want is not None and got != want:
        raise UserError(f"{p / SUMMARY_JSON} belongs to another run (identity {got}, run.json says {want}); "
                        f"rerun 'rmbench rescore {p}' to recompute it")
    digest = run.get("summary_sha256")
    if digest is not None and files.sha256_of(p / SUMMARY_JSON) != digest:
        raise UserError(f"{p / SUMMARY_JSON} was changed after the run wrote it (its SHA-256 is not the one "
                        f"run.json records); rerun 'rmbench rescore {p}' to recompute it from the records")


def load_complete(path: str | os.PathLike, need_summary: bool = True,
                  checker: Callable[[dict], Callable[[dict], str | None]] | None = None) -> dict:
    """A finished run with its records, every artifact validated: {"path", "run", "summary",
    "records"}. The records must be exactly the run's examples, each once, in dataset order, all
    written by this run's configuration, and each pass the check ``checker`` makes for the run's
    tasks (the scorers' own reading of a record: ``scoring.record_checker``) when one is given."""
    from rmbench.store.schema import ids_sha256, read_run_json, read_summary

    p = run_path(path)
    for name in (RUN_JSON, RECORDS):
        if not files.exists(p / name):
            raise UserError(f"{path}: not a run directory (no {name})")
    run = read_run_json(p / RUN_JSON)
    if run.get("status") != "complete":
        raise UserError(f"{path}: the run is not complete (status '{run.get('status')}'); "
                        "rerun its command to finish it first")
    tasks = run.get("tasks")
    if not tasks:
        raise UserError(f"{p / RUN_JSON}: no per-task record of options and examples (written by an rmbench "
                        "older than 0.2); rerun the run's command with --overwrite to redo it")
    summary = read_summary(p / SUMMARY_JSON) if need_summary and files.exists(p / SUMMARY_JSON) else None
    if need_summary and summary is None:
        raise UserError(f"{path}: no summary.json; rerun 'rmbench rescore {path}' or the run's command")
    _same_run(p, run, summary)
    path_r = p / RECORDS
    good, bad, torn = scan_records(path_r)
    if bad:
        raise UserError(f"{path_r} {bad[0]}")
    if torn:
        raise UserError(f"{path_r}: the last line is cut short; the run was damaged after it finished")
    want = run.get("identity_hash")
    check = checker(tasks) if checker is not None else None
    by_task: dict[str, list[tuple[int, dict]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for n, r in good:
        if want is not None and r.get("run_identity") != want:
            raise UserError(f"{path_r} line {n} was not written by this run (identity "
                            f"{r.get('run_identity')}, run.json says {want})")
        key = (r["task"], r["id"])
        if key in seen:
            raise UserError(f"{path_r} line {n}: example '{key[1]}' of task '{key[0]}' appears again "
                            f"(first on line {seen[key]})")
        seen[key] = n
        if r["task"] not in tasks:
            raise UserError(f"{path_r} line {n}: task '{r['task']}' is not part of this run")
        why = check(r) if check is not None else None
        if why:
            raise UserError(f"{path_r} line {n}: {why}")
        by_task.setdefault(r["task"], []).append((n, r))
    records: list[dict] = []
    for task, info in tasks.items():
        got = by_task.get(task, [])
        sel = info["selection"]
        if len(got) != sel["n"]:
            raise UserError(f"{path_r}: task '{task}' has {len(got)} records; the run judged {sel['n']} examples")
        if ids_sha256([r["id"] for _, r in got]) != sel["ids_sha256"]:
            raise UserError(f"{path_r}: the records of task '{task}' are not the run's examples in its order "
                            "(an id was changed, replaced or moved)")
        records.extend(r for _, r in got)
    return {"path": str(p), "run": run, "summary": summary, "records": records}
