"""Judges: comparisons -> verdicts or scores. ``build_judge`` turns a ``provider/name`` model
spec into a ``Judge`` (the provider wrapped with cache, concurrency, retries and parsing)."""

from __future__ import annotations

from rmbench import registry
from rmbench.config import RunConfig
from rmbench.contracts import PAIRWISE, POINTWISE
from rmbench.errors import UserError
from rmbench.judges.base import GENERATIVE, SCALAR, BaseProvider
from rmbench.judges.engine import Judge

__all__ = ["Judge", "as_judge", "build_judge", "build_provider", "PAIRWISE", "POINTWISE"]

DEFAULT_PROMPT = "pairwise"


def build_provider(config: RunConfig) -> BaseProvider:
    if config.engine == "ray":  # the provider on a pool of Ray actors (rmbench/judges/ray_engine.py)
        from rmbench.judges.ray_engine import RayProvider

        return RayProvider(config)
    from rmbench.judges.ray_engine import POOL_ARGS

    pool_args = sorted(set(POOL_ARGS) & set(config.model_args))
    if pool_args:
        raise UserError(f"--model-args {', '.join(pool_args)}: settings of --engine ray's actor pool")
    prefix, name = registry.split_model(config.model)
    module = registry.provider_module(prefix)
    cls = getattr(module, "Provider", None)
    if cls is None:
        raise UserError(f"provider module '{prefix}' defines no Provider class")
    return _judge_type(cls(name, config), config, prefix)


def _judge_type(provider: BaseProvider, config: RunConfig, prefix: str) -> BaseProvider:
    cls = type(provider)
    if config.judge_type:
        if config.judge_type not in (GENERATIVE, SCALAR) and config.judge_type not in getattr(cls, "judge_types", ()):
            raise UserError(f"--judge-type {config.judge_type} is not supported by provider '{prefix}'")
        if config.judge_type in (GENERATIVE, SCALAR):
            provider.judge_kind = config.judge_type
    return provider


def build_judge(config: RunConfig, provider: BaseProvider | None = None) -> Judge:
    from rmbench.judges.cache import Cache, default_cache_path
    from rmbench.judges.prompts import load_template

    provider = provider or build_provider(config)
    template = None
    templates = {}
    if provider.judge_kind != SCALAR:
        template = load_template(config.prompt or DEFAULT_PROMPT)
        if template.multi_turn:
            templates[template.multi_turn] = load_template(template.multi_turn)
    elif config.prompt:
        raise UserError(f"--prompt has no effect on the scalar judge {config.model}")
    cache = None
    if provider.judge_kind != SCALAR and not config.no_cache and provider.cacheable():
        try:
            cache = Cache(config.cache or default_cache_path())
        except Exception as e:
            raise UserError(f"cannot open the judgment cache {config.cache or default_cache_path()}: {e}") from None
    return Judge(provider, config, template, templates, cache)


def _check_identity_methods(provider: BaseProvider) -> None:
    """A provider object given to the Python API: what it says about itself keys the cache and is
    written to run.json, so it must be a dict with string keys that JSON can hold."""
    import json

    for what in ("cache_identity", "describe"):
        value = getattr(provider, what)()
        problem = None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            problem = f"not {type(value).__name__}" if not isinstance(value, dict) else "it has a key that is no string"
        else:
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as e:
                problem = f"JSON cannot hold it ({e})"
        if problem:
            raise UserError(f"{type(provider).__name__}.{what}() must return a dict with string keys and JSON "
                            f"values; {problem}")


def as_judge(config: RunConfig, judge: object = None) -> Judge:
    """The run's judge: built from ``config.model``, or wrapped around the provider object the
    Python API was given (a Judge object gives its provider and templates; the run's settings,
    cache and statistics are always the run's own)."""
    if judge is None:
        return build_judge(config)
    if config.engine != "local":
        raise UserError(f"engine='{config.engine}' builds the judge on each worker from its name: pass the model "
                        "as a 'provider/name' string, not an object")
    if isinstance(judge, (Judge, BaseProvider)):
        _check_identity_methods(judge.provider if isinstance(judge, Judge) else judge)
    if isinstance(judge, Judge):
        out = build_judge(config, judge.provider)
        if judge.template is not None:
            out.template, out.templates = judge.template, dict(judge.templates)
            out.mode = out.mode_for(out.template)
        return out
    if isinstance(judge, BaseProvider):
        judge.bind(config)
        return build_judge(config, _judge_type(judge, config, type(judge).__module__.rsplit(".", 1)[-1]))
    raise UserError(f"model must be a 'provider/name' string, a provider object or a Judge, "
                    f"not {type(judge).__name__}")
