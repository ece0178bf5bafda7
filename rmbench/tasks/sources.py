"""Row sources: the Hugging Face hub by default, local JSON / JSONL / parquet files or folders
with ``--data-path``, and the embedded demo samples. What was read is recorded (hub id, split,
revision and fingerprint, or file paths and their sha256).

Hub datasets go through ``datasets.load_dataset`` and its cache, as usual. Local files are read
one at a time and never copied into a global cache:

- JSON and JSON Lines with Python's own ``json``, so every value stays exactly as written (an id
  column of ``1, 2, 3.5`` stays ``"1", "2", "3.5"``; pyarrow's JSON reader would unify it to
  floats, fill keys a row lacks with nulls, and copy the file into the datasets cache);
- parquet through ``datasets``, loaded into memory from a temporary cache that is removed at once.

Each row comes with where it was found (the file, relative to ``--data-path``, and the row in
that file), so an error names the place a user can open.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rmbench.errors import UserError
from rmbench.tasks.spec import TaskSpec

LOCAL_SUFFIXES = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class Where:
    """Where a row was found: a file (as the user can find it) or a hub split, and the row in it."""

    source: str
    row: int
    path: Path | None = None

    def __str__(self) -> str:
        return f"{self.source} row {self.row}"


Rows = Iterator[tuple[dict, Where]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def local_files(data_path: str | os.PathLike) -> list[Path]:
    p = Path(data_path)
    if not p.exists():
        raise UserError(f"--data-path {p}: no such file or directory")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in LOCAL_SUFFIXES)
        if not files:
            raise UserError(f"--data-path {p}: no .json, .jsonl or .parquet files inside")
        kinds = {LOCAL_SUFFIXES[f.suffix.lower()] for f in files}
        if len(kinds) > 1:
            raise UserError(f"--data-path {p} mixes parquet and JSON files; point it at one kind")
        return files
    if p.suffix.lower() not in LOCAL_SUFFIXES:
        raise UserError(f"--data-path {p}: unsupported file type '{p.suffix}' (use .json, .jsonl or .parquet)")
    if not os.access(p, os.R_OK):
        raise UserError(f"--data-path {p}: file is not readable")
    return [p]


def _kind_of(value: Any) -> str:
    return "null" if value is None else {"list": "an array", "str": "a string", "bool": "a boolean",
                                         "dict": "an object"}.get(type(value).__name__, "a number")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_rows(path: Path, label: str) -> list[dict]:
    """The rows of a JSON file (an array of objects, or one object of equally long column
    lists) or a JSON Lines file (one object per line), values exactly as written."""
    try:
        data = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"could not read {label}: not valid UTF-8 text (byte {e.start}); re-save the file as UTF-8") from None
    except OSError as e:
        raise UserError(f"could not read {label}: {e.strerror or e}") from None
    head = data.lstrip()
    if not head:
        raise UserError(f"{label} holds no examples (the file is empty)")
    lines_mode = path.suffix.lower() == ".jsonl" or head[0] not in "[{"
    rows: Any = None
    try:
        if not lines_mode:
            try:
                rows = json.loads(data, parse_constant=_no_constant)
            except json.JSONDecodeError:
                if head[0] == "[":
                    raise
                lines_mode = True  # several JSON objects: JSON Lines under a .json name
        if lines_mode:
            return _unicode_checked(_lines(data, label), data, label)
    except json.JSONDecodeError as e:
        raise UserError(f"could not read {label}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except ValueError as e:
        raise UserError(f"could not read {label}: {e}") from None
    except RecursionError:
        raise UserError(f"could not read {label}: JSON nested too deeply to read") from None
    if isinstance(rows, dict):
        cols = list(rows.values())
        if rows and all(isinstance(c, list) for c in cols) and len({len(c) for c in cols}) == 1:
            keys = list(rows)
            rows = [dict(zip(keys, vals)) for vals in zip(*cols)]   # columns of equal length
        else:
            rows = [rows]                                           # one row
    if not isinstance(rows, list):
        raise UserError(f"could not read {label}: expected an array of objects, found {_kind_of(rows)}")
    if not rows:
        raise UserError(f"{label} holds no examples (an empty array)")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"could not read {label}: item {i} of the array is {_kind_of(row)}, not an object "
                            "with the task's columns")
    return _unicode_checked(rows, data, label)


def _unicode_checked(rows: list[dict], data: str, label: str) -> list[dict]:
    """JSON may escape a lone surrogate (``"\\ud800"``), which is not text: nothing could write it
    as UTF-8 (records, cache keys, prompts). Looked for only where the file has such an escape."""
    if "\\ud" not in data.lower():
        return rows
    for i, row in enumerate(rows):
        try:
            json.dumps(row, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(f"could not read {label}: row {i} is not valid Unicode text (an escaped lone "
                            "surrogate such as \\ud800)") from None
    return rows


def _lines(data: str, label: str) -> list[dict]:
    rows = []
    # lines end at "\n" only: str.splitlines would also cut at U+2028, U+0085, "\x1c" and the like,
    # which JSON allows unescaped inside strings
    for n, line in enumerate(data.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as e:
            raise UserError(f"could not read {label}: line {n} is not valid JSON ({e.msg}, column {e.colno})") from None
        except ValueError as e:
            raise UserError(f"could not read {label}: line {n}: {e}") from None
        if not isinstance(row, dict):
            raise UserError(f"could not read {label}: line {n} is {_kind_of(row)}, not a JSON object "
                            "with the task's columns")
        rows.append(row)
    if not rows:
        raise UserError(f"{label} holds no examples (only blank lines)")
    return rows


def _quiet_datasets():
    import logging

    import datasets

    datasets.disable_progress_bars()
    # datasets logs parse failures itself; we report them as one line instead
    logging.getLogger("datasets").setLevel(logging.CRITICAL)
    return datasets


def parquet_rows(path: Path, label: str) -> list[dict]:
    """A parquet file's rows, loaded into memory through ``datasets`` with a temporary cache
    (removed before returning: nothing is left in the user's datasets cache)."""
    datasets = _quiet_datasets()
    tmp = tempfile.mkdtemp(prefix="rmbench-parquet-")
    try:
        ds = datasets.load_dataset("parquet", data_files=[str(path)], split="train", cache_dir=tmp,
                                   keep_in_memory=True)
        rows = [dict(r) for r in _checked(ds, label)]
    except UserError:
        raise
    except Exception as e:  # datasets raises many types for unreadable or malformed files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"could not read {label}: {msg}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not rows:
        raise UserError(f"{label} holds no examples (no rows)")
    return rows


def _checked(ds, label: str) -> Iterator[dict]:
    """Rows of a loaded dataset; text that is not UTF-8 becomes a one-line error."""
    it = iter(ds)
    index = 0
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as e:
            raise UserError(f"{label}: row {index} is not valid UTF-8 text ({e.reason}); re-save the file as UTF-8") from None
        yield row
        index += 1


def _label(f: Path, root: Path) -> str:
    """A file as the user can find it: relative to --data-path when that is a folder."""
    if root.is_dir():
        try:
            return str(f.relative_to(root))
        except ValueError:
            pass
    return f.name


def iter_local_rows(spec: TaskSpec, data_path: str) -> tuple[Rows, dict]:
    """Rows from local files, one file at a time, each with its file and row number."""
    root = Path(data_path)
    files = local_files(data_path)
    provenance: dict[str, Any] = {"kind": "local", "path": str(root.resolve()),
                                  "files": {_label(f, root): _sha256(f) for f in files}}

    def gen() -> Rows:
        for f in files:
            label = _label(f, root)
            kind = LOCAL_SUFFIXES[f.suffix.lower()]
            rows = json_rows(f, label) if kind == "json" else parquet_rows(f, label)
            for pos, row in enumerate(rows):
                yield row, Where(label, pos, f)

    return gen(), provenance


def hub_reads(spec: TaskSpec) -> list[tuple[str | None, str, str]]:
    """What ``iter_hub_rows`` reads: (subset label or None, hub id, split) per dataset split.

    A task with ``source.hubs`` (one hub dataset per subset) reads the subsets its ``subsets``
    option names (all by default); a task with ``source.splits`` reads every split, or only those
    its ``split`` option names. Rows of a multi-dataset or multi-split read get their dataset's or
    split's name in a ``subset`` column, whatever their own ``subset`` column says (as RewardBench's
    ``load_eval_dataset`` names the pref-test-sets rows by split: their own column is the source
    dataset)."""
    src = spec.source
    if src.hubs:
        hubs = dict(src.hubs)
        names = spec.choices("subsets", tuple(hubs)) if "subsets" in spec.options else tuple(hubs)
        return [(name, hubs[name], src.split) for name in names]
    if not src.hub:
        hint = f" ({src.hint})" if src.hint else ""
        raise UserError(f"task '{spec.name}' has no hub source; pass --data-path{hint}")
    splits = list(src.splits) or [src.split]
    if src.splits and "split" in spec.options:
        splits = list(spec.choices("split", src.splits))
    return [(split if len(splits) > 1 else None, src.hub, split) for split in splits]


def iter_hub_rows(spec: TaskSpec) -> tuple[Rows, dict]:
    datasets = _quiet_datasets()
    src = spec.source
    reads = hub_reads(spec)
    loaded = []
    for label, hub, split in reads:
        try:
            extra = {"data_files": list(src.data_files) if isinstance(src.data_files, tuple) else src.data_files} \
                if src.data_files else {}
            ds = datasets.load_dataset(hub, name=src.config, split=split, revision=src.revision, **extra)
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"could not load {hub} (split {split}) from the hub: {msg}") from None
        loaded.append((label, hub, split, ds))
    keys = [label or split for label, _, split in reads]
    provenance = {"kind": "hub", "hub": src.hub, "config": src.config, "splits": [s for _, _, s in reads],
                  "data_files": src.data_files, "revision": src.revision,
                  "fingerprints": {k: getattr(ds, "_fingerprint", None) for k, (*_, ds) in zip(keys, loaded)},
                  "cache_files": {k: [Path(c["filename"]).parent.name for c in ds.cache_files][:1]
                                  for k, (*_, ds) in zip(keys, loaded)}}
    if src.hubs:
        provenance["hubs"] = {label: hub for label, hub, _ in reads}

    def gen() -> Rows:
        for label, hub, split, ds in loaded:
            for pos, row in enumerate(_checked(ds, f"{hub} split {split}")):
                if label is not None:   # the dataset or split read is the subset, whatever the row says
                    row = dict(row)
                    row["subset"] = label
                yield row, Where(f"{hub} split '{split}'", pos)

    return gen(), provenance


def iter_url_rows(spec: TaskSpec) -> tuple[Rows, dict]:
    """Rows of a file published outside the hub (``source.url``), fetched once into the datasets
    cache (a download, cached like the hub's) and checked against ``source.sha256`` before anything
    is read from it."""
    src = spec.source
    _quiet_datasets()
    from datasets.utils.file_utils import cached_path

    hint = f"; pass --data-path to a local copy ({src.hint})" if src.hint else "; pass --data-path to a local copy"
    try:
        local = Path(cached_path(src.url))
    except Exception as e:
        msg = str(e).strip().splitlines()[0].split(". Tried to reach")[0] if str(e).strip() else type(e).__name__
        raise UserError(f"could not download {src.url} ({msg}){hint}") from None
    digest = _sha256(local)
    if src.sha256 and digest != src.sha256:
        raise UserError(f"{src.url} does not have the published content (sha256 {digest[:12]}..., expected "
                        f"{src.sha256[:12]}...){hint}")
    # the cache names its files by a hash, without the published suffix: the URL's own name says
    # what the file is
    name = src.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or src.url
    kind = LOCAL_SUFFIXES.get(Path(name).suffix.lower(), "json")

    def gen() -> Rows:
        rows = json_rows(local, name) if kind == "json" else parquet_rows(local, name)
        for pos, row in enumerate(rows):
            yield row, Where(name, pos)

    return gen(), {"kind": "url", "url": src.url, "files": {name: digest}}


def iter_demo_rows(spec: TaskSpec) -> tuple[Rows, dict]:
    from rmbench.resources import demo_dir

    if not spec.demo:
        raise UserError(f"task '{spec.name}' ships no demo sample")
    path = demo_dir() / spec.demo
    rows, prov = iter_local_rows(spec, str(path))
    prov["kind"] = "demo"
    prov["path"] = f"rmbench/demo/{spec.demo}"
    return rows, prov
