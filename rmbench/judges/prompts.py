"""Judge templates: jinja2 files in prompts/ (or any path a user gives).

A template starts with a header comment that declares how its output is read::

    {#- rmbench
    mode: pairwise            # pairwise (two responses), rating (one response, a score) or
                              # best-of-n (every candidate in one message, name the best one)
    parser: brackets          # see judges/parsers.py
    labels: [A, B]            # what the parser returns for the first / second response
                              # (best-of-n: one label per position, as many as the longest list)
    tie_label: C              # optional: the verdict for "equally good" the model was trained on;
                              # read as status ``tie`` instead of a failure
    multi_turn: pairwise_multi  # the template to use for multi-turn conversations (optional)
    rating_template: rating   # best-of-n: the rating template for items that need a score per
                              # candidate (RewardBench 2 Ties); default ``rating``
    -#}

and defines ``{% block system %}`` (optional) and ``{% block user %}``; a file with no blocks is
used whole as the user message. Templates render in a sandboxed environment with strict
undefined variables. Dataset text only ever enters as a variable, never as template source:

- ``question``: the last user message; ``conversation``: every message up to it;
  ``history``: the messages before it; ``multi_turn``: whether there is more than one user turn;
- ``response_a``, ``response_b`` (pairwise), ``response`` (rating), or ``responses`` (best-of-n:
  the candidates in the order shown, ``labels[k]`` naming ``responses[k]``) and ``n`` (how many);
  ``labels``; ``tie_label`` (or None).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from rmbench.errors import UserError
from rmbench.resources import prompts_dir

# libyaml's safe loader where PyYAML was built with it (the same documents, about ten times faster)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HEADER_START = "{#- rmbench"
PAIRWISE = "pairwise"
RATING = "rating"
BEST_OF_N = "best-of-n"
TEMPLATE_MODES = (PAIRWISE, RATING, BEST_OF_N)
DEFAULT_RATING_TEMPLATE = "rating"


def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                         keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)


@dataclass
class JudgeTemplate:
    name: str
    source: str
    mode: str
    parser: str
    labels: tuple[str, ...]
    multi_turn: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _compiled: Any = None
    tie_label: str | None = None
    rating_template: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def identity(self) -> dict[str, str]:
        return {"template": self.name, "template_sha256": self.sha256, "parser": self.parser}

    @property
    def verdicts(self) -> tuple[str, ...]:
        """Every label the parser may return: the candidates' labels, then the tie label."""
        return self.labels + ((self.tie_label,) if self.tie_label else ())

    def render(self, messages: Sequence[Mapping[str, str]], responses: Sequence[str]) -> tuple[dict[str, str], ...]:
        """Render to chat messages (system first when the template has one)."""
        convo = [dict(m) for m in messages]
        last_user = max((i for i, m in enumerate(convo) if m.get("role") == "user"), default=len(convo) - 1)
        ctx: dict[str, Any] = {
            "conversation": convo,
            "history": convo[:last_user] if last_user >= 0 else [],
            "question": convo[last_user]["content"] if convo and last_user >= 0 else "",
            "system_prompt": next((m["content"] for m in convo if m.get("role") == "system"), ""),
            "multi_turn": sum(1 for m in convo if m.get("role") == "user") > 1,
            "labels": list(self.labels),
            "tie_label": self.tie_label,
        }
        if self.mode == PAIRWISE:
            ctx["response_a"], ctx["response_b"] = responses[0], responses[1]
        elif self.mode == BEST_OF_N:
            if len(responses) > len(self.labels):
                raise UserError(f"template '{self.name}' declares {len(self.labels)} labels but an item has "
                                f"{len(responses)} candidates; declare more labels in its header")
            ctx["responses"], ctx["n"] = list(responses), len(responses)
        else:
            ctx["response"] = responses[0]
        tmpl = self._compiled
        try:
            if "user" in tmpl.blocks:
                context = tmpl.new_context(ctx)
                user = "".join(tmpl.blocks["user"](context)).strip()
                system = "".join(tmpl.blocks["system"](tmpl.new_context(ctx))).strip() if "system" in tmpl.blocks else ""
            else:
                system, user = "", tmpl.render(ctx).strip()
        except Exception as e:  # jinja raises TemplateError, but also TypeError, SecurityError, ...
            raise UserError(f"template '{self.name}' failed to render: {render_problem(e)}") from None
        out: list[dict[str, str]] = []
        if system:
            out.append({"role": "system", "content": system})
        out.append({"role": "user", "content": user})
        return tuple(out)


def render_problem(e: Exception) -> str:
    """A template failure in words: a template is one self-contained file, so the tags that load
    other templates cannot work (the sandbox has no loader)."""
    if isinstance(e, TypeError) and "no loader" in str(e):
        return "{% include %}, {% import %} and {% extends %} cannot be used (a template is one self-contained file)"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def no_loading_tags(source: str, name: str) -> None:
    """Refuse the tags that load another template: rmbench templates are self-contained files
    rendered in a sandbox without a loader."""
    from jinja2 import TemplateSyntaxError, nodes

    try:
        ast = _env().parse(source)
    except TemplateSyntaxError:
        return  # reported with its line number when compiled
    for kind, tag in ((nodes.Extends, "extends"), (nodes.Include, "include"), (nodes.Import, "import"),
                      (nodes.FromImport, "from ... import")):
        node = next(iter(ast.find_all(kind)), None)
        if node is not None:
            raise UserError(f"template '{name}' uses {{% {tag} %}} on line {node.lineno}; rmbench templates are "
                            "self-contained files and cannot load other templates")


def _parse_header(source: str, name: str) -> dict[str, Any]:
    stripped = source.lstrip()
    if not stripped.startswith(HEADER_START):
        return {}
    end = stripped.find("#}")
    if end < 0:
        raise UserError(f"template '{name}': header comment is not closed")
    body = stripped[len(HEADER_START):end].rstrip("-").strip()
    try:
        meta = yaml.load(body, Loader=_SAFE_LOADER) or {}
    except yaml.YAMLError as e:
        raise UserError(f"template '{name}': header is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise UserError(f"template '{name}': header must be a mapping")
    return meta


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def builtin_names() -> list[str]:
    return sorted(p.stem for p in prompts_dir().glob("*.j2"))


def load_template(spec: str) -> JudgeTemplate:
    """A built-in template by name (``pairwise``) or a user file (``path/to/file.j2``)."""
    from jinja2 import TemplateSyntaxError

    from rmbench.judges.parsers import get_parser

    looks_like_path = "/" in spec or spec.endswith((".j2", ".jinja", ".jinja2", ".txt"))
    path = Path(spec) if looks_like_path else prompts_dir() / f"{spec}.j2"
    if not path.is_file():
        if looks_like_path:
            raise UserError(f"--prompt {spec}: no such template file")
        import difflib

        names = builtin_names()
        close = difflib.get_close_matches(spec, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"unknown prompt '{spec}'{hint}; built-in prompts: {', '.join(names)}")
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--prompt {spec}: cannot read template: {e}") from None
    name = path.stem if not looks_like_path else str(path)
    meta = _parse_header(source, name)
    mode = meta.get("mode", PAIRWISE)
    if mode not in TEMPLATE_MODES:
        raise UserError(f"template '{name}': mode must be one of {', '.join(TEMPLATE_MODES)}, not '{mode}'")
    parser = meta.get("parser", "rating" if mode == RATING else "brackets")
    get_parser(parser)
    default_labels = {PAIRWISE: ["A", "B"], BEST_OF_N: list("ABCDEFGH"), RATING: []}[mode]
    raw_labels = meta.get("labels", default_labels)
    if not isinstance(raw_labels, list):
        raise UserError(f"template '{name}': labels must be a list")
    labels = tuple(str(x) for x in raw_labels)
    if mode == PAIRWISE and len(labels) != 2:
        raise UserError(f"template '{name}': a pairwise template declares exactly two labels")
    if mode == BEST_OF_N and len(labels) < 2:
        raise UserError(f"template '{name}': a best-of-n template declares at least two labels")
    if len(set(labels)) != len(labels):
        raise UserError(f"template '{name}': labels must differ from each other")
    # the rating parser reads any number (a pairwise verdict [[9]] would count as the second
    # response); a label parser in a rating template must read numbers, its declared labels
    if mode != RATING and parser == "rating":
        raise UserError(f"template '{name}': the rating parser reads scores; a {mode} template needs a parser "
                        "that reads its labels (brackets, answer_tag or boxed)")
    if mode == RATING and parser != "rating" and (not labels or not all(_is_number(x) for x in labels)):
        raise UserError(f"template '{name}': a rating template with the {parser} parser declares the ratings it "
                        "may give as labels (numbers, e.g. labels: [1, 2, 3, 4, 5])")
    tie_label = meta.get("tie_label")
    if tie_label is not None:
        tie_label = str(tie_label)
        if mode == RATING:
            raise UserError(f"template '{name}': tie_label applies to pairwise and best-of-n templates")
        if tie_label in labels:
            raise UserError(f"template '{name}': tie_label '{tie_label}' is also a candidate label")
    rating_template = meta.get("rating_template")
    if rating_template is not None and mode != BEST_OF_N:
        raise UserError(f"template '{name}': rating_template applies to best-of-n templates")
    no_loading_tags(source, name)
    try:
        compiled = _env().from_string(source)
        # a plain dict instead of jinja's ChainMap of globals: every render copies them
        compiled.globals = dict(compiled.globals)
    except TemplateSyntaxError as e:
        raise UserError(f"template '{name}' has a syntax error on line {e.lineno}: {e.message}") from None
    return JudgeTemplate(name=name, source=source, mode=mode, parser=parser, labels=labels,
                         multi_turn=meta.get("multi_turn"), meta=meta, _compiled=compiled, tie_label=tie_label,
                         rating_template=str(rating_template) if rating_template is not None else None)
