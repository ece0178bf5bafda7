"""``--engine ray``: the judge as a pool of Ray actors, on one local Ray instance with 2 CPUs and 2
actors holding the tiny hf models (tests/judges/tiny_models.py, loaded with the real
from_pretrained in each actor's process). The driver writes everything: a Ray run's records.jsonl
and summary.json are byte-identical to the same run in one process, also when an actor's process
is killed mid-run, and a run started without Ray resumes with it.

``max_batch=5`` (3) makes several engine calls per round of the batch queue, so both actors work.
The tests that start actors are marked slow (each start loads torch in two new processes).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tests import rb_fixture
from tests.helpers import REPO, run_cli, write_json


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (2 CPUs: one per actor), shut down after it."""
    ray = pytest.importorskip("ray")
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def rb_data(tmp_path_factory) -> Path:
    return write_json(tmp_path_factory.mktemp("ray-data") / "rb.json", rb_fixture.rows())


def _run(out: Path, name: str, model: str, data: Path, *extra: str, model_args: str = "max_batch=5"):
    return run_cli("run", "--model", model, "--task", "rewardbench", "--data-path", str(data), "--output-dir",
                   str(out), "--run-name", name, "--quiet", "--no-cache", "--model-args", model_args, *extra)


def _files(run_dir: Path) -> tuple[bytes, bytes]:
    return (run_dir / "records.jsonl").read_bytes(), (run_dir / "summary.json").read_bytes()


def _ray_stats(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["stats"]["ray"]


@pytest.mark.slow
def test_a_ray_run_writes_the_same_bytes_as_one_process(local_ray, tiny, rb_data, tmp_path):
    model = f"hf/{tiny['rm']}"
    local = _run(tmp_path, "local", model, rb_data)
    assert local.returncode == 0, local.stderr
    res = _run(tmp_path, "ray", model, rb_data, "--engine", "ray", model_args="max_batch=5,replicas=2")
    assert res.returncode == 0, res.stderr
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    stats = _ray_stats(tmp_path / "ray")
    assert stats["replicas"] == 2 and stats["actor_deaths"] == 0 and stats["resent_batches"] == 0
    assert all(a["batches"] >= 1 for a in stats["actors"]), stats   # both actors did work
    assert sum(a["items"] for a in stats["actors"]) == 2 * len(rb_fixture.rows())
    info = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert info["config"]["engine"] == "ray" and "engine" not in info["identity"]
    assert "replicas" not in info["identity"]["model_args"]
    local_info = json.loads((tmp_path / "local" / "run.json").read_text())
    assert info["identity_hash"] == local_info["identity_hash"]
    assert info["stats"]["provider"] == local_info["stats"]["provider"] == {"too_long": 0, "truncated_inputs": 0}


class _KillABusyActor(threading.Thread):
    """SIGKILLs the process of the first actor seen running a batch (as the kernel's
    out-of-memory killer would)."""

    def __init__(self, pool):
        super().__init__(daemon=True)
        self.pool = pool
        self.killed: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [s for s in self.pool.slots if s.state == "busy"]
            if busy:
                time.sleep(0.05)   # well into the batch
                self.killed = busy[0].pid
                os.kill(self.killed, signal.SIGKILL)
                return
            time.sleep(0.001)


@pytest.mark.slow
def test_a_generative_run_with_an_actor_killed_mid_run_is_unchanged(local_ray, tiny, rb_data, tmp_path):
    """The generative stand-in: sampled generation, where every engine call seeds its own
    generator, so equal bytes also show that the actors receive exactly the calls one process
    makes, even when a call is re-sent after its actor died."""
    from rmbench.config import GenConfig, RunConfig
    from rmbench.runner import prepare, run_plan

    model, gen = f"hf/{tiny['lm']}", ("--gen", "max_tokens=12,temperature=0.8")
    # batch_size=2: each call takes long enough that a batch is under way when the kill comes
    local = _run(tmp_path, "local", model, rb_data, *gen, model_args="max_batch=3,batch_size=2")
    assert local.returncode == 0, local.stderr

    config = RunConfig(model=model, tasks=["rewardbench"], data_path=str(rb_data), output_dir=str(tmp_path),
                       run_name="ray", no_cache=True, gen=GenConfig(max_tokens=12, temperature=0.8), engine="ray",
                       model_args={"max_batch": 3, "batch_size": 2, "replicas": 2, "max_restarts": 2})
    plan = prepare(config)
    killer = _KillABusyActor(plan.judge.provider.pool)
    killer.start()
    asyncio.run(run_plan(plan, progress=False))
    killer.join()
    assert killer.killed is not None
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    stats = _ray_stats(tmp_path / "ray")
    assert stats["actor_deaths"] == 1 and stats["resent_batches"] >= 1, stats
    # 24 generations in calls of 3: 8 calls completed, plus the attempts lost with the actor
    assert sum(a["batches"] for a in stats["actors"]) == 8
    assert stats["batches"] == 8 + stats["resent_batches"]


@pytest.mark.slow
def test_the_real_gguf_judge_through_llamacpp_on_ray(local_ray, tmp_path):
    """SmolLM2-135M-Instruct (GGUF) through llamacpp/, one thread per engine: the same bytes."""
    from tests.judges.real_models import TERSE_BOXED, need_llama_cpp, smollm2_gguf, write_easy

    need_llama_cpp()
    model, data = f"llamacpp/{smollm2_gguf()}", write_easy(tmp_path / "easy.json", 2)
    args = ("--prompt", str(TERSE_BOXED), "--gen", "max_tokens=12")
    local = _run(tmp_path, "local", model, data, *args, model_args="n_threads=1,n_threads_batch=1,max_batch=1")
    assert local.returncode == 0, local.stderr
    res = _run(tmp_path, "ray", model, data, *args, "--engine", "ray",
               model_args="n_threads=1,n_threads_batch=1,max_batch=1,replicas=2")
    assert res.returncode == 0, res.stderr
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    stats = _ray_stats(tmp_path / "ray")
    assert [a["batches"] for a in stats["actors"]] == [2, 2]
    ray_info = json.loads((tmp_path / "ray" / "run.json").read_text())
    local_info = json.loads((tmp_path / "local" / "run.json").read_text())
    # the engines' counters, added up over the actors, are the one engine's
    for key in ("prompts", "prompt_tokens", "prompt_tokens_reused", "generated_tokens"):
        assert ray_info["stats"]["provider"][key] == local_info["stats"]["provider"][key]


@pytest.mark.slow
def test_a_run_started_in_one_process_resumes_on_ray(local_ray, tiny, rb_data, tmp_path):
    from rmbench.config import RunConfig
    from rmbench.runner import Hooks, prepare, run_plan

    model = f"hf/{tiny['rm']}"
    # batch_size=1: a resumed run makes other engine calls than a whole one (only what is left),
    # so its scores equal the whole run's to the bit only when each input is computed alone
    assert _run(tmp_path, "whole", model, rb_data, model_args="max_batch=5,batch_size=1").returncode == 0

    class Stop(Hooks):
        n = 0

        def appended(self, sink, record):
            self.n += 1
            if self.n == 5:
                raise RuntimeError("stopped after 5 records")

    config = RunConfig(model=model, tasks=["rewardbench"], data_path=str(rb_data), output_dir=str(tmp_path),
                       run_name="resumed", no_cache=True, model_args={"max_batch": 5, "batch_size": 1})
    with pytest.raises(RuntimeError):
        asyncio.run(run_plan(prepare(config), progress=False, hooks=Stop()))
    res = _run(tmp_path, "resumed", model, rb_data, "--engine", "ray", model_args="max_batch=5,batch_size=1,replicas=2")
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "resumed" / "run.json").read_text())
    kept = info["resumed_records"]   # the records written before the stop (5, and those done at the same moment)
    assert 5 <= kept < len(rb_fixture.rows()) and info["stats"]["judged_now"] == len(rb_fixture.rows()) - kept
    assert _files(tmp_path / "resumed") == _files(tmp_path / "whole")


@pytest.mark.slow
def test_a_bad_setting_fails_in_one_line_from_the_actor(local_ray, tiny, rb_data, tmp_path):
    res = _run(tmp_path, "bad", f"hf/{tiny['rm']}", rb_data, "--engine", "ray",
               model_args="replicas=2,batch_size=0")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["rmbench: error: --model-args batch_size=0: hf/ expects an integer >= 1"]
    assert not (tmp_path / "bad").exists()


# -- refused before Ray starts --------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (("--model", "openai/gpt-4o", "--engine", "ray"), "--engine ray runs local engines"),
    (("--model", "hf/x", "--model-args", "replicas=2"), "--model-args replicas: settings of --engine ray"),
    (("--model", "hf/x", "--ray-address", "auto"), "--ray-address needs --engine ray"),
    (("--model", "hf/x", "--engine", "spark"), "invalid choice: 'spark'"),
])
def test_engine_flags_are_checked(tmp_path, rb_data, args, message, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used-0000")
    res = run_cli("run", "--task", "rewardbench", "--data-path", str(rb_data), "--output-dir", str(tmp_path),
                  "--quiet", *args)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_without_ray_installed_the_extra_is_named(tmp_path, rb_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)   # import ray fails as when it is not installed
    res = run_cli("run", "--model", "hf/x", "--task", "rewardbench", "--data-path", str(rb_data), "--output-dir",
                  str(tmp_path), "--quiet", "--engine", "ray")
    assert res.returncode == 2
    assert res.stderr.strip() == "rmbench: error: --engine ray needs the 'ray' extra: pip install 'rmbench[ray]'"


class _Cluster:
    """What pool_settings reads of a Ray cluster: its total resources."""

    def __init__(self, **resources):
        self.resources = resources

    def cluster_resources(self):
        return dict(self.resources)


@pytest.mark.parametrize("resources, args, want", [
    ({"CPU": 2}, {}, (1, 0.0, 1.0)),                                   # no GPU: one CPU actor
    ({"CPU": 64, "GPU": 8}, {}, (8, 1.0, 1.0)),                        # one actor per GPU
    ({"CPU": 64, "GPU": 8}, {"tensor_parallel_size": 2}, (4, 2.0, 1.0)),
    ({"CPU": 64, "GPU": 8}, {"tensor_parallel_size": 2, "pipeline_parallel_size": 2}, (2, 4.0, 1.0)),
    ({"CPU": 64, "GPU": 8}, {"replicas": 3, "gpus_per_replica": 2, "cpus_per_replica": 4}, (3, 2.0, 4.0)),
    ({"CPU": 4}, {"replicas": 2, "gpus_per_replica": 0.5}, (2, 0.5, 1.0)),
])
def test_pool_size_and_resources(resources, args, want):
    from rmbench.judges.ray_engine import pool_settings

    s = pool_settings(_Cluster(**resources), args)
    assert (s.replicas, s.gpus, s.cpus) == want
    assert (s.max_restarts, s.batch_retries) == (3, 3)


@pytest.mark.parametrize("args, message", [
    ({"replicas": 0}, "--model-args replicas=0: --engine ray expects a whole number >= 1"),
    ({"replicas": 1.5}, "--model-args replicas=1.5: --engine ray expects a whole number >= 1"),
    ({"gpus_per_replica": -1}, "--model-args gpus_per_replica=-1: --engine ray expects a number >= 0"),
    ({"max_restarts": "x"}, "--model-args max_restarts='x': --engine ray expects a whole number >= 0"),
])
def test_bad_pool_settings_are_one_line_errors(args, message):
    from rmbench.errors import UserError
    from rmbench.judges.ray_engine import pool_settings

    with pytest.raises(UserError) as e:
        pool_settings(_Cluster(CPU=2), args)
    assert str(e.value) == message


def test_a_local_ray_refuses_a_pool_it_cannot_hold():
    from rmbench.errors import UserError
    from rmbench.judges.ray_engine import PoolSettings, check_fits

    check_fits(_Cluster(CPU=2), PoolSettings(replicas=2, gpus=0, cpus=1, max_restarts=3, batch_retries=3))
    with pytest.raises(UserError, match=r"2 replicas x 1 GPU need 2 GPU, and this machine's Ray has 0"):
        check_fits(_Cluster(CPU=2), PoolSettings(replicas=2, gpus=1, cpus=1, max_restarts=3, batch_retries=3))


def test_engine_statistics_add_up_over_actors():
    from rmbench.judges.ray_engine import add_up

    assert add_up([{"too_long": 1, "prompt_seconds": 0.25, "backend": "cpu"},
                   {"too_long": 2, "prompt_seconds": 0.5, "backend": "cpu", "calls": 3}, {}]) == \
        {"too_long": 3, "prompt_seconds": 0.75, "backend": "cpu", "calls": 3}


@pytest.mark.slow
def test_a_driver_killed_with_sigkill_mid_ray_run_resumes(local_ray, tiny, rb_data, tmp_path):
    """The driver of a Ray run dies with SIGKILL after 5 records (its own local Ray with it); the
    same command run again resumes from what is on disk and ends byte-identical to a whole
    one-process run. One actor is enough here (the driver is what dies; two actors are the other
    tests' business), and it keeps the test's cost down."""
    import subprocess

    from tests.robustness.util import CRASH_ENV, child_env, killed_by_sigkill

    model = f"hf/{tiny['rm']}"
    margs = "max_batch=5,batch_size=1"       # each input alone: resumed and whole runs agree to the bit
    assert _run(tmp_path, "whole", model, rb_data, model_args=margs).returncode == 0
    args = ["run", "--model", model, "--task", "rewardbench", "--data-path", str(rb_data), "--output-dir",
            str(tmp_path), "--run-name", "killed", "--quiet", "--no-cache", "--engine", "ray",
            "--model-args", margs + ",replicas=1"]
    env = child_env({CRASH_ENV: "records:5", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "tests.robustness.crash_entry", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=240)
        assert killed_by_sigkill(proc), (proc.returncode, err[-2000:])
    finally:   # the Ray processes the driver started (its own local instance) share its session
        subprocess.run(["pkill", "-9", "-s", str(proc.pid)], check=False)
        proc.kill()
    kept = len((tmp_path / "killed" / "records.jsonl").read_text().split("\n")) - 1
    assert 5 <= kept < len(rb_fixture.rows())
    again = _run(tmp_path, "killed", model, rb_data, "--engine", "ray", model_args=margs + ",replicas=1")
    assert again.returncode == 0, again.stderr
    info = json.loads((tmp_path / "killed" / "run.json").read_text())
    assert info["resumed_records"] >= 5 and info["status"] == "complete"
    assert _files(tmp_path / "killed") == _files(tmp_path / "whole")
