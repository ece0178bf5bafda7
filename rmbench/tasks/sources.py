"""Row sources: the Hugging Face hub by default, local JSON / JSONL / parquet files or folders
with ``--data-path``. Both go through ``datasets.load_dataset``; what was read is recorded
(hub id, split, revision and fingerprint, or file paths and their sha256)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from rmbench.errors import UserError
from rmbench.tasks.spec import TaskSpec

LOCAL_SUFFIXES = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}


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
        return files
    if p.suffix.lower() not in LOCAL_SUFFIXES:
        raise UserError(f"--data-path {p}: unsupported file type '{p.suffix}' (use .json, .jsonl or .parquet)")
    if not os.access(p, os.R_OK):
        raise UserError(f"--data-path {p}: file is not readable")
    return [p]


def _quiet_datasets():
    import logging

    import datasets

    datasets.disable_progress_bars()
    # datasets logs parse failures itself; we report them as one line instead
    logging.getLogger("datasets").setLevel(logging.CRITICAL)
    return datasets


def _kind_of(value: Any) -> str:
    return "null" if value is None else {"list": "an array", "str": "a string", "bool": "a boolean"}.get(
        type(value).__name__, "a number")


def check_json_rows(path: Path) -> None:
    """Refuse, in one line, a JSON / JSON Lines file whose rows are not all JSON objects, or that
    is not valid JSON or UTF-8. pyarrow's JSON reader, which datasets uses, can crash the whole
    process on some such files (a null row before the first object, for one), so it must never
    see them. A JSON Lines file is read a line at a time."""
    name = path.name
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        if head.startswith(b"["):
            rows = json.loads(path.read_bytes().decode("utf-8-sig"))
            for i, row in enumerate(rows):
                if not isinstance(row, dict):
                    raise UserError(f"could not read {name}: item {i} of the array is {_kind_of(row)}, not an object with the task's columns")
            return
        if head.startswith(b"{"):
            try:
                if isinstance(json.loads(path.read_bytes().decode("utf-8-sig")), dict):
                    return  # one object (datasets reads its lists as columns)
            except json.JSONDecodeError:
                pass  # JSON Lines
        with open(path, "r", encoding="utf-8-sig") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"could not read {name}: line {n} is not valid JSON ({e.msg}, column {e.colno})") from None
                if not isinstance(row, dict):
                    raise UserError(f"could not read {name}: line {n} is {_kind_of(row)}, not a JSON object with the task's columns")
    except UnicodeDecodeError as e:
        raise UserError(f"could not read {name}: not valid UTF-8 text (byte {e.start}); re-save the file as UTF-8") from None
    except json.JSONDecodeError as e:
        raise UserError(f"could not read {name}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise UserError(f"could not read {name}: JSON nested too deeply to read") from None


def _load_files(files: list[Path]):
    datasets = _quiet_datasets()
    kinds = {LOCAL_SUFFIXES[f.suffix.lower()] for f in files}
    if len(kinds) > 1:
        raise UserError("--data-path mixes parquet and JSON files; point it at one kind")
    kind = kinds.pop()
    empty = [f for f in files if f.stat().st_size == 0 or (kind == "json" and f.read_bytes()[:64].strip() in (b"[]", b""))]
    if empty:
        raise UserError(f"{empty[0].name} holds no examples (the file is empty)")
    extra = {}
    if kind == "json":
        for f in files:
            check_json_rows(f)
        # pyarrow's JSON reader (25.x, 26.x) can kill the process with a segfault when a column's
        # type changes between two blocks of one read (e.g. an int, then a bool). One block per
        # file avoids it: datasets uses chunksize // 32 as the block size, and a file read whole
        # grows at most ~3x when datasets re-encodes it.
        largest = max(f.stat().st_size for f in files)
        extra["chunksize"] = 32 * min(max(4 * largest, 1 << 20), (1 << 31) - 1)
    try:
        return datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train", **extra)
    except Exception as e:  # datasets raises many types for unreadable or malformed files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        names = files[0].name if len(files) == 1 else f"{len(files)} files under {files[0].parent}"
        raise UserError(f"could not read {names}: {msg}") from None


def _checked_rows(ds, label: str) -> Iterator[dict]:
    """Rows of a loaded file; bytes that are not UTF-8 (pyarrow's JSON reader lets them into
    string columns and they fail only when a row is read) become a one-line error."""
    it = iter(ds)
    index = 0
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as e:
            raise UserError(f"{label}: row {index} is not valid UTF-8 text ({e.reason}); "
                            "re-save the file as UTF-8") from None
        yield row
        index += 1


def iter_local_rows(spec: TaskSpec, data_path: str, per_file: bool = False) -> tuple[Iterator[tuple[dict, Path | None]], dict]:
    """Rows from local files. With ``per_file`` each file is loaded on its own so that the
    schema can use the file name (e.g. RM-Bench's per-domain files)."""
    files = local_files(data_path)
    provenance: dict[str, Any] = {"kind": "local", "path": str(Path(data_path).resolve()),
                                  "files": {str(f.relative_to(Path(data_path)) if Path(data_path).is_dir() else f.name): _sha256(f) for f in files}}

    def gen() -> Iterator[tuple[dict, Path | None]]:
        if per_file:
            for f in files:
                for row in _checked_rows(_load_files([f]), f.name):
                    yield row, f
        else:
            label = files[0].name if len(files) == 1 else f"{len(files)} files under {Path(data_path)}"
            for row in _checked_rows(_load_files(files), label):
                yield row, None

    return gen(), provenance


def hub_reads(spec: TaskSpec) -> list[tuple[str | None, str, str]]:
    """What ``iter_hub_rows`` reads: (subset label or None, hub id, split) per dataset split.

    A task with ``source.hubs`` (one hub dataset per subset) reads the subsets its ``subsets``
    option names (all by default); a task with ``source.splits`` reads every split, or only those
    its ``split`` option names. Rows of a multi-dataset read get their dataset's subset name in a
    ``subset`` column; rows of a multi-split read get their split's unless they carry one."""
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


def iter_hub_rows(spec: TaskSpec) -> tuple[Iterator[tuple[dict, Path | None]], dict]:
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
        loaded.append((label, split, ds))
    keys = [label or split for label, _, split in reads]
    provenance = {"kind": "hub", "hub": src.hub, "config": src.config, "splits": [s for _, _, s in reads],
                  "data_files": src.data_files, "revision": src.revision,
                  "fingerprints": {k: getattr(ds, "_fingerprint", None) for k, (_, _, ds) in zip(keys, loaded)},
                  "cache_files": {k: [Path(c["filename"]).parent.name for c in ds.cache_files][:1]
                                  for k, (_, _, ds) in zip(keys, loaded)}}
    if src.hubs:
        provenance["hubs"] = {label: hub for label, hub, _ in reads}

    def gen():
        for label, _, ds in loaded:
            for row in ds:
                if label is not None:
                    row = dict(row)
                    if src.hubs:    # the dataset read is the subset, whatever the row's own columns say
                        row["subset"] = label
                    else:
                        row.setdefault("subset", label)
                yield row, None

    return gen(), provenance


def iter_url_rows(spec: TaskSpec) -> tuple[Iterator[tuple[dict, Path | None]], dict]:
    """Rows of a file published outside the hub (``source.url``), fetched once into the datasets
    cache and checked against ``source.sha256`` before anything is read from it."""
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
    rows, _ = iter_local_rows(spec, str(local))
    return rows, {"kind": "url", "url": src.url, "files": {local.name: digest}}


def iter_demo_rows(spec: TaskSpec) -> tuple[Iterator[tuple[dict, Path | None]], dict]:
    from rmbench.resources import demo_dir

    if not spec.demo:
        raise UserError(f"task '{spec.name}' ships no demo sample")
    path = demo_dir() / spec.demo
    rows, prov = iter_local_rows(spec, str(path), per_file=True)
    prov["kind"] = "demo"
    prov["path"] = f"rmbench/demo/{spec.demo}"
    return rows, prov
