"""rmbench lm-eval-tasks: write rmbench tasks as lm-eval YAML tasks and print the directory, for
``lm_eval --include_path "$(rmbench lm-eval-tasks)" --tasks rmbench_rewardbench ...``."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("lm-eval-tasks", help="write lm-eval YAML tasks (rmbench_<task>) and print their directory",
                       description="Write one lm-eval task per rmbench task (pairwise generative judging, scored "
                                   "by rmbench's parser and official scorer) with its data as local JSONL, and "
                                   "print the directory for lm_eval --include_path. Needs rmbench[lm-eval] to run.")
    p.add_argument("--task", help="comma-separated tasks (default: every task on the hub; with --demo, every task "
                   "with a demo sample)")
    p.add_argument("--dir", help="output directory (default: $RMBENCH_CACHE_DIR/lm_eval_tasks or "
                   "~/.cache/rmbench/lm_eval_tasks)")
    p.add_argument("--data-path", help="local data instead of the hub (TASK=PATH,... for several tasks)")
    p.add_argument("--demo", action="store_true", help="use the embedded demo samples (offline)")
    p.add_argument("--limit", type=int, help="N evenly spaced examples per task")
    p.add_argument("--prompt", default="pairwise", help="pairwise judge template: a built-in name or a .j2 file")
    p.add_argument("--orders", default="both", choices=["both", "random", "fixed"],
                   help="presentation orders per comparison (default both)")
    p.add_argument("--seed", type=int, default=0, help="seed for --orders random (default 0)")
    p.add_argument("--task-args", help="task options k=v,...")
    p.add_argument("--max-gen-toks", type=int, default=2048, help="generation budget per judgment (default 2048)")
    return p


def main(args) -> int:
    import sys
    from pathlib import Path

    from rmbench.config import RunConfig, coerce_value, parse_kv
    from rmbench.errors import UserError
    from rmbench.integrations.lm_eval import default_dir, write_tasks
    from rmbench.runner import resolve_data_paths
    from rmbench.tasks.spec import all_specs

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.task:
        tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    else:
        # every task that can be loaded without more input: a demo sample, or a hub source
        tasks = [s.name for s in all_specs() if (s.demo if args.demo else (s.source.hub or s.source.hubs or s.source.url))]
    if not tasks:
        raise UserError("no tasks to write")
    paths = resolve_data_paths(RunConfig(model="x/x", tasks=tasks, data_path=args.data_path))
    task_args = {k: coerce_value(v) for k, v in parse_kv(args.task_args, "--task-args").items()}
    out = Path(args.dir) if args.dir else default_dir()
    written = []
    for task in tasks:
        written += write_tasks(out, [task], data_path=paths[task], demo=args.demo and not paths[task],
                               prompt=args.prompt, orders=args.orders, seed=args.seed, limit=args.limit,
                               task_args=task_args, max_gen_toks=args.max_gen_toks)
    print(f"lm-eval tasks: {', '.join(written)}", file=sys.stderr)
    print(out.resolve())
    return 0
