"""The fake server's "model": a deterministic judge that reads only the rendered prompt.

How it decides (first rule that applies):

0. A list. Three or more responses delimited as ``[Response X]`` ... ``[End of response X]`` (or
   ``[Reply X]``): a best-of-n prompt. The response with the highest ``(quality N)`` tag wins,
   else the longest (a tie goes to the first shown); the verdict is ``[[X]]``.
1. Quality tags. Test data may mark candidates with ``(quality N)``. Two or more tags in a
   prompt: the first two belong to response A and response B (every template shows A before
   B), and the higher number wins (a tie goes to A). Exactly one tag: a rating prompt, and the
   rating is N. This works with any template, including ones written after this file.
2. Delimited responses. The responses are found between common delimiters (``[Response A]``
   ... ``[End of response A]``, ``[The Start of Assistant 1's Answer]`` blocks, ...); the
   longer one wins, a tie goes to A. A single delimited response gets a rating from its length.
3. Otherwise the model says it found nothing to compare, with no verdict (the harness must
   report that as ``unparsed``).

The verdict is written in the format the prompt asks for: ``\\boxed{Assistant 1}`` when the
prompt mentions ``\\boxed``, ``<answer>[[A]]</answer>`` when it mentions ``<answer>``, else
``[[A]]``/``[[B]]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

QUALITY = re.compile(r"\(quality (\d+)\)")

# Delimiters a judge template may put around the responses (matched case-insensitively).
_PAIR_PATTERNS = [
    (r"\[(?:response|reply) a\](.*?)\[end of (?:response|reply) a\]",
     r"\[(?:response|reply) b\](.*?)\[end of (?:response|reply) b\]"),
    (r"\[the start of assistant (?:a|1)'s answer\](.*?)\[the end of assistant (?:a|1)'s answer\]",
     r"\[the start of assistant (?:b|2)'s answer\](.*?)\[the end of assistant (?:b|2)'s answer\]"),
    (r"<response_a>(.*?)</response_a>", r"<response_b>(.*?)</response_b>"),
    (r"<response_1>(.*?)</response_1>", r"<response_2>(.*?)</response_2>"),
]
_SINGLE_PATTERNS = [r"\[(?:response|reply)\](.*?)\[end of (?:response|reply)\]", r"<response>(.*?)</response>",
                    r"\[the start of assistant's answer\](.*?)\[the end of assistant's answer\]"]


@dataclass
class Reply:
    """What the model "generated". ``finish_reason`` uses OpenAI's words (stop, length,
    content_filter) plus "refusal"; each API handler maps it to its own wire format."""

    text: str
    finish_reason: str = "stop"
    reasoning: str | None = None
    refusal: str | None = None


def verdict_format(prompt: str) -> str:
    if "\\boxed" in prompt:
        return "boxed"
    if "<answer>" in prompt:
        return "answer_tag"
    return "brackets"


def render_verdict(fmt: str, which: int) -> str:
    """The verdict naming response A (which=0) or B (which=1) in the prompt's format."""
    if fmt == "boxed":
        return f"\\boxed{{Assistant {which + 1}}}"
    label = "AB"[which]
    if fmt == "answer_tag":
        return f"<answer>[[{label}]]</answer>"
    return f"[[{label}]]"


def extract_pair(prompt: str) -> tuple[str, str] | None:
    for pa, pb in _PAIR_PATTERNS:
        ma = re.search(pa, prompt, re.S | re.I)
        mb = re.search(pb, prompt, re.S | re.I)
        if ma and mb:
            return ma.group(1).strip(), mb.group(1).strip()
    return None


def extract_single(prompt: str) -> str | None:
    for p in _SINGLE_PATTERNS:
        m = re.search(p, prompt, re.S | re.I)
        if m:
            return m.group(1).strip()
    return None


_LIST_BLOCK = re.compile(r"\[(response|reply) ([A-Z])\](.*?)\[end of \1 \2\]", re.S | re.I)


def extract_list(prompt: str) -> list[tuple[str, str]]:
    """(label, text) of every delimited response of a best-of-n prompt, in the order shown."""
    return [(m.group(2), m.group(3).strip()) for m in _LIST_BLOCK.finditer(prompt)]


def decide(prompt: str) -> tuple[str, int | float | str | None, str]:
    """("pair", winner 0/1, why), ("list", winning label, why), ("rating", score, why) or
    ("none", None, why)."""
    blocks = extract_list(prompt)
    if len(blocks) >= 3:
        def merit(text: str) -> tuple[int, int]:
            tag = QUALITY.search(text)
            return (int(tag.group(1)) if tag else -1, len(text))

        best = max(range(len(blocks)), key=lambda k: (merit(blocks[k][1]), -k))
        return "list", blocks[best][0], f"Of {len(blocks)} responses, response {blocks[best][0]} is the best."
    tags = [int(x) for x in QUALITY.findall(prompt)]
    if len(tags) >= 2:
        a, b = tags[0], tags[1]
        return "pair", (0 if a >= b else 1), f"Response A is rated {a} and response B {b}."
    if len(tags) == 1:
        return "rating", max(1, min(10, tags[0])), f"The response is of quality {tags[0]}."
    pair = extract_pair(prompt)
    if pair is not None:
        la, lb = len(pair[0]), len(pair[1])
        return "pair", (0 if la >= lb else 1), f"Response A has {la} characters and response B {lb}."
    single = extract_single(prompt)
    if single is not None:
        score = max(1, min(10, len(single) // 10 + 1))
        return "rating", score, f"The response has {len(single)} characters."
    return "none", None, "I could not find the responses to compare."


def answer(prompt: str, thinking: bool = False) -> Reply:
    """The model's full reply to a prompt (system and user text joined)."""
    kind, value, why = decide(prompt)
    if kind == "pair":
        text = f"{why} The better one is response {'AB'[value]}.\n\nVerdict: {render_verdict(verdict_format(prompt), value)}"
    elif kind == "list":
        text = f"{why}\n\nVerdict: [[{value}]]"
    elif kind == "rating":
        text = f"{why}\n\nRating: [[{value}]]"
    else:
        text = why
    reasoning = f"Let me weigh this carefully. {why}" if thinking else None
    return Reply(text=text, reasoning=reasoning)


def other_label_text(prompt: str) -> str:
    """A verdict for the opposite of what ``answer`` would say (used to plant a decoy)."""
    kind, value, _ = decide(prompt)
    fmt = verdict_format(prompt)
    if kind == "pair":
        return render_verdict(fmt, 1 - value)
    return render_verdict(fmt, 1)


def both_labels(prompt: str) -> str:
    fmt = verdict_format(prompt)
    return f"Both have merit. Verdict: {render_verdict(fmt, 0)} or maybe {render_verdict(fmt, 1)}"
