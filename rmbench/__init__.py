"""rmbench: benchmark reward models and LLM judges with official scoring.

The public API (everything heavy is imported only when used)::

    import rmbench
    res = rmbench.evaluate(model="openai/gpt-4o-mini", tasks=["rewardbench"], limit=200)
    res.summary["tasks"]["rewardbench"]["score"]; res.records; res.to_pandas()
    res = await rmbench.evaluate_async(...)        # inside a running event loop
    rmbench.rescore(path); rmbench.compare(a, b); rmbench.gate(a, b); rmbench.leaderboard([...])
"""

__version__ = "0.2.0"

__all__ = ["__version__", "evaluate", "evaluate_async", "rescore", "compare", "gate", "leaderboard", "Result",
           "Example", "RunConfig", "GenConfig", "UserError"]

_API = {"evaluate", "evaluate_async", "rescore", "compare", "gate", "leaderboard", "Result"}


def __getattr__(name):
    if name in _API:
        from rmbench import api

        return getattr(api, name)
    if name in ("RunConfig", "GenConfig"):
        from rmbench import config

        return getattr(config, name)
    if name == "Example":
        from rmbench.types import Example

        return Example
    if name == "UserError":
        from rmbench.errors import UserError

        return UserError
    raise AttributeError(f"module 'rmbench' has no attribute '{name}'")
