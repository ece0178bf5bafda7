"""A content-addressed SQLite cache of raw model outputs.

The key is a SHA-256 of canonical JSON of everything that changes an output: provider, model,
endpoint, rendered messages, template identity, the generation settings that were set, and the
sample index. Never timeouts, retries or concurrency, and never a secret. Values are readable
JSON (the raw completion, finish reason and usage), so verdicts can be re-parsed offline.
Several processes may share one file (WAL mode, busy timeout).

Writes leave the caller's thread (the event loop) at once: ``put`` hands the row to a writer
thread, which wakes once per batch, lets rows gather for ``COMMIT_EVERY`` seconds and commits
them in one transaction (SQLite does its work with the GIL released). Until a row is committed
it sits in an in-memory map that ``get`` reads first, so this process always sees its own
writes. The trade-off: a process killed with SIGKILL loses the rows not yet committed, normally
the last few tens of milliseconds of answers. That costs money only if their judgments were not
recorded either; records.jsonl (appended as each example completes) is what a rerun resumes
from, and the cache only saves paying for a request twice. ``flush`` waits for the writer;
``close`` flushes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from rmbench.errors import UserError

MAX_ROWS_PER_COMMIT = 5000
COMMIT_EVERY = 0.1  # seconds the writer lets rows gather before one commit (few wake-ups and GIL handoffs)
_DELETED = object()


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    root = os.environ.get("RMBENCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rmbench")
    return Path(root) / "judgments.sqlite"


def _connect(path: Path, wait: float = 60.0) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=wait, isolation_level=None, check_same_thread=False)
    # Switching a new file to WAL takes an exclusive lock, and SQLite answers "database is locked"
    # at once, without its busy wait, when another process is opening the same new file (two runs
    # started together with one --cache): try again for as long as the busy timeout would wait.
    deadline = time.monotonic() + wait
    delay = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class Cache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()          # the reading connection
        self._db = _connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                         "created REAL)")
        self._pending: dict[str, Any] = {}     # key -> JSON text (or _DELETED) not yet committed
        self._queue: list[tuple[str, Any]] = []  # the same rows, in order, for the writer
        self._signals: list[threading.Event] = []  # flush() waiters
        self._stop = False
        self._lock_q = threading.Lock()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False
        self.hits = 0
        self.misses = 0

    # -- reading ----------------------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        with self._lock_q:
            blob = self._pending.get(key)
        if blob is None:
            with self._lock:
                row = self._db.execute("SELECT value FROM outputs WHERE key = ?", (key,)).fetchone()
            blob = row[0] if row is not None else None
        if blob is None or blob is _DELETED:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(blob)

    def __len__(self) -> int:
        self.flush()
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]

    # -- writing ----------------------------------------------------------------------------
    def put(self, key: str, value: dict) -> None:
        self._enqueue(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def delete(self, key: str) -> None:
        self._enqueue(key, _DELETED)

    def _enqueue(self, key: str, blob: Any) -> None:
        if self._error is not None:
            raise UserError(f"cannot write the judgment cache {self.path}: {self._error}")
        with self._lock_q:
            self._pending[key] = blob
            self._queue.append((key, blob))
            first = len(self._queue) == 1
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="rmbench-cache-writer", daemon=True)
            self._writer.start()
        if first:  # one wake-up per batch, not per row: the loop thread barely notices the writer
            self._wake.set()

    def flush(self) -> None:
        """Return once everything put so far is committed."""
        if self._writer is None or not self._writer.is_alive():
            return
        done = threading.Event()
        with self._lock_q:
            self._signals.append(done)
        self._wake.set()
        while not done.wait(0.5):
            if not self._writer.is_alive():
                break

    def _write_loop(self) -> None:
        db = _connect(self.path)
        try:
            while True:
                self._wake.wait()
                with self._lock_q:
                    hurry = bool(self._signals) or self._stop
                if not hurry:
                    time.sleep(COMMIT_EVERY)  # let rows gather: one commit for many answers
                with self._lock_q:
                    batch, self._queue = self._queue, []
                    signals, self._signals = self._signals, []
                    stop = self._stop
                    self._wake.clear()
                for i in range(0, len(batch), MAX_ROWS_PER_COMMIT):
                    self._commit(db, batch[i:i + MAX_ROWS_PER_COMMIT])
                for ev in signals:
                    ev.set()
                if stop:
                    return
        except BaseException as e:  # reported by the next put
            self._error = e
            with self._lock_q:
                self._pending.clear()
                for ev in self._signals:
                    ev.set()
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, batch: list[tuple[str, Any]]) -> None:
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            start = 0
            while start < len(batch):  # runs of puts go in one executemany; deletes keep their place
                end = start
                deleting = batch[start][1] is _DELETED
                while end < len(batch) and (batch[end][1] is _DELETED) == deleting:
                    end += 1
                if deleting:
                    db.executemany("DELETE FROM outputs WHERE key = ?", [(k,) for k, _ in batch[start:end]])
                else:
                    db.executemany("INSERT OR REPLACE INTO outputs (key, value, created) VALUES (?, ?, ?)",
                                   [(k, b, now) for k, b in batch[start:end]])
                start = end
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._lock_q:
            for key, blob in batch:
                if self._pending.get(key) is blob:  # a newer write of the key stays pending
                    del self._pending[key]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None and self._writer.is_alive():
            with self._lock_q:
                self._stop = True
            self._wake.set()
            self._writer.join()
        with self._lock:
            self._db.close()
