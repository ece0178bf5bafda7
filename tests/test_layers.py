"""The package tree keeps its shape: imports go one way along the pipeline (tasks -> protocol ->
judges -> scoring -> reports), the bottom layer imports nothing else from rmbench, run-directory
storage depends on the bottom layer only, and the pipeline is composed in one module (the runner)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

BOTTOM = {"types", "contracts", "config", "seeding", "redaction", "registry", "errors", "resources"}
# each group may import the groups listed (besides itself and the bottom layer)
ALLOWED = {
    "bottom": set(),
    "store": set(),
    "tasks": set(),
    "tournament": set(),
    "protocol": {"tournament"},
    "judges": {"store"},                                   # batching.py keeps batches.json in the run directory
    "scoring": {"protocol", "tournament"},
    "reports": {"tasks", "protocol", "tournament", "judges", "scoring", "store"},
    "integrations": {"tasks", "protocol", "tournament", "judges", "scoring", "store", "runner"},
    "runner": {"tasks", "protocol", "tournament", "judges", "scoring", "reports", "store"},
    "api": {"tasks", "protocol", "tournament", "judges", "scoring", "reports", "store", "runner"},
    "cli": {"tasks", "protocol", "tournament", "judges", "scoring", "reports", "store", "runner", "api",
            "integrations"},
    "root": {"api"},
    "demo": set(),
}


def group(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    return "bottom" if parts[1] in BOTTOM else parts[1]


def modules():
    for f in sorted((REPO / "rmbench").rglob("*.py")):
        name = ".".join(f.relative_to(REPO).with_suffix("").parts)
        yield (name[: -len(".__init__")] if name.endswith(".__init__") else name), f


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rmbench":
            if node.module == "rmbench":
                yield from (f"rmbench.{a.name}" for a in node.names if a.name != "__version__")
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("rmbench."))


def test_imports_go_one_way():
    wrong = []
    for name, path in modules():
        mine = group(name)
        for target in imports(path):
            theirs = group(target)
            if theirs in (mine, "bottom") or theirs in ALLOWED.get(mine, set()):
                continue
            wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_pipeline_is_composed_only_in_the_runner():
    """The functions that load data, judge examples and summarize a run are called by the runner
    alone; everything else (CLI, API, merge, rescore, lm-eval, dry run) goes through it."""
    composing = {"load_task", "evaluate_aggregated", "evaluate_example", "summarize", "execute"}
    callers: dict[str, set[str]] = {}
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                fn = node.func.id if isinstance(node.func, ast.Name) else \
                    node.func.attr if isinstance(node.func, ast.Attribute) else None
                if fn == "execute" and isinstance(node.func, ast.Attribute):
                    continue  # a database cursor's execute, not the runner's
                if fn in composing:
                    callers.setdefault(fn, set()).add(name)
    # where each is defined or legitimately used inside its own layer
    home = {"load_task": {"rmbench.runner"}, "evaluate_aggregated": {"rmbench.runner"},
            "evaluate_example": {"rmbench.protocol.aggregate"}, "summarize": {"rmbench.runner"},
            "execute": {"rmbench.runner"}}
    for fn, where in callers.items():
        assert where <= home[fn], f"{fn} called from {sorted(where - home[fn])}"
