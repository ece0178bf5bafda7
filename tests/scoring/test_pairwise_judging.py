"""The generative (pairwise) path for RM-Bench, RMB and RewardBench 2, through the real ``Judge``
(template rendering, verdict parsing, protocol orders) with a provider that prefers the longer
response. With no equal lengths it must agree exactly with the pointwise longest baseline."""

from __future__ import annotations

import asyncio
import re

import pytest

from rmbench.config import RunConfig
from rmbench.contracts import PAIRWISE
from rmbench.judges.base import GENERATIVE, BaseProvider, GenOutput
from rmbench.judges.engine import Judge
from rmbench.judges.prompts import load_template
from rmbench.protocol import Outcome, Policy, evaluate_example
from rmbench.scoring import get_scorer
from rmbench.tasks import get_spec, load_task
from rmbench.types import Score

_BLOCK = re.compile(r"\[Response ([AB])\]\n(.*?)\n\[End of response \1\]", re.S)


class LongerWins(BaseProvider):
    kind = GENERATIVE

    def __init__(self):
        super().__init__("longer", RunConfig(model="test/longer", tasks=[]))
        self.calls = 0

    async def agenerate(self, req):
        self.calls += 1
        blocks = dict(_BLOCK.findall(req.messages[-1]["content"]))
        verdict = "A" if len(blocks["A"]) >= len(blocks["B"]) else "B"
        return GenOutput(text=f"The longer response is better.\n[[{verdict}]]", finish_reason="stop")


def _judge():
    provider = LongerWins()
    config = RunConfig(model="test/longer", tasks=[], no_cache=True)
    template = load_template("pairwise")
    judge = Judge(provider, config, template, {template.multi_turn: load_template(template.multi_turn)})
    assert judge.mode == PAIRWISE
    return judge, provider


def _pointwise_longest(ex):
    return Outcome(ex, Policy(), scores=[[Score(i, 0, float(len(c)))] for i, c in enumerate(ex.candidates)])


@pytest.mark.parametrize("task", ["rm-bench", "rmb", "rewardbench2"])
def test_pairwise_judge_matches_pointwise_longest_on_the_demo(task):
    spec = get_spec(task)
    examples = load_task(spec, demo=True).examples
    scorer = get_scorer(spec.scoring)
    judge, provider = _judge()

    async def go():
        return [await evaluate_example(ex, judge.mode, Policy(orders="both"), judge.compare, judge.score)
                for ex in examples]

    outcomes = asyncio.run(go())
    expected_calls = sum(2 * len(ex.preferred) * len(ex.rejected) for ex in examples)
    assert provider.calls == expected_calls
    compared = 0
    for ex, out in zip(examples, outcomes, strict=True):
        assert len(out.judgments) == len(ex.preferred) * len(ex.rejected)
        assert all(len(js) == 2 for js in out.judgments.values())
        got = scorer.example_result(ex, out)
        want = scorer.example_result(ex, _pointwise_longest(ex))
        lengths = [len(c) for c in ex.candidates]
        if len(set(lengths)) < len(lengths):
            continue  # equal lengths: a scalar tie is a loss, the two orders split instead
        assert got["correct"] == pytest.approx(want["correct"]), ex.id
        if "matrix" in want:
            assert got["matrix"] == want["matrix"], ex.id
        compared += 1
    assert compared >= 3
