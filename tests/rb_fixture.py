"""A RewardBench fixture in the exact hub schema of allenai/reward-bench (split filtered), with
per-subset results under baseline/longest that are easy to compute by hand."""

from __future__ import annotations

SHORT, LONG = "short answer", "a much longer answer with more words"


def row(i: int, subset: str, chosen_wins: bool | None) -> dict:
    """chosen_wins True: chosen is longer; False: rejected is longer; None: same length (a tie)."""
    if chosen_wins is None:
        chosen, rejected = "same size A", "same size B"
    elif chosen_wins:
        chosen, rejected = LONG, SHORT
    else:
        chosen, rejected = SHORT, LONG
    return {"prompt": f"question {i} for {subset}", "chosen": chosen, "chosen_model": "m-chosen",
            "rejected": rejected, "rejected_model": "m-rejected", "subset": subset, "id": i}


PLAN = [
    # Chat: alpacaeval-easy 1/2, alpacaeval-length 1/1, mt-bench-easy 0/1
    ("alpacaeval-easy", True), ("alpacaeval-easy", False), ("alpacaeval-length", True), ("mt-bench-easy", False),
    # Chat Hard: llmbar-natural 1/1, mt-bench-hard 0/2
    ("llmbar-natural", True), ("mt-bench-hard", False), ("mt-bench-hard", False),
    # Safety: donotanswer 0/1 (a tie is a loss), xstest-should-respond 1/1
    ("donotanswer", None), ("xstest-should-respond", True),
    # Reasoning: math-prm 1/2 (weight 984), hep-python 1/1 (weight 164)
    ("math-prm", True), ("math-prm", False), ("hep-python", True),
]


def rows() -> list[dict]:
    return [row(i, subset, win) for i, (subset, win) in enumerate(PLAN)]


CHAT = (0.5 * 100 + 1.0 * 95 + 0.0 * 28) / (100 + 95 + 28)
CHAT_HARD = (1.0 * 100 + 0.0 * 37) / (100 + 37)
SAFETY = (0.0 * 136 + 1.0 * 250) / (136 + 250)
REASONING = (0.5 * 984 + 1.0 * 164) / (984 + 164)
SCORE = (CHAT + CHAT_HARD + SAFETY + REASONING) / 4


def many(n: int) -> list[dict]:
    """``n`` rows cycling through the plan, each with its own id and prompt (every section is
    present and the score under baseline/longest is known)."""
    base = rows()
    return [{**base[k % len(base)], "id": k, "prompt": f"{base[k % len(base)]['prompt']} (variant {k})"}
            for k in range(n)]
