"""Run directories on disk: run.json, records.jsonl, summary.json and summary.md.

The runner writes them mid-run; reports, compare, gate and leaderboards only read them. Every
persisted artifact has its reader and its writer here.
"""
