"""Markdown views of a run summary (``summary.md``, ``rmbench show``)."""

from __future__ import annotations

import html
import re
from typing import Any

from rmbench.store.cost import cost_line, money

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def md_escape(text: Any) -> str:
    """Make any text safe inside a markdown table cell: no control/ANSI codes, no raw HTML,
    no pipes or newlines that could break the table."""
    s = _ANSI.sub("", str(text))
    s = html.escape(s, quote=False)
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return " ".join(s.split())


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}"


def _table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    from rmbench.reports.tables import gfm_table

    return gfm_table([str(h) for h in headers], [[str(c) for c in r] for r in rows], align)


def _matrices(t: dict) -> list[str]:
    """Style matrices (RM-Bench): rows are the chosen style, columns the rejected style."""
    styles = ["concise", "detailed", "markdown"]
    out: list[str] = []
    for sname, s in (t.get("sections") or {}).items():
        m = s.get("matrix")
        if not m:
            continue
        rows = [[f"chosen {md_escape(styles[i]) if i < len(styles) else i}"] + [pct(v) for v in row]
                for i, row in enumerate(m)]
        heads = [f"{md_escape(sname)}: hard {pct(s.get('hard'))} / normal {pct(s.get('normal'))} / easy {pct(s.get('easy'))}"]
        heads += [f"vs rejected {md_escape(styles[j]) if j < len(styles) else j}" for j in range(len(m[0]))]
        out += [_table(heads, rows), ""]
    return out


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def aggregation_line(agg: dict) -> str:
    """Best-of-N accuracy next to what it cost (the task summary's ``aggregation`` block)."""
    matches, calls = agg.get("matches") or {}, agg.get("judge_calls") or {}
    line = (f"Best-of-N aggregation: {md_escape(agg.get('method'))} (by {md_escape(agg.get('by'))}) over "
            f"{agg.get('items', 0)} items: accuracy {pct(agg.get('accuracy'))}%")
    if agg.get("credit") is not None:
        line += f", credit {pct(agg['credit'])}%"
    line += (f"; per item {_num(matches.get('per_item'))} matches, {_num(calls.get('per_item'))} judge calls "
             f"({matches.get('total', 0)} and {calls.get('total', 0)} in all)")
    if agg.get("tied_tops"):
        line += f"; {agg['tied_tops']} items with a tie at the top"
    return line


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f}"


def diagnostics_rows(t: dict) -> list[list[str]]:
    """The rows of a task's diagnostics table (``diagnostics`` and ``compute_curves`` of its
    summary, see rmbench/scoring/diagnostics.py), whole task only."""
    d, cc = t.get("diagnostics") or {}, t.get("compute_curves") or {}
    rows: list[list[str]] = []
    lb = d.get("length_bias")
    if lb and not (lb.get("n_longer_preferred") or lb.get("n_shorter_preferred")):
        rows.append([f"length bias ({md_escape(lb.get('unit'))})",
                     f"no pair differs in length ({lb.get('n_equal_length', 0)} of equal length)"])
    elif lb:
        rows.append([f"length bias ({md_escape(lb.get('unit'))})",
                     f"preferred longer {pct(lb.get('accuracy_longer_preferred'))} (n {lb.get('n_longer_preferred', 0)}), "
                     f"shorter {pct(lb.get('accuracy_shorter_preferred'))} (n {lb.get('n_shorter_preferred', 0)}), "
                     f"difference {_signed(lb.get('difference'))}"])
        rows.append(["length-controlled accuracy", pct(lb.get("length_controlled_accuracy"))])
    sc = d.get("self_consistency")
    if sc:
        rows.append(["self-consistency", f"all samples agree on {pct(sc.get('all_agree'))}% of {sc.get('requests', 0)} "
                     f"{'ratings' if sc.get('unit') == 'rating' else 'comparisons'} (mean agreement "
                     f"{pct(sc.get('mean_agreement'))}%)"])
    vt = d.get("verdict_ties")
    if vt:
        rows.append(["tie verdicts", f"{vt.get('judgments', 0)} ({pct(vt.get('share'))}% of verdicts)"])
    rt = d.get("ratings")
    if rt:
        dist = rt.get("distribution") or {}
        common = sorted(dist.items(), key=lambda kv: -kv[1])[:3]
        mean = rt.get("mean")
        text = (f"mean {'—' if mean is None else f'{mean:.2f}'} over {rt.get('n', 0)}; most given "
                + ", ".join(f"{md_escape(k)} ({pct(v / rt['n'] if rt.get('n') else None, 0)}%)" for k, v in common)
                + f"; tie rate {pct(rt.get('tie_rate'))}%")
        if "tie_rate_after_expected" in rt:
            text += f" ({pct(rt.get('tie_rate_after_expected'))}% after expected ratings)"
        rows.append(["ratings", text])
    cal = d.get("calibration")
    if cal:
        def f3(key: str) -> str:
            v = cal.get(key)
            return "—" if v is None else f"{v:.3f}"

        rows.append(["calibration", f"soft accuracy {pct(cal.get('soft_accuracy'))}, Brier {f3('brier')}, "
                     f"ECE {f3('ece')}, AUC {f3('auc')} (n {cal.get('n', 0)})"])
    votes = (cc.get("votes") or {}).get("all")
    if votes:
        rows.append(["accuracy by votes", " → ".join(f"k={p['k']} {pct(p.get('accuracy'))}" for p in votes)])
    cands = cc.get("candidates")
    if cands:
        top = max(p["n"] for p in cands)
        parts = [f"{md_escape(p['aggregator'])} {pct(p.get('accuracy'))} ({p.get('judge_calls', 0):g} calls)"
                 for p in cands if p["n"] == top]
        rows.append([f"best of {top} by aggregator", ", ".join(parts)])
    return rows


def task_markdown(name: str, t: dict) -> str:
    lines = [f"## {md_escape(name)}", ""]
    head = f"**Score: {pct(t.get('score'))}** (n = {t.get('n', 0)})"
    if t.get("ci"):
        lo, hi = t["ci"]
        head += f", 95% CI [{pct(lo)}, {pct(hi)}]"
    lines += [head, ""]
    extras = {k: v for k, v in (t.get("metrics") or {}).items() if isinstance(v, (int, float)) or v is None}
    if "score_with_prior" in t:
        extras["score_with_prior"] = t["score_with_prior"]
    if extras:
        lines += [_table(["metric", "value"], [[md_escape(k), pct(v) if isinstance(v, float) or v is None else v]
                                              for k, v in extras.items()]), ""]
    sections = t.get("sections") or {}
    if sections:
        rows = []
        for sname, s in sections.items():
            rows.append([f"**{md_escape(sname)}**", "", pct(s.get("score")), s.get("n", "")])
            for sub, v in (s.get("subsets") or {}).items():
                acc = v.get("accuracy", v.get("score")) if isinstance(v, dict) else v
                rows.append(["", md_escape(sub), pct(acc), v.get("n", "") if isinstance(v, dict) else ""])
        lines += [_table(["section", "subset", "score", "n"], rows, align="llrr"), ""]
    lines += _matrices(t)
    if t.get("unscored_subsets"):
        lines += ["Unscored subsets (not in the task's section table): "
                  + ", ".join(f"{md_escape(k)} ({v.get('n', '?') if isinstance(v, dict) else v})"
                             for k, v in t["unscored_subsets"].items()), ""]
    agg = t.get("aggregation")
    if agg:
        lines += [aggregation_line(agg), ""]
    judging = t.get("judging") or {}
    fails = judging.get("failures") or {}
    if fails or judging:
        lines.append("Failures by status: " + (", ".join(f"{md_escape(k)} {v}" for k, v in fails.items()) or "none")
                     + f" (policy: {judging.get('on_failure', 'loss')})")
        ties = [f"tie verdicts {pct(b['rate'])}% ({b['n']} of {b['of']})" for b in [judging.get("tie_verdicts")]
                if b and b.get("n")]
        ties += [f"equal scores {pct(b['rate'])}% of compared pairs ({b['n']} of {b['of']})"
                 for b in [judging.get("equal_scores")] if b and b.get("n")]
        if ties:
            lines.append("Ties: " + ", ".join(ties))
        pb = judging.get("position_bias")
        if pb and "position_share" in pb:
            lines.append("Position bias: picks by shown position " +
                         " / ".join(f"{pct(v)}%" for v in pb["position_share"]) + f" ({pb.get('picks_ok', 0)} picks)")
        elif pb:
            parts = [f"first-position preference {pct(pb.get('first_position_preference'))}%"]
            if "consistency_rate" in pb:
                parts += [f"order consistency {pct(pb['consistency_rate'])}%",
                          f"order-consistent accuracy {pct(pb['order_consistent_accuracy'])}%"]
            lines.append("Position bias: " + ", ".join(parts))
        lines.append("")
    proto = t.get("protocol") or {}
    if proto:
        bits = [f"{md_escape(proto.get('judge_type'))} judge", f"orders {md_escape(proto.get('orders'))}",
                f"failures {md_escape(proto.get('on_failure'))}"]
        if proto.get("prompt"):
            bits.append(f"prompt {md_escape(proto['prompt'])}")
        if proto.get("truncate"):
            bits.append(f"inputs cut to {proto['truncate'].get('tokens')} tokens ({md_escape(proto['truncate'].get('side'))})")
        line = f"Protocol: {md_escape(proto.get('protocol'))} ({', '.join(bits)})"
        if proto.get("script"):
            line += f"; rules of {md_escape(proto['script'])}"
        lines += [line, ""]
    diag_rows = diagnostics_rows(t)
    if diag_rows:
        lines += [_table(["diagnostic", "value"], diag_rows), ""]
    usage = t.get("usage") or {}
    if usage.get("input_tokens") or usage.get("output_tokens"):
        tin = f"{usage.get('input_tokens', 0):,} input"
        if usage.get("cached_tokens"):
            tin += f" ({usage['cached_tokens']:,} cached)"
        tout = f"{usage.get('output_tokens', 0):,} output"
        if usage.get("reasoning_tokens"):
            tout += f" ({usage['reasoning_tokens']:,} reasoning)"
        line = f"Tokens: {tin}, {tout}"
        if "cost_usd" in t:
            line += f"; cost {money(t['cost_usd'])}"
        lines += [line, ""]
    notes = t.get("data_notes") or {}
    if notes:
        lines.append("Data notes: " + "; ".join(f"{md_escape(k)}: {v['count'] if isinstance(v, dict) else v}"
                                                for k, v in notes.items()))
        lines.append("")
    diag_notes = [*((t.get("diagnostics") or {}).get("notes") or []), *((t.get("compute_curves") or {}).get("notes") or [])]
    for note in [*(t.get("notes") or []), *([agg["note"]] if agg and agg.get("note") else []),
                 *(proto.get("notes") or []), *diag_notes]:
        lines.append(f"> {md_escape(note)}")
    return "\n".join(lines).rstrip() + "\n"


def summary_markdown(summary: dict) -> str:
    lines = [f"# rmbench results: {md_escape(summary.get('model', '?'))}", ""]
    judge = summary.get("judge") or {}
    facts = [f"protocol: {md_escape(summary.get('protocol') or 'rmbench')}", f"seed {summary.get('seed')}"]
    if judge.get("mode"):
        facts.append(f"mode {judge['mode']}")
    if judge.get("template"):
        facts.append(f"prompt {md_escape(judge['template'])}")
    if summary.get("orders") and judge.get("mode") == "pairwise" and summary.get("protocol") != "official":
        facts.append(f"orders {summary['orders']}")
    lines += [", ".join(facts), ""]
    if summary.get("cost"):
        lines += [cost_line(summary["cost"]), ""]
    for name, t in (summary.get("tasks") or {}).items():
        lines.append(task_markdown(name, t))
    return "\n".join(lines).rstrip() + "\n"
