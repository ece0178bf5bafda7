"""Verdict parsers. Each reads only the final answer (the text after the last ``</think>``)
and returns a label from the template's declared labels, or a failure status.

The verdict is read from the last line of the final answer that carries a marker (the
templates ask for the verdict on the last line). A judge that quotes a response containing a
marker ("response B ends with [[A]]") earlier in its explanation is therefore not misled by it.
A verdict line whose markers disagree ("[[A]] or maybe [[B]]"), or an answer with no marker, is
a failure: we never guess.
"""

from __future__ import annotations

import re
from typing import Callable

from rmbench.types import OK, UNPARSED

THINK_START = "<think>"
THINK_END = "</think>"


def final_answer(text: str) -> str:
    """The part of a completion after its last closing think tag (the whole text if none). A
    think block that is opened and never closed holds no answer: the final answer is empty (a
    verdict the judge only considered while thinking is not its verdict)."""
    return text[_answer_start(text):] if text is not None else ""


def _answer_start(text: str | None) -> int:
    if text is None:
        return 0
    end = text.rfind(THINK_END)
    if text.rfind(THINK_START) > end:   # still thinking when the output stopped
        return len(text)
    return end + len(THINK_END) if end >= 0 else 0


#: (label or None, status, offset in the full text where the label starts or None)
Found = tuple["str | None", str, "int | None"]


def _verdict_line(pattern: str, text: str) -> Found:
    """The markers on the last line (of the final answer) that has any; they must agree. The
    offset is that of the last marker's label."""
    base = _answer_start(text)
    ans = text[base:] if text else ""
    matches = list(re.finditer(pattern, ans))
    if not matches:
        return None, UNPARSED, None
    line = ans.count("\n", 0, matches[-1].start())
    on_line = [m for m in matches if ans.count("\n", 0, m.start()) == line]
    if len({m.group(1) for m in on_line}) > 1:
        return None, UNPARSED, None
    return on_line[-1].group(1), OK, base + on_line[-1].start(1)


def _find_brackets(text: str, labels: tuple[str, ...]) -> Found:
    alts = "|".join(re.escape(label) for label in labels)
    return _verdict_line(rf"\[\[\s*({alts})\s*\]\]", text)


def _find_answer_tag(text: str, labels: tuple[str, ...]) -> Found:
    alts = "|".join(re.escape(label) for label in labels)
    return _verdict_line(rf"<answer>\s*(?:\[\[)?\s*({alts})\s*(?:\]\])?\s*</answer>", text)


def _find_boxed(text: str, labels: tuple[str, ...]) -> Found:
    alts = "|".join(re.escape(label) for label in labels)
    return _verdict_line(rf"\\boxed\{{\s*(?:\\text\{{)?\s*({alts})\s*\}}?\s*\}}", text)


def _find_rating(text: str, labels: tuple[str, ...] = ()) -> Found:
    base = _answer_start(text)
    ans = text[base:] if text else ""
    found = list(re.finditer(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]", ans)) or list(re.finditer(
        r"(?i)\b(?:rating|score)\s*[:=]\s*(\d+(?:\.\d+)?)", ans))
    if not found:
        return None, UNPARSED, None
    return found[-1].group(1), OK, base + found[-1].start(1)


def brackets(text: str, labels: tuple[str, ...] = ("A", "B")) -> tuple[str | None, str]:
    """``[[A]]`` / ``[[B]]``; several markers on the verdict line are fine only if they agree."""
    return _find_brackets(text, labels)[:2]


def answer_tag(text: str, labels: tuple[str, ...] = ("A", "B")) -> tuple[str | None, str]:
    """``<answer>[[A]]</answer>`` (RM-R1's format); a bare ``<answer>A</answer>`` also counts."""
    return _find_answer_tag(text, labels)[:2]


def boxed(text: str, labels: tuple[str, ...] = ("Assistant 1", "Assistant 2")) -> tuple[str | None, str]:
    r"""``\boxed{Assistant 1}`` / ``\boxed{Assistant 2}`` (RRM's format)."""
    return _find_boxed(text, labels)[:2]


def rating(text: str, labels: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """A pointwise score: the last ``[[N]]`` or ``Rating: N`` (1-10, decimals allowed)."""
    return _find_rating(text, labels)[:2]


PARSERS: dict[str, Callable[..., tuple[str | None, str]]] = {
    "brackets": brackets,
    "answer_tag": answer_tag,
    "boxed": boxed,
    "rating": rating,
}


FINDERS: dict[str, Callable[..., Found]] = {
    "brackets": _find_brackets,
    "answer_tag": _find_answer_tag,
    "boxed": _find_boxed,
    "rating": _find_rating,
}


def find_verdict(name: str, text: str, labels: tuple[str, ...]) -> Found:
    """(label or None, status, offset in ``text`` where the label starts): the parser's answer
    and where it read it (the verdict position that ``--gen logprobs`` reads)."""
    get_parser(name)
    return FINDERS[name](text, labels)


def get_parser(name: str) -> Callable[..., tuple[str | None, str]]:
    from rmbench.errors import UserError

    if name not in PARSERS:
        raise UserError(f"unknown verdict parser '{name}' (known: {', '.join(PARSERS)})")
    return PARSERS[name]
