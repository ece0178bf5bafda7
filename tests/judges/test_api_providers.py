"""openai/ and anthropic/ providers: what they send, what they read back, and what they refuse
before doing any work. Requests go through the official SDKs to the fake server, which
rejects fields the real APIs do not accept."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from rmbench.config import GenConfig
from rmbench.errors import UserError
from rmbench.judges import build_provider
from rmbench.judges.base import GenRequest
from rmbench.types import OK
from tests.conftest import REPO
from tests.judges.api_helpers import PROVIDERS, compare, config, example, judge
from tests.servers.fake_api import TEST_KEY

MSGS = ({"role": "system", "content": "Be fair."}, {"role": "user", "content": "Which is better? [Response A]\nabc\n"
                                                    "[End of response A]\n[Response B]\nabcdef\n[End of response B]"})


def _generate(provider, gen: GenConfig | None = None, messages=MSGS):
    async def go():
        try:
            return await provider.agenerate(GenRequest(messages=messages, gen=gen or GenConfig()))
        finally:
            await provider.aclose()

    return asyncio.run(go())


# -- what is sent -----------------------------------------------------------------------------
def test_openai_sends_the_settings_it_was_given(fake_api, tmp_path):
    gen = GenConfig(temperature=0.3, top_p=0.9, max_tokens=300, seed=5, stop=("END",), reasoning_effort="low",
                    enable_thinking=False)
    out = _generate(build_provider(config(fake_api, "openai", tmp_path, gen=gen)), gen)
    (req,) = fake_api.requests()
    assert req["params"] == {"model": "fake-judge", "temperature": 0.3, "top_p": 0.9, "max_tokens": 300, "seed": 5,
                             "stop": ["END"], "reasoning_effort": "low",
                             "chat_template_kwargs": {"enable_thinking": False}}
    assert req["roles"] == ["system", "user"]
    assert out.finish_reason == "stop" and out.text.rstrip().endswith("[[B]]")
    assert out.reasoning and "Let me weigh" in out.reasoning  # reasoning_content is read
    assert out.usage["reasoning_tokens"] > 0 and out.usage["output_tokens"] >= out.usage["reasoning_tokens"]


def test_openai_max_tokens_field_depends_on_the_endpoint(fake_api, tmp_path):
    gen = GenConfig(max_tokens=100, enable_thinking=True, thinking_budget=50)
    official = build_provider(config(fake_api, "openai", tmp_path, base_url="https://api.openai.com/v1", gen=gen))
    body = official.request_body(GenRequest(messages=MSGS, gen=gen))
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
    assert "chat_template_kwargs" not in body
    assert official.describe()["ignored_settings"] == ["thinking_budget", "enable_thinking"]
    forced = build_provider(config(fake_api, "openai", tmp_path, gen=gen,
                                   model_args={"max_tokens_param": "max_completion_tokens"}))
    _generate(forced, gen)
    assert fake_api.requests()[0]["params"]["max_completion_tokens"] == 100


def test_anthropic_sends_system_thinking_and_a_default_max_tokens(fake_api, tmp_path):
    gen = GenConfig(thinking_budget=2048, stop=("END",), reasoning_effort="high", temperature=0.0, seed=1)
    p = build_provider(config(fake_api, "anthropic", tmp_path, gen=gen))
    assert p.describe()["ignored_settings"] == ["seed", "temperature"]
    out = _generate(p, gen)
    (req,) = fake_api.requests()
    assert req["system"] == "Be fair." and req["roles"] == ["user"]
    assert req["params"] == {"model": "fake-judge", "max_tokens": 2048 + 4096, "stop_sequences": ["END"],
                             "thinking": {"type": "enabled", "budget_tokens": 2048}, "output_config": {"effort": "high"}}
    # the thinking block names the other response; the verdict comes from the text block only
    assert "[[A]]" in out.reasoning and out.text.rstrip().endswith("[[B]]")
    assert out.usage["reasoning_tokens"] > 0


def test_anthropic_defaults_without_thinking(fake_api, tmp_path):
    _generate(build_provider(config(fake_api, "anthropic", tmp_path)))
    assert fake_api.requests()[0]["params"] == {"model": "fake-judge", "max_tokens": 4096}
    fake_api.reset()
    _generate(build_provider(config(fake_api, "anthropic", tmp_path, gen=GenConfig(enable_thinking=True))),
              GenConfig(enable_thinking=True))
    assert fake_api.requests()[0]["params"]["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_both_http_clients_work(fake_api, provider, client, tmp_path):
    j = judge(fake_api, provider, tmp_path, model_args={"http_client": client})
    assert j.provider.describe()["http_client"] == client
    assert compare(j, example()).status == OK


@pytest.mark.parametrize("provider", PROVIDERS)
def test_usage_means_the_same_on_both_apis(fake_api, provider, tmp_path):
    p = build_provider(config(fake_api, provider, tmp_path))
    first, second = _generate(p).usage, _generate(p).usage  # the fake caches a prompt it has seen
    assert first["cached_tokens"] == 0 and second["cached_tokens"] > 0
    assert second["input_tokens"] == first["input_tokens"]  # input counts cached tokens too
    assert set(first) <= {"input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_provider_serves_several_event_loops(fake_api, provider, tmp_path):
    p = build_provider(config(fake_api, provider, tmp_path))
    for _ in range(2):  # the runner may run one loop per task over the same provider
        assert _generate(p).text
    assert fake_api.total == 2


# -- endpoint, key and identity ----------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_base_url_from_the_environment(fake_api, provider, tmp_path, monkeypatch):
    env = "OPENAI_BASE_URL" if provider == "openai" else "ANTHROPIC_BASE_URL"
    monkeypatch.setenv(env, fake_api.openai_base_url if provider == "openai" else fake_api.anthropic_base_url)
    p = build_provider(config(fake_api, provider, tmp_path, base_url=None))
    assert sorted(p.env_vars_used) == sorted([env, env.replace("BASE_URL", "API_KEY")])
    assert _generate(p).text and fake_api.total == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_identity_has_the_endpoint_but_no_secret(fake_api, provider, tmp_path):
    url = f"http://user:hunter2@127.0.0.1:{fake_api.port}/v1?token=s3cr3t"
    p = build_provider(config(fake_api, provider, tmp_path, base_url=url))
    ident = p.cache_identity()
    assert ident == {"provider": provider, "model": "fake-judge", "endpoint": f"http://127.0.0.1:{fake_api.port}/v1"}
    text = repr(p.describe()) + repr(ident)
    assert "hunter2" not in text and "s3cr3t" not in text and TEST_KEY not in text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_missing_key_fails_at_once_in_one_line(fake_api, provider, tmp_path, monkeypatch):
    env = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
    monkeypatch.delenv(env)
    with pytest.raises(UserError) as e:
        build_provider(config(fake_api, provider, tmp_path))
    assert env in str(e.value) and "\n" not in str(e.value)
    assert fake_api.total == 0


@pytest.mark.parametrize("provider,kw,words", [
    ("openai", {"base_url": "ftp://example"}, "not an http(s) URL"),
    ("openai", {"model_args": {"max_tokens_parm": "x"}}, "unknown --model-args"),
    ("openai", {"model_args": {"max_tokens_param": "tokens"}}, "max_tokens_param"),
    ("anthropic", {"model_args": {"http_client": "curl"}}, "http_client"),
    ("anthropic", {"gen": GenConfig(thinking_budget=500)}, "at least 1024"),
    ("anthropic", {"gen": GenConfig(thinking_budget=2000, max_tokens=2000)}, "must exceed thinking_budget"),
    ("anthropic", {"gen": GenConfig(thinking_budget=2000, enable_thinking=False)}, "enable_thinking=false"),
])
def test_bad_settings_are_refused_before_any_request(fake_api, provider, kw, words, tmp_path):
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
        build_provider(config(fake_api, provider, tmp_path, **kw))
    assert fake_api.total == 0


def test_sdks_are_imported_only_when_a_provider_is_built():
    code = ("import sys, rmbench, rmbench.judges, rmbench.runner, rmbench.cli.main, "
            "rmbench.judges.providers.openai, rmbench.judges.providers.anthropic; "
            "print(sorted(m for m in ('openai', 'anthropic', 'httpx', 'httpx2', 'aiohttp') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_openai_content_parts_only_the_text_ones_are_the_answer():
    from rmbench.judges.providers.openai import parse_completion

    def text(parts):
        return parse_completion({"choices": [{"message": {"content": parts}, "finish_reason": "stop"}]}).text

    # a part with "text": null raised TypeError (the judgment became an api_error)
    assert text([{"type": "text", "text": None}, {"type": "text", "text": "[[A]]"}]) == "[[A]]"
    # a reasoning part's text is not the final answer: its decoy verdict must not be read
    assert text([{"type": "reasoning", "text": "[[B]]"}, {"type": "text", "text": "fine"}, {"text": "[[A]]"}]) == "fine[[A]]"
