"""rmbench run: judge every example of one or more tasks and write results."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="judge a task with a model and write records and official scores",
                       description="Judge every example of the given tasks with a model and write run.json, "
                                   "records.jsonl, summary.json and summary.md to OUTPUT_DIR/RUN_NAME. "
                                   "Rerunning the same command resumes where it stopped.")
    p.add_argument("--model", required=True, help="PROVIDER/NAME, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, "
                   "vllm/gaotang/RM-R1-Qwen2.5-Instruct-7B, hf/./my-rm, baseline/longest")
    p.add_argument("--task", required=True, help="task name(s), comma-separated (see 'rmbench tasks')")
    g = p.add_argument_group("data and output")
    g.add_argument("--data-path", help="local JSON/JSONL/parquet file or folder instead of the hub (TASK=PATH,... for several tasks)")
    g.add_argument("--limit", type=int, help="judge N evenly spaced examples per task")
    g.add_argument("--shard", help="I/N: judge the I-th of N deterministic slices (merge with 'rmbench merge')")
    g.add_argument("--output-dir", default="results", help="output root (default: results)")
    g.add_argument("--run-name", help="run directory name (default: derived from model and tasks)")
    g.add_argument("--overwrite", action="store_true", help="discard an existing run of that name instead of resuming")
    g.add_argument("--seed", type=int, default=0, help="seed for orders, samples, tie-breaks and baselines (default 0)")
    g.add_argument("--task-args", help="task options k=v,... (e.g. parts=bon,goals=Harmlessness for rmb)")
    g.add_argument("--rmb-average", choices=["micro", "macro"],
                   help="RMB: average items (micro, official) or scenarios (macro); same as --task-args average=...")
    j = p.add_argument_group("judge")
    j.add_argument("--model-args", help="provider/engine settings k=v,... (e.g. batch_size=8,dtype=float32)")
    j.add_argument("--judge-type", help="generative | scalar (| dpo for hf): override the detected judge type")
    j.add_argument("--prompt", help="judge template: a built-in name (pairwise, rubric, boxed, rating, ...) or a .j2 file")
    j.add_argument("--gen", action="append", help="generation setting key=value (temperature, max_tokens, top_p, seed, "
                   "reasoning_effort, thinking_budget, ...); repeatable")
    j.add_argument("--orders", default="both", help="both (default) | random | fixed: presentation orders per comparison")
    j.add_argument("--samples", type=int, default=1, help="judgments per comparison; majority vote (default 1)")
    j.add_argument("--on-failure", default="loss", help="how failed judgments score: loss (default) | half | exclude | "
                   "chance (1/number of candidates)")
    j.add_argument("--protocol", default="rmbench", help="rmbench (default: both orders, explicit failures) | official "
                   "(what each benchmark's official script does: one random order, its failure value, scalar inputs "
                   "cut to 2,048 tokens; see docs/benchmarks.md)")
    j.add_argument("--aggregate", help="multi-candidate aggregation: pairwise | knockout | elo | bt | wins")
    j.add_argument("--max-length", type=int, help="token limit for local models (longer inputs are counted and reported)")
    j.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local (default): the judge runs in this process | ray: local engines (hf/, vllm/, llamacpp/) "
                   "as a pool of Ray actors, --model-args replicas=N,gpus_per_replica=G (docs/scale-out.md)")
    j.add_argument("--ray-address", help="--engine ray: the cluster to join (auto, ray://HOST:PORT; default: "
                   "RAY_ADDRESS, else a local Ray instance)")
    a = p.add_argument_group("API clients")
    a.add_argument("--base-url", help="OpenAI/Anthropic-compatible endpoint (or OPENAI_BASE_URL / ANTHROPIC_BASE_URL); "
                   "several replicas of one model: URL1,URL2,... or @FILE with one URL per line")
    a.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    a.add_argument("--timeout", type=float, default=600.0, help="seconds per request (default 600)")
    a.add_argument("--max-retries", type=int, default=6, help="retries per request on 429/5xx/timeouts (default 6)")
    a.add_argument("--cache", help="SQLite cache file (default ~/.cache/rmbench/judgments.sqlite or $RMBENCH_CACHE_DIR)")
    a.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    a.add_argument("--retry-failed", action="store_true", help="re-ask only judgments that failed in an earlier run")
    a.add_argument("--batch", action="store_true", help="use the provider's batch API (half price, slower)")
    a.add_argument("--price", help="IN,OUT: USD per million input/output tokens, for a cost line")
    d = p.add_argument_group("dry run")
    d.add_argument("--dry-run", action="store_true", help="load the data, render every prompt and count the "
                   "requests, tokens and price; send nothing, write nothing")
    d.add_argument("--like", metavar="RUN_DIR", help="with --dry-run: estimate output tokens from an earlier run "
                   "of the same model")
    d.add_argument("--format", choices=["text", "json"], default="text",
                   help="with --dry-run: a short report (default) or one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    return p


def _typed(text, flag: str) -> dict:
    from rmbench.config import coerce_value, parse_kv
    from rmbench.errors import UserError

    out = {}
    for k, v in parse_kv(text, flag).items():
        try:
            out[k] = coerce_value(v)
        except UserError as e:
            raise UserError(f"{flag} {k}={v}: {e}") from None
    return out


def build_config(args):
    from rmbench.config import GenConfig, RunConfig, parse_kv
    from rmbench.errors import UserError

    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    if not tasks:
        raise UserError("--task is empty")
    shard = None
    if args.shard:
        try:
            i, n = args.shard.split("/")
            shard = (int(i), int(n))
        except ValueError:
            raise UserError(f"--shard must be I/N (e.g. 0/4), not '{args.shard}'") from None
    price = None
    if args.price:
        try:
            pin, pout = (float(x) for x in args.price.split(","))
            price = (pin, pout)
        except ValueError:
            raise UserError(f"--price must be IN,OUT in USD per million tokens, not '{args.price}'") from None
    gen_pairs = parse_kv(",".join(args.gen or []), "--gen")
    model_args = _typed(args.model_args, "--model-args")
    task_args = _typed(args.task_args, "--task-args")
    if getattr(args, "rmb_average", None):
        task_args["average"] = args.rmb_average
    return RunConfig(
        model=args.model, tasks=tasks, limit=args.limit, seed=args.seed, output_dir=args.output_dir,
        run_name=args.run_name, data_path=args.data_path, model_args=model_args, task_args=task_args,
        gen=GenConfig.from_pairs(gen_pairs), prompt=args.prompt, judge_type=args.judge_type, orders=args.orders,
        samples=args.samples, on_failure=args.on_failure, aggregate=args.aggregate, concurrency=args.concurrency,
        timeout=args.timeout, max_retries=args.max_retries, base_url=args.base_url, cache=args.cache,
        no_cache=args.no_cache, retry_failed=args.retry_failed, batch=args.batch, price=price, shard=shard,
        max_length=args.max_length, overwrite=args.overwrite, protocol=args.protocol, engine=args.engine,
        ray_address=args.ray_address)


def _dry_run(config, args) -> int:
    import json

    from rmbench.runner import dry_run
    from rmbench.store.cost import money

    res = dry_run(config, like=args.like)
    if args.format == "json":
        print(json.dumps(res, indent=2, ensure_ascii=False))
        return 0

    def num(x) -> str:
        return "—" if x is None else f"{x:,}"

    rows = [[t, num(b["requests"]), num(b["input_tokens"]), num(b["output_tokens_estimate"]),
             "—" if b["usd_estimate"] is None else money(b["usd_estimate"])] for t, b in res["by_task"].items()]
    rows.append(["total", num(res["requests"]), num(res["input_tokens"]), num(res["output_tokens_estimate"]),
                 "—" if res["usd_estimate"] is None else money(res["usd_estimate"])])
    from rmbench.reports.tables import gfm_table

    print(f"Dry run of {config.model} on {', '.join(config.tasks)}: nothing was sent or written.\n")
    print(gfm_table(["task", "requests", "input tokens", "output tokens (est.)", "USD (est.)"], rows))
    print(f"\nInput tokens counted with {res['input_tokens_counted_with']}.")
    if res.get("output_tokens_from"):
        print(f"Output tokens: {res['output_tokens_from']}.")
    if res.get("cached"):
        print(f"{res['cached']:,} answers are already in the cache and would not be asked again.")
    for note in res.get("notes") or []:
        print(f"Note: {note}.")
    return 0


def main(args) -> int:
    import sys

    from rmbench.runner import run
    from rmbench.store.files import read_text

    config = build_config(args)
    if args.like and not args.dry_run:
        from rmbench.errors import UserError

        raise UserError("--like goes with --dry-run")
    if args.dry_run:
        return _dry_run(config, args)
    path = run(config, argv=["rmbench"] + sys.argv[1:], show_progress=None if not args.quiet else False)
    if not args.quiet:
        print(read_text(path / "summary.md"))
    if config.price:
        from rmbench.store.cost import money
        from rmbench.store.schema import read_run_json

        info = read_run_json(path / "run.json")
        print(f"cost: {money(info['cost_usd'])} for the run's judgments, {money(info['cost_usd_spent'])} "
              "spent by this invocation (cached judgments are free)", file=sys.stderr)
    print(f"results: {path}", file=sys.stderr)
    return 0
