"""Judge templates: built-ins load and render; dataset text stays data; bad templates fail cleanly."""

from __future__ import annotations

import pytest

from rmbench.errors import UserError
from rmbench.judges.prompts import builtin_names, load_template

CONVO = ({"role": "user", "content": "What is 2+2?"},)


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_template_renders(name):
    t = load_template(name)
    responses = ("four", "five") if t.mode == "pairwise" else ("four",)
    msgs = t.render(CONVO, responses)
    assert msgs[-1]["role"] == "user"
    assert "four" in msgs[-1]["content"]
    if t.mode == "pairwise":
        # the shared part (instructions and question) comes before the responses: prefix caching
        user = msgs[-1]["content"]
        assert user.index("What is 2+2?") < user.index("four") < user.index("five")


def test_dataset_text_is_never_template_source():
    t = load_template("pairwise")
    evil = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__.__mro__ }}"
    msgs = t.render(({"role": "user", "content": evil},), (evil, "[[B]]"))
    user = msgs[-1]["content"]
    assert "{{ 7*7 }}" in user and "49" not in user
    assert "{% for x in range(3) %}loop{% endfor %}" in user


def test_multi_turn_template_shows_the_whole_conversation():
    t = load_template("pairwise_multi")
    convo = ({"role": "user", "content": "first question"}, {"role": "assistant", "content": "first answer"},
             {"role": "user", "content": "follow-up"})
    user = t.render(convo, ("r1", "r2"))[-1]["content"]
    assert user.index("first question") < user.index("first answer") < user.index("follow-up") < user.index("r1")


def test_user_template_file(tmp_path):
    f = tmp_path / "mine.j2"
    f.write_text("{#- rmbench\nparser: boxed\nlabels: [Assistant 1, Assistant 2]\n-#}\nQ: {{ question }}\n1: {{ response_a }}\n2: {{ response_b }}\n")
    t = load_template(str(f))
    assert t.parser == "boxed"
    assert t.render(CONVO, ("x", "y")) == ({"role": "user", "content": "Q: What is 2+2?\n1: x\n2: y"},)


def test_sandbox_blocks_attribute_escapes(tmp_path):
    f = tmp_path / "evil.j2"
    f.write_text("{{ question.__class__.__mro__[1].__subclasses__() }}")
    t = load_template(str(f))
    with pytest.raises(Exception) as e:
        t.render(CONVO, ("a", "b"))
    assert "unsafe" in str(e.value).lower() or "SecurityError" in type(e.value).__name__ or isinstance(e.value, UserError)


@pytest.mark.parametrize("body,needle", [
    ("{% for %}", "syntax error"),
    ("{#- rmbench\nmode: sideways\n-#}\nx", "mode must be"),
    ("{#- rmbench\nparser: nope\n-#}\nx", "unknown verdict parser"),
    ("{#- rmbench\nlabels: [A]\n-#}\nx", "exactly two labels"),
    ("{{ no_such_variable }}", "failed to render"),
    ("{#- rmbench\ntie_label: A\n-#}\nx", "tie_label 'A' is also a candidate label"),
    ("{#- rmbench\nmode: rating\ntie_label: C\n-#}\nx", "tie_label applies to pairwise and best-of-n"),
    ("{#- rmbench\nmode: best-of-n\nlabels: [A]\n-#}\nx", "at least two labels"),
    ("{#- rmbench\nmode: best-of-n\nlabels: [A, A]\n-#}\nx", "labels must differ"),
    ("{#- rmbench\nrating_template: rating\n-#}\nx", "rating_template applies to best-of-n"),
    ("{#- rmbench\nmode: best-of-n\nlabels: [X, Y]\n-#}\n{{ responses }}", "declares 2 labels but an item has 3"),
])
def test_bad_templates_raise_user_errors(tmp_path, body, needle):
    f = tmp_path / "bad.j2"
    f.write_text(body)
    with pytest.raises(UserError) as e:
        load_template(str(f)).render(CONVO, ("a", "b", "c") if "best-of-n" in body else ("a", "b"))
    assert needle in str(e.value)


def test_a_header_declares_the_tie_label_and_verdict_labels(tmp_path):
    f = tmp_path / "tie.j2"
    f.write_text("{#- rmbench\nparser: answer_tag\nlabels: [A, B]\ntie_label: C\n-#}\n{{ response_a }} {{ response_b }}")
    t = load_template(str(f))
    assert t.labels == ("A", "B") and t.tie_label == "C" and t.verdicts == ("A", "B", "C")
    assert load_template("pairwise").tie_label is None and load_template("pairwise").verdicts == ("A", "B")


def test_best_of_n_shows_every_candidate_in_order_with_its_label():
    t = load_template("best-of-n")
    assert t.mode == "best-of-n" and t.labels[:4] == ("A", "B", "C", "D") and t.rating_template == "rating"
    user = t.render(CONVO, ("first", "second", "third", "fourth"))[-1]["content"]
    marks = [user.index(f"[Response {label}]\n{text}\n[End of response {label}]")
             for label, text in zip("ABCD", ("first", "second", "third", "fourth"))]
    assert marks == sorted(marks) and user.index("What is 2+2?") < marks[0]
    assert user.rstrip().endswith("[[A]], [[B]], [[C]], [[D]].")   # only the labels this list uses


def test_unknown_builtin_suggests_a_name():
    with pytest.raises(UserError) as e:
        load_template("pairwize")
    assert "did you mean 'pairwise'" in str(e.value)


@pytest.mark.parametrize("header,needle", [
    ("mode: pairwise\nparser: rating", "the rating parser reads scores"),        # [[9]] was "the second"
    ("mode: best-of-n\nparser: rating", "the rating parser reads scores"),
    ("mode: rating\nparser: brackets", "declares the ratings it may give"),     # [[]] crashed float('')
    ("mode: rating\nparser: brackets\nlabels: [good, bad]", "declares the ratings it may give"),
])
def test_a_parser_that_cannot_read_the_modes_verdicts_is_refused(tmp_path, header, needle):
    f = tmp_path / "t.j2"
    f.write_text("{#- rmbench\n" + header + "\n-#}\n{{ question }}")
    with pytest.raises(UserError, match=needle):
        load_template(str(f))


def test_a_rating_template_may_read_numeric_labels_with_brackets(tmp_path):
    f = tmp_path / "t.j2"
    f.write_text("{#- rmbench\nmode: rating\nparser: brackets\nlabels: [1, 2, 3, 4, 5]\n-#}\n{{ response }}")
    assert load_template(str(f)).labels == ("1", "2", "3", "4", "5")
