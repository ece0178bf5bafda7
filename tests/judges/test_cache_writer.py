"""The judgment cache writes from a background thread: the process always reads its own writes,
rows reach the file promptly without being asked, ``flush`` makes them durable (a SIGKILL after
it loses nothing), and other processes see committed rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from rmbench.judges.cache import Cache
from tests.helpers import REPO


def _rows_on_disk(path) -> dict[str, str]:
    db = sqlite3.connect(str(path), timeout=30)
    try:
        return dict(db.execute("SELECT key, value FROM outputs").fetchall())
    finally:
        db.close()


def test_reads_see_writes_that_are_not_committed_yet(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = Cache(path)
    cache.put("warm", {"text": "w"})
    cache.flush()
    blocker = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer thread must wait
    try:
        cache.put("k1", {"text": "one"})
        cache.put("k2", {"text": "two"})
        cache.delete("warm")
        time.sleep(0.2)
        assert "k1" not in _rows_on_disk(path)  # not committed...
        assert cache.get("k1") == {"text": "one"} and cache.get("k2") == {"text": "two"}  # ...but visible here
        assert cache.get("warm") is None
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    cache.flush()
    rows = _rows_on_disk(path)
    assert set(rows) == {"k1", "k2"} and rows["k1"] == '{"text":"one"}'
    assert len(cache) == 2
    cache.close()


def test_rows_are_committed_without_a_flush_and_seen_by_other_processes(tmp_path):
    path = tmp_path / "c.sqlite"
    a = Cache(path)
    for i in range(500):
        a.put(f"k{i}", {"text": str(i)})
    deadline = time.monotonic() + 10
    while len(_rows_on_disk(path)) < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_rows_on_disk(path)) == 500
    b = Cache(path)  # another process's view: a separate connection to the same file
    assert b.get("k499") == {"text": "499"} and b.get("nope") is None
    a.put("k0", {"text": "new"})  # the later write of a key wins
    a.flush()
    assert b.get("k0") == {"text": "new"}
    a.close()
    b.close()


def test_flushed_rows_survive_a_kill(tmp_path):
    path = tmp_path / "c.sqlite"
    code = ("import sys, time\nfrom rmbench.judges.cache import Cache\n"
            f"c = Cache({str(path)!r})\n"
            "for i in range(2000):\n    c.put(f'k{i}', {'text': 'x' * 100, 'i': i})\n"
            "c.flush()\nprint('flushed', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "flushed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    rows = _rows_on_disk(path)
    assert len(rows) == 2000 and '"i":1999' in rows["k1999"]


def test_close_commits_everything(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = Cache(path)
    for i in range(3000):  # more than one commit's worth
        cache.put(f"k{i}", {"i": i})
    cache.close()
    cache.close()  # twice is harmless
    assert len(_rows_on_disk(path)) == 3000


def test_processes_opening_one_new_cache_file_together_all_succeed(tmp_path):
    """Two runs started together with one --cache: SQLite refuses the switch of a new file to WAL
    at once ("database is locked", no busy wait) while another process opens it; each opener
    tries again instead of failing the run. 6 processes open 15 new files, each at one instant."""
    # a barrier, not a clock: each child says it is ready (imports done), and the start instant is
    # written only once all six are, so a slow start-up cannot spread the opens apart
    gate = tmp_path / "go"
    code = ("import os, sys, time; sys.path.insert(0, sys.argv[3]); from rmbench.judges.cache import Cache\n"
            "open(f'{sys.argv[1]}/ready.{sys.argv[2]}', 'w').close()\n"
            "while not os.path.exists(f'{sys.argv[1]}/go'): time.sleep(0.001)\n"
            "start = float(open(f'{sys.argv[1]}/go').read())\n"
            "for i in range(15):\n"
            "    time.sleep(max(0.0, start + 0.05 * i - time.time()))\n"
            "    c = Cache(f'{sys.argv[1]}/{i}.sqlite'); c.put('k', {'x': 1}); c.close()\n"
            "print('ok')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(n), str(REPO)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(6)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready.*"))) < 6:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a child did not start"
        time.sleep(0.005)
    tmp = tmp_path / "go.tmp"
    tmp.write_text(str(time.time() + 0.2))
    tmp.rename(gate)   # whole when it appears
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs if err][:1]
    assert [o.strip() for o, _ in outs] == ["ok"] * 6
