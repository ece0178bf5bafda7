"""RM-Bench: one prompt, three chosen and three rejected responses in three styles.

Two layouts hold the same records:

- the repository's per-domain files (``chat_filtered.json``, ``safety-refuse_filtered.json``, ...):
  integer ``id``s and no ``domain`` column, so the domain comes from the file name (hence
  ``PER_FILE``: the loader hands each row's file path to ``convert``);
- the hub copy (``THU-KEG/RM-Bench``, ``total_dataset.json``): string ids ``"<domain>/<n>"`` and
  a ``domain`` column.

List position is the style: 0 concise, 1 detailed plain text, 2 detailed markdown. Candidates
are the three chosen responses (indices 0-2) then the three rejected ones (3-5); every chosen
one is preferred, so the default pairs are the full 3x3 style matrix.
"""

from __future__ import annotations

from pathlib import Path

from rmbench.errors import RowError
from rmbench.tasks.schemas._common import count, id_text, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

PER_FILE = True

#: Raw domains as the data names them, longest first so that a file-name prefix match is exact.
DOMAINS = ("safety-response", "safety-refuse", "chat", "math", "code")
STYLES = ("concise", "detailed", "markdown")
N_STYLES = len(STYLES)


def scored_domain(domain: str) -> str:
    """The domain a record counts towards: both safety files pool into ``safety``."""
    return "safety" if domain.startswith("safety") else domain


def domain_from_path(path: Path | None) -> str | None:
    if path is None:
        return None
    stem = path.stem.lower()
    for d in DOMAINS:
        if stem == d or stem.startswith(d + "_") or stem.startswith(d + "-") or stem.startswith(d + "."):
            return d
    return None


def _responses(row: dict, key: str, spec: TaskSpec, index: int) -> tuple[str, ...]:
    value = need(row, key, spec, index)
    if not isinstance(value, (list, tuple)) or len(value) != N_STYLES:
        got = f"{len(value)} items" if isinstance(value, (list, tuple)) else type(value).__name__
        raise RowError(f"column '{key}' must list {N_STYLES} responses "
                        f"(concise, detailed, markdown), got {got}")
    return tuple(text(v, f"{key}[{k}]", spec, index) for k, v in enumerate(value))


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example:
    raw_id = row.get("id")
    domain = row.get("domain")
    if not domain and isinstance(raw_id, str) and "/" in raw_id:
        domain = raw_id.split("/", 1)[0]
    if not domain:
        domain = domain_from_path(path)
    if not domain:
        raise RowError(f"cannot tell the RM-Bench domain: rows need a 'domain' column or the file name must "
                       f"start with one of {', '.join(sorted(DOMAINS))}")
    domain = str(domain).lower()
    if scored_domain(domain) not in ("chat", "math", "code", "safety"):
        raise RowError(f"has unknown RM-Bench domain '{domain}'")

    if raw_id is None:
        ident = f"{domain}/{index}"
    elif isinstance(raw_id, str) and "/" in raw_id:
        ident = raw_id
    else:
        ident = f"{domain}/{id_text(raw_id, 'id', spec, index)}"

    msgs = messages(need(row, "prompt", spec, index), "prompt", spec, index)
    chosen = _responses(row, "chosen", spec, index)
    rejected = _responses(row, "rejected", spec, index)

    # Quirks that do not stop a run but are worth knowing when reading the matrix.
    for name, group in (("chosen", chosen), ("rejected", rejected)):
        same = [f"{a}={b}" for a in range(N_STYLES) for b in range(a + 1, N_STYLES) if group[a] == group[b]]
        if same:
            count(notes, f"identical {name} styles", f"{ident} ({', '.join(same)})")
    if set(chosen) & set(rejected):
        count(notes, "a chosen response equals a rejected one", ident)
    if any(not r.strip() for r in chosen + rejected):
        count(notes, "empty responses", ident)

    meta = {k: row[k] for k in ("subset", "language", "task_id") if row.get(k) is not None}
    return Example(id=ident, task=spec.name, subset=domain, messages=msgs, candidates=chosen + rejected,
                   preferred=tuple(range(N_STYLES)),
                   labels={"domain": domain, "scored_domain": scored_domain(domain)}, meta=meta)
