"""What a run's tokens cost at the prices given with ``--price IN,OUT`` (USD per million input
and output tokens). Derived only from token totals, so it is as deterministic as the records.

Input tokens are priced in full, including any the provider served from its prompt cache (it
may charge those less, so the figure is an upper bound there); output tokens include reasoning
tokens, which the APIs bill as output. A ``--batch`` run is priced at half (both APIs' batch
discount). Cached judgments (rmbench's own cache) are priced too: the figure is what the
judgments in the run cost when they were made, not what this invocation spent (run.json's
``cost_usd_spent`` says that).
"""

from __future__ import annotations

BATCH_DISCOUNT = 0.5


def cost_usd(input_tokens: int, output_tokens: int, price: tuple[float, float], batch: bool = False) -> float:
    usd = input_tokens / 1e6 * price[0] + output_tokens / 1e6 * price[1]
    if batch:
        usd *= BATCH_DISCOUNT
    return round(usd, 6)


def cost_summary(usage: dict[str, int], price: tuple[float, float], batch: bool = False) -> dict:
    tin, tout = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    out = {"usd": cost_usd(tin, tout, price, batch), "input_tokens": tin, "output_tokens": tout,
           "usd_per_million": {"input": float(price[0]), "output": float(price[1])}}
    if batch:
        out["batch_discount"] = BATCH_DISCOUNT
    return out


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 100 else f"${usd:,.4f}"


def cost_line(cost: dict) -> str:
    p = cost["usd_per_million"]
    line = (f"Cost: {money(cost['usd'])} for {cost['input_tokens']:,} input and {cost['output_tokens']:,} output "
            f"tokens at ${p['input']:g} / ${p['output']:g} per million")
    if cost.get("batch_discount"):
        line += f", batch price ({cost['batch_discount']:g} x)"
    return line
