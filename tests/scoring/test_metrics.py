"""The one metric walker (rmbench/scoring/metrics.py): paths, names, values, intervals and counts
of a task summary's metrics, and its readers (bootstrap, gate, compare, lm-eval, leaderboard)
agreeing on them."""

from __future__ import annotations

from rmbench.integrations.lm_eval import _metric_keys
from rmbench.reports.compare import metric_name
from rmbench.reports.gate import default_metrics, metric_catalog
from rmbench.reports.leaderboard import cell_of
from rmbench.scoring import intervals, metrics

SUMMARY = {
    "score": 0.7, "ci": [0.65, 0.75], "n": 100,
    "score_with_prior": 0.68, "score_with_prior_ci": [0.6, 0.7],
    "metrics": {"hard": 0.5, "easy": None, "label": "text"},
    "metrics_ci": {"hard": [0.4, 0.6]},
    "sections": {
        "Chat": {"score": 0.9, "ci": [0.85, 0.95], "n": 60,
                 "subsets": {"alpacaeval-easy": {"accuracy": 0.95, "n": 40, "ci": [0.9, 1.0]},
                             "tiny": {"accuracy": 0.5, "n": 2}}},
        "Ties": {"score": None, "n": 40, "subsets": {"ref": {"score": 0.25, "n": 40}, "odd": 3}},
        "broken": "not a mapping",
    },
}


def test_walk_order_names_values_intervals_and_counts():
    got = [(m.path, m.name, m.kind, m.value, m.ci, m.n) for m in metrics.walk(SUMMARY)]
    assert got == [
        (("score",), "score", "score", 0.7, (0.65, 0.75), 100),
        (("score_with_prior",), "score_with_prior", "score_with_prior", 0.68, (0.6, 0.7), 100),
        (("metrics", "hard"), "hard", "metric", 0.5, (0.4, 0.6), 100),
        (("sections", "Chat", "score"), "Chat", "section", 0.9, (0.85, 0.95), 60),
        (("sections", "Chat", "subsets", "alpacaeval-easy", "accuracy"), "Chat.alpacaeval-easy", "subset", 0.95,
         (0.9, 1.0), 40),
        (("sections", "Chat", "subsets", "tiny", "accuracy"), "Chat.tiny", "subset", 0.5, None, 2),
        (("sections", "Ties", "subsets", "ref", "score"), "Ties.ref", "subset", 0.25, None, 40),
    ]
    # places that exist without a number (a Ties section with no composite score, easy = None)
    names = [m.name for m in metrics.walk(SUMMARY, numeric=False)]
    assert names == ["score", "score_with_prior", "hard", "easy", "label", "Chat", "Chat.alpacaeval-easy",
                     "Chat.tiny", "Ties", "Ties.ref"]
    assert [m.name for m in metrics.walk(SUMMARY, min_subset_n=30)][-2:] == ["Chat.alpacaeval-easy", "Ties.ref"]


def test_find_and_full_names():
    assert metrics.find(SUMMARY, "Chat").path == ("sections", "Chat", "score")
    assert metrics.find(SUMMARY, "chat.ALPACAEVAL-EASY").value == 0.95  # case does not matter
    assert metrics.find(SUMMARY, "Ties").value is None and metrics.find(SUMMARY, "nope") is None
    assert metrics.full_name("rb", ("score",)) == "rb"
    assert metrics.full_name("rb", ("sections", "Chat", "subsets", "alpacaeval-easy", "accuracy")) == \
        "rb.Chat.alpacaeval-easy"
    assert metrics.get_path(SUMMARY, ("metrics", "label")) is None  # not a number
    assert metrics.get_path(SUMMARY, ("sections", "broken", "score")) is None


def test_the_readers_agree_on_names_and_paths():
    walked = {m.full_name("rb"): m.path for m in metrics.walk(SUMMARY, numeric=False)}
    # gate: every metric place, by the same full names
    assert {k: v[1] for k, v in metric_catalog({"tasks": {"rb": SUMMARY}}).items()} == walked
    # the gate's default set: every score and section, also Ties without a value (the gate then refuses)
    assert default_metrics({"tasks": {"rb": SUMMARY}}) == ["rb", "rb.Chat", "rb.Ties"]
    # compare: the same names for the paths it compares
    assert all(metric_name("rb", p) == name for name, p in walked.items())
    # the bootstrap: the numeric metrics (subsets from 30 examples)
    assert intervals.metric_paths(SUMMARY) == [m.path for m in metrics.walk(SUMMARY, min_subset_n=30)]
    # lm-eval: one key per numeric metric but subsets, slugged from the same names
    assert _metric_keys(SUMMARY) == {"score": ["score"], "score_with_prior": ["score_with_prior"],
                                     "hard": ["metrics", "hard"], "chat": ["sections", "Chat", "score"]}
    # the leaderboard's cells: value, interval and count from the same place
    c = cell_of(SUMMARY, "Chat.alpacaeval-easy")
    assert (c.value, c.lo, c.hi, c.n) == (0.95, 0.9, 1.0, 40)
    c = cell_of(SUMMARY, "hard")
    assert (c.value, c.lo, c.hi, c.n) == (0.5, 0.4, 0.6, 100)
    assert cell_of(SUMMARY, "nope") is None and cell_of(SUMMARY, "Ties").value is None


def test_a_name_two_places_share_goes_to_the_first():
    s = {"score": 0.5, "metrics": {"Chat": 0.1}, "sections": {"Chat": {"score": 0.9, "n": 3}}}
    assert [m.path for m in metrics.walk(s)] == [("score",), ("metrics", "Chat"), ("sections", "Chat", "score")]
    assert metrics.find(s, "Chat").path == ("metrics", "Chat")
    assert metrics.catalog("t", s)["t.Chat"] == ("metrics", "Chat")
