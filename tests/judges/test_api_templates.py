"""Every built-in template, rendered, sent through both SDKs to the fake judge, and parsed back:
the template's instructions, labels and parser agree, single- and multi-turn."""

from __future__ import annotations

import pytest

from rmbench.judges.prompts import builtin_names, load_template
from rmbench.protocol import Policy
from rmbench.types import OK, Example
from tests.judges.api_helpers import PROVIDERS, evaluate, judge

TOP_LEVEL = [n for n in builtin_names() if not n.endswith("_multi")]
SHORT, LONG = "Paris.", "The capital of France is Paris, on the Seine."


def _examples():
    single = Example(id="s", task="t", subset="s", messages=({"role": "user", "content": "Capital of France?"},),
                     candidates=(LONG, SHORT), preferred=(0,))
    multi = Example(id="m", task="t", subset="s", messages=(
        {"role": "user", "content": "Let us talk geography."}, {"role": "assistant", "content": "Gladly."},
        {"role": "user", "content": "Capital of France?"}), candidates=(SHORT, LONG), preferred=(1,))
    return [single, multi]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("name", TOP_LEVEL)
def test_builtin_template_round_trip(fake_api, provider, name, tmp_path):
    tmpl = load_template(name)
    j = judge(fake_api, provider, tmp_path, prompt=name)
    single, multi = _examples()
    outs = evaluate(j, [single, multi], Policy(orders="both"))
    # the multi-turn example went out through the template's multi-turn form
    multi_prompts = [r for r in fake_api.requests() if "Let us talk geography." in r["prompt"]]
    assert multi_prompts and all("Gladly." in r["prompt"] for r in multi_prompts)
    if tmpl.mode == "pairwise":
        assert fake_api.total == 4
        judgments = [jd for o in outs for js in o.judgments.values() for jd in js]
        assert {jd.status for jd in judgments} == {OK}
        assert {jd.label for jd in judgments} == set(tmpl.labels)  # both positions were named
        assert [o.beats(*o.example.preferred, *o.example.rejected) for o in outs] == [1.0, 1.0]
    elif tmpl.mode == "best-of-n":
        assert fake_api.total == 2  # one message per example with every candidate in it
        assert all(p.status == OK for o in outs for p in o.picks)
        assert [o.pick_credit() for o in outs] == [1.0, 1.0]
    else:
        assert fake_api.total == 4  # one rating per candidate
        assert all(s.status == OK for o in outs for per in o.scores for s in per)
        assert [o.beats(*o.example.preferred, *o.example.rejected) for o in outs] == [1.0, 1.0]
