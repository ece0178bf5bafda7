"""Verdict probabilities from token log-probabilities (``--gen logprobs=true``).

A provider that can fills ``GenOutput.logprobs``: for each generated token position, in order,
a dict from token text to log-probability over the top alternatives at that position (the
sampled token included). Token texts are *incremental*: the text a token adds to the output
given the tokens before it (a token that ends half-way through a multi-byte character adds
"", the token that completes it adds the whole character), so the sampled tokens' texts
concatenate to the output text. ``incremental_texts`` builds them from token bytes.

From that and the position where the verdict parser found the verdict, this module computes:

- pairwise (``label_probs``): ``{label: probability}``, the probability mass the model put on
  each verdict label at the token that decides between the labels. A token counts for a label
  when its text continues the output up to that point and then spells the label (``A``,
  ``A]]``, or for ``Assistant 1`` / ``Assistant 2`` the `` 1`` / `` 2`` token), or when it is
  a prefix of exactly one label that already passes the first character where the labels
  differ. Tokens that decide nothing (a bare ``[[``) and alternatives outside the top ones
  carry mass that is in no label, so the values sum to at most 1.
- ratings (``rating_probs``): ``{value: probability}`` keyed by the rating values as strings
  (``"7"``), and the probability-weighted rating over that mass (``expected``). A digit token
  that several values start with (``1`` on a 1-10 scale: 1 or 10) is split by the next
  position's alternatives when the sampled token is known to be exactly that digit; otherwise
  its mass is left out.

The token that carries the verdict is found by aligning the positions' texts with the output
text. When more than one alignment fits and they disagree about that token, or none fits
(a provider whose token texts do not add up to the output), the answer is None: no
probabilities rather than doubtful ones.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping, Sequence

#: Alternatives asked for at each position (OpenAI's maximum ``top_logprobs``).
TOP_LOGPROBS = 20
#: Alignment gives up (no probabilities) past this many live hypotheses at one position.
MAX_STATES = 64
#: Context kept when turning token bytes into incremental text (a UTF-8 character has <= 4).
_CONTEXT_BYTES = 8

Positions = Sequence[Mapping[str, float]]


def add_logprob(d: dict[str, float], text: str, logprob: float) -> None:
    """Put one alternative into a position's dict; two tokens with the same text (e.g. two
    byte pieces that both add nothing yet) share one entry holding their summed probability."""
    if text in d:
        a, b = d[text], logprob
        hi = max(a, b)
        d[text] = hi + math.log(math.exp(a - hi) + math.exp(b - hi)) if hi > -math.inf else hi
    else:
        d[text] = logprob


def position(alternatives: Iterable[tuple[str, float]]) -> dict[str, float]:
    """One position's dict from (token text, log-probability) pairs, rounded to 6 decimals
    (a relative error of 1e-6 in a probability; keeps cached outputs small)."""
    d: dict[str, float] = {}
    for text, lp in alternatives:
        if lp is None or math.isnan(lp):
            continue
        add_logprob(d, text, float(lp))
    return {k: round(v, 6) for k, v in d.items()}


def incremental_texts(context: bytes, pieces: Iterable[bytes]) -> list[str]:
    """The text each byte piece adds after ``context`` (the output's bytes so far)."""
    ctx = context[-_CONTEXT_BYTES:]
    before = ctx.decode("utf-8", errors="ignore")
    return [(ctx + p).decode("utf-8", errors="ignore")[len(before):] for p in pieces]


def from_openai(content: Sequence[Mapping] | None) -> list[dict[str, float]] | None:
    """Positions from an OpenAI-style ``choices[0].logprobs.content`` list (OpenAI, vLLM and
    llama.cpp servers). Token ``bytes``, where given, make the texts incremental; without them
    the token strings are used as they are."""
    if not isinstance(content, (list, tuple)):
        return None
    out: list[dict[str, float]] = []
    context = b""
    for entry in content:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("token"), str):
            return None
        alts = [(entry["token"], entry.get("bytes"), entry.get("logprob"))]
        seen = {(entry["token"], str(entry.get("bytes")))}
        for t in entry.get("top_logprobs") or []:  # the sampled token is usually listed again
            if isinstance(t, Mapping) and isinstance(t.get("token"), str) and (t["token"], str(t.get("bytes"))) not in seen:
                seen.add((t["token"], str(t.get("bytes"))))
                alts.append((t["token"], t.get("bytes"), t.get("logprob")))
        if all(isinstance(b, list) for _, b, _ in alts):
            raw = [bytes(b) for _, b, _ in alts]
            texts = incremental_texts(context, raw)
            context = (context + raw[0])[-_CONTEXT_BYTES:]
        else:
            texts = [t for t, _, _ in alts]
        out.append(position((text, lp) for text, (_, _, lp) in zip(texts, alts) if isinstance(lp, (int, float))))
    return out


# -- alignment ---------------------------------------------------------------------------------

def locate(text: str, positions: Positions, char: int) -> tuple[int, int, list[str]] | None:
    """(position index, start offset of its token, the keys there that fit) for the token
    covering ``text[char]``, or None when no alignment, or more than one, says where it is.

    An alignment gives each position a key that continues the text where the previous one
    ended, through the end of the text (keys may be empty: a byte piece that adds nothing yet;
    the last key may run past the end, where a stop string cut the text; positions after the
    end are free). Every alignment is followed at once (breadth first), so the answer does not
    depend on which alternative is tried first.
    """
    if char < 0 or char >= len(text):
        return None
    end_of_text = len(text)
    states: set[tuple[int, tuple[int, int, str] | None]] = {(0, None)}
    finished: set[tuple[int, int, str] | None] = set()
    for i, alts in enumerate(positions):
        nxt: set[tuple[int, tuple[int, int, str] | None]] = set()
        for o, hit in states:
            if o >= end_of_text:
                finished.add(hit)
                continue
            for key in alts:
                if text.startswith(key, o):
                    end = o + len(key)
                elif key and key.startswith(text[o:]):
                    end = end_of_text
                else:
                    continue
                nxt.add((end, hit if hit is not None or not (o <= char < end) else (i, o, key)))
        if len(nxt) > MAX_STATES:
            return None
        states = nxt
        if not states:
            break
    finished.update(hit for o, hit in states if o >= end_of_text)
    places = {(h[0], h[1]) for h in finished if h is not None}
    if len(places) != 1 or None in finished:
        return None
    (i, o), = places
    return i, o, sorted({h[2] for h in finished if h is not None})


# -- pairwise labels ---------------------------------------------------------------------------

def _common_prefix(words: Sequence[str]) -> int:
    n = 0
    for chars in zip(*words):
        if len(set(chars)) > 1:
            break
        n += 1
    return n


def label_probs(text: str, positions: Positions | None, labels: Sequence[str], start: int) -> dict[str, float] | None:
    """Probability mass on each label at the token that decides between them; ``start`` is
    where the parser found the verdict label in ``text``. None when it cannot be told."""
    if not positions or len(labels) < 2 or len(set(labels)) != len(labels):
        return None
    shared = _common_prefix(labels)
    if any(len(label) <= shared for label in labels):  # one label is a prefix of another
        return None
    decide = start + shared
    found = locate(text, positions, decide)
    if found is None:
        return None
    i, tok_start, _ = found
    # what a key must spell for each label: from where the token starts (before the label, or
    # inside its shared beginning) through the label
    gap, into = text[tok_start:start], max(0, tok_start - start)
    reach = decide - tok_start  # a key must be longer than this to pass the deciding character
    targets = {label: gap + label[into:] for label in labels}
    mass = {label: 0.0 for label in labels}
    for key, lp in positions[i].items():
        owner = None
        for label, target in targets.items():
            if key.startswith(target) or (len(key) > reach and target.startswith(key)):
                owner = label  # labels differ at the deciding character: at most one fits
                break
        if owner is not None:
            mass[owner] += math.exp(lp)
    return _clean(mass)


# -- ratings -----------------------------------------------------------------------------------

def _leading_digits(s: str) -> str:
    n = 0
    while n < len(s) and s[n].isdigit():
        n += 1
    return s[:n]


def _ends_number(rest: str) -> bool:
    """Whether what follows a run of digits inside one token closes the number (not a digit,
    not a decimal point)."""
    return bool(rest) and not rest[0].isdigit() and rest[0] != "."


def rating_probs(text: str, positions: Positions | None, start: int,
                 scale: Sequence[int]) -> tuple[dict[str, float], float | None] | None:
    """(``{value: probability}``, expected rating) at the token where the rating that the
    parser found at ``start`` begins. ``expected`` weighs the values by their probabilities
    (renormalised over the mass that fell on the scale); None when no mass did. No answer at all
    when the rating read at ``start`` is not a value of the scale."""
    if not positions or not scale:
        return None
    values = [str(v) for v in scale]
    said = re.match(r"\d+(?:\.\d+)?", text[start:])
    if said is None or said.group(0) not in values:
        return None  # a rating off the scale (0, 11, 7.5): its own mass has no value to fall on
    found = locate(text, positions, start)
    if found is None:
        return None
    i, tok_start, fitting = found
    gap = text[tok_start:start]
    mass = {v: 0.0 for v in values}
    sampled = fitting[0] if len(fitting) == 1 else None
    for key, lp in positions[i].items():
        if not key.startswith(gap):
            continue
        rest = key[len(gap):]
        digits = _leading_digits(rest)
        if not digits:
            continue
        p = math.exp(lp)
        if len(digits) < len(rest):  # the number ends inside this token
            if _ends_number(rest[len(digits):]) and digits in mass:
                mass[digits] += p
            continue
        longer = [v for v in values if v.startswith(digits) and v != digits]
        if not longer:
            if digits in mass:
                mass[digits] += p
            continue
        # the number may go on at the next position: split by it when we know what came before
        if key != sampled or i + 1 >= len(positions):
            continue
        for nkey, nlp in positions[i + 1].items():
            more = _leading_digits(nkey)
            if not more:  # the number ends here, unless nothing was added yet or a decimal point follows
                value, closed = digits, bool(nkey) and nkey[0] != "."
            elif len(more) < len(nkey):
                value, closed = digits + more, _ends_number(nkey[len(more):])
            else:
                value = digits + more
                closed = not any(v.startswith(value) and v != value for v in values)
            if closed and value in mass:
                mass[value] += p * math.exp(nlp)
    total = sum(mass.values())
    expected = sum(int(v) * p for v, p in mass.items()) / total if total > 0 else None
    return _clean(mass), (round(expected, 6) if expected is not None else None)


def _clean(mass: dict[str, float]) -> dict[str, float]:
    """Rounded for records (9 decimals keep every digit a float32 engine produces); a total a
    hair above 1 (log-probabilities rounded by the engine) is scaled back to 1."""
    total = sum(mass.values())
    scale = 1.0 / total if total > 1.0 else 1.0
    out = {k: math.floor(v * scale * 1e9) / 1e9 for k, v in mass.items()}
    return out


def rating_scale(meta: Mapping[str, object] | None) -> tuple[int, ...]:
    """The integer rating values of a template: header ``scale: [low, high]``, else 1 to 10."""
    raw = (meta or {}).get("scale")
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(x, int) for x in raw) and raw[0] <= raw[1]:
        return tuple(range(int(raw[0]), int(raw[1]) + 1))
    return tuple(range(1, 11))


def summary_note(gen, records: Sequence[Mapping]) -> dict[str, dict[str, object]]:
    """For summary.json's ``judging`` block of a ``--gen logprobs`` run: how many verdicts
    carry ``p_labels``, with a note when some do not (the engine returned no log-probabilities,
    or the verdict token could not be told). Empty for other runs."""
    if not getattr(gen, "logprobs", None):
        return {}
    ok = found = 0
    for r in records:
        items = [j for p in r.get("pairs") or [] for j in p.get("judgments") or []]
        items += [s for per in r.get("scores") or [] for s in per]
        for it in items:
            if it.get("status") == "ok":
                ok += 1
                found += "p_labels" in it
    out: dict[str, object] = {"verdicts": ok, "with_p_labels": found}
    if found < ok:
        out["note"] = (f"{ok - found} verdicts have no p_labels: the engine returned no log-probabilities for "
                       "them, or the token carrying the verdict could not be located in its output")
    return {"p_labels": out}
