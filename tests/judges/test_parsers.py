"""Verdict parsers: the final answer only, never a guess."""

from __future__ import annotations

import pytest

from rmbench.errors import UserError
from rmbench.judges.parsers import answer_tag, boxed, brackets, final_answer, get_parser, rating
from rmbench.types import OK, UNPARSED

AB = ("A", "B")
ASSISTANTS = ("Assistant 1", "Assistant 2")


@pytest.mark.parametrize("text,expected", [
    ("A is vague, B is precise. [[B]]", ("B", OK)),
    ("[[A]]", ("A", OK)),
    ("Verdict: [[ A ]]", ("A", OK)),
    ("[[A]] ... on reflection I stand by it: [[A]]", ("A", OK)),   # repeated and consistent
    ("[[A]] or maybe [[B]]", (None, UNPARSED)),                     # both labels: never guess
    ("I prefer A.", (None, UNPARSED)),                              # no marker
    ("[A] is better", (None, UNPARSED)),
    ("[[C]]", (None, UNPARSED)),                                    # not a declared label
    ("", (None, UNPARSED)),
])
def test_brackets(text, expected):
    assert brackets(text, AB) == expected


@pytest.mark.parametrize("text,expected", [
    ("<think>B looks good at first... [[B]]</think>\nFinal: [[A]]", ("A", OK)),
    ("<think>[[A]] vs [[B]]?</think> [[B]]", ("B", OK)),
    ("<think>one</think><think>two [[B]]</think> [[A]]", ("A", OK)),  # the last closing tag counts
    ("<think>I pick [[A]]</think>", (None, UNPARSED)),                 # a verdict only while thinking
    ("<think>I pick [[A]]", (None, UNPARSED)),                         # still thinking when it stopped
    ("<think>x</think> [[B]] <think>no, [[A]]", (None, UNPARSED)),      # a second thought never closed
])
def test_only_the_text_after_the_last_think_tag_counts(text, expected):
    assert brackets(text, AB) == expected


def test_final_answer():
    assert final_answer("a</think>b</think>c") == "c"
    assert final_answer("plain") == "plain"
    assert final_answer("<think>unfinished [[A]]") == ""
    assert final_answer(None) == ""


@pytest.mark.parametrize("text,expected", [
    ("reasoning... <answer>[[B]]</answer>", ("B", OK)),
    ("<answer> A </answer>", ("A", OK)),
    ("<answer>[[A]]</answer> then <answer>[[B]]</answer>", (None, UNPARSED)),
    ("[[A]] without tags", (None, UNPARSED)),
    ("<think><answer>[[A]]</answer></think><answer>[[B]]</answer>", ("B", OK)),
])
def test_answer_tag(text, expected):
    assert answer_tag(text, AB) == expected


@pytest.mark.parametrize("text,expected", [
    ("So the answer is \\boxed{Assistant 2}", ("Assistant 2", OK)),
    ("\\boxed{\\text{Assistant 1}}", ("Assistant 1", OK)),
    ("\\boxed{Assistant 1} ... \\boxed{Assistant 2}", (None, UNPARSED)),
    ("\\boxed{Assistant 3}", (None, UNPARSED)),
    ("Assistant 1 is better", (None, UNPARSED)),
])
def test_boxed(text, expected):
    assert boxed(text, ASSISTANTS) == expected


@pytest.mark.parametrize("text,expected", [
    ("Solid answer. Rating: [[7]]", ("7", OK)),
    ("[[3]] at first, but after checking: [[8.5]]", ("8.5", OK)),   # the last rating
    ("Score: 6", ("6", OK)),
    ("rating = 4", ("4", OK)),
    ("<think>Rating: [[2]]</think> Rating: [[9]]", ("9", OK)),
    ("no number here", (None, UNPARSED)),
])
def test_rating(text, expected):
    assert rating(text) == expected


def test_labels_with_regex_characters_are_literal():
    assert brackets("[[A+]]", ("A+", "B+")) == ("A+", OK)
    assert brackets("[[AA]]", ("A+", "B+")) == (None, UNPARSED)


def test_unknown_parser_is_a_user_error():
    with pytest.raises(UserError, match="unknown verdict parser"):
        get_parser("nope")
