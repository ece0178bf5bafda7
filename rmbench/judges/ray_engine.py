"""``--engine ray``: a local judge (``hf/``, ``vllm/``, ``llamacpp/``: any provider that works in
batches) as a pool of Ray actors, each holding one engine with its own GPUs.

    rmbench run --model vllm/<model> --task rm-bench --engine ray [--ray-address auto|ray://HOST:PORT] \\
        --model-args replicas=4,gpus_per_replica=2,tensor_parallel_size=2

What runs where. Each actor builds the provider exactly as a local run would (the same
``--model-args`` minus the pool's own, below) and only computes: ``generate_batch`` /
``score_batch`` on what it is sent. The driver (this process) keeps everything else: templates,
the cache, the run directory, the records and the summary; it is their only writer. The
``RayProvider`` below stands in for the provider on the driver: its identity, description and
tokenizer are the actors' own, so records, summary.json and the cache keys are those of the
same run without Ray, and a run may be resumed or merged across engines.

Dispatch. The Judge's batch queue (rmbench/judges/engine.py, ``BatchQueue(many=True)``)
makes exactly the engine calls a one-process run makes, with the same items in the same order:
the calls that a one-process run makes back to back (a round's full calls of ``max_batch``
items, between which nothing else runs) are handed to ``run_batches`` together and run at once,
one per free actor; the driver waits for all of them, as it waits for one local call. So the
actors compute what one process would, call for call, and the results are byte-identical for
any engine that gives the same output for the same call (hf/ scalar, DPO and generative, greedy
or sampled; llamacpp/; vLLM as far as it repeats itself, see docs/vllm.md). The speed-up comes
from rounds with several full calls: ``max_batch`` at most (examples in flight x requests per
example) / replicas (docs/scale-out.md).

Faults. Actors are started with ``max_restarts``: an actor whose process dies (killed, out of
memory, a lost node) is restarted by Ray, reloading its model. The batches it was running are
re-sent at once to a free actor (up to ``batch_retries`` times for one batch; after that the
batch's items are ``api_error`` failures, never cached, asked again by a rerun). When no actor is
left the run stops with a one-line error; what was judged is kept, and rerunning resumes.

``--model-args`` of the pool (not passed to the provider; not part of the run identity):
``replicas`` (actors; default: as many as the cluster's GPUs allow, or 1 without GPUs),
``gpus_per_replica`` (default: tensor_parallel_size x pipeline_parallel_size when given, else 1
on a cluster with GPUs, else 0), ``cpus_per_replica`` (1), ``max_restarts`` (3),
``batch_retries`` (3).

run.json ``stats.ray``: replicas, batches, batches re-sent, actor deaths and restarts, and per
actor the batches, items and seconds of work it did and its engine's own statistics;
``stats.provider``: those statistics added up over the actors (counts, seconds, rates).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pickle
import sys
import time
import weakref
from typing import Any, Sequence

from rmbench import registry
from rmbench.config import RunConfig
from rmbench.errors import UserError, import_extra
from rmbench.judges.base import BaseProvider, ProviderError
from rmbench.redaction import scrub_text

#: --model-args the pool reads (VOLATILE_MODEL_ARGS in rmbench/config.py lists them too)
POOL_ARGS = ("replicas", "gpus_per_replica", "cpus_per_replica", "max_restarts", "batch_retries")
DEFAULT_MAX_RESTARTS = 3
DEFAULT_BATCH_RETRIES = 3
WAIT_NOTE_SECONDS = 30.0   # while actors wait for resources, say so this often


def require_ray():
    return import_extra("ray", "ray", "--engine ray")


def _one_line(exc: BaseException) -> str:
    from rmbench.judges.engine import one_line

    return one_line(exc)


# -- the actor ----------------------------------------------------------------------------------

class EngineWorker:
    """What one Ray actor runs: the provider, built from the run's settings as a local run would
    build it. Methods return plain values; a provider error is returned as text, not raised, so
    the driver records the same failure a local run would."""

    def __init__(self, config: RunConfig):
        self.incarnation = f"{os.getpid()}-{time.time_ns()}"   # a new one each time Ray restarts the actor
        self.applied: list[tuple] = []
        self.error: str | None = None
        self.provider: Any = None
        try:
            from rmbench.judges import build_provider

            self.provider = build_provider(config)
        except UserError as e:   # a message written for people: as a local run shows it
            self.error = (str(e).strip().splitlines() or [type(e).__name__])[0]
        except Exception as e:
            self.error = f"--engine ray: the engine failed to start on an actor ({_one_line(e)})"

    def _stats(self) -> dict[str, Any]:
        fn = getattr(self.provider, "run_stats", None)
        return dict(fn()) if fn is not None else {}

    def info(self) -> dict[str, Any]:
        base = {"pid": os.getpid(), "incarnation": self.incarnation, "node": _node_ip()}
        if self.error is not None:
            return {**base, "error": self.error}
        p = self.provider
        tokenizer, remote_tokens = None, False
        tok = getattr(p, "tokenizer", None)
        if tok is not None:
            try:
                from ray import cloudpickle

                tokenizer = cloudpickle.dumps(tok)
            except Exception:
                remote_tokens = True   # counted here, on request (count_tokens)
        return {**base, "batched": bool(getattr(p, "batched", False)), "judge_kind": p.judge_kind,
                "cache_identity": p.cache_identity(), "describe": p.describe(), "max_batch": p.max_batch(),
                "env_vars_used": list(getattr(p, "env_vars_used", []) or []), "tokenizer": tokenizer,
                "remote_tokens": remote_tokens, "has_run_stats": hasattr(p, "run_stats"), "stats": self._stats(),
                "module": type(p).__module__}

    def _apply(self, calls: Sequence[tuple]) -> list[Any]:
        """Replay the setup calls the driver made (``truncate_inputs``) that this incarnation has
        not applied yet; a restarted actor applies them all again."""
        out = []
        for call in [tuple(c) for c in calls][len(self.applied):]:
            name, args = call
            out.append(getattr(self.provider, name)(*args))
            self.applied.append(call)
        return out

    def setup(self, calls: Sequence[tuple]) -> tuple[list[Any], dict, dict]:
        results = self._apply(calls)
        return results, self.provider.describe(), self.provider.cache_identity()

    def run(self, method: str, items: list, calls: Sequence[tuple]) -> tuple:
        """(status, results or error text, the provider's statistics so far, incarnation, seconds)."""
        t0 = time.perf_counter()
        try:
            self._apply(calls)
            out = getattr(self.provider, method)(items)
            if len(out) != len(items):
                raise RuntimeError(f"batch call returned {len(out)} results for {len(items)} inputs")
            status: str = "ok"
        except Exception as e:   # as the local batch queue does: the batch's items fail, not the run
            out, status = _one_line(e), "error"
        return status, out, self._stats(), self.incarnation, time.perf_counter() - t0

    def count_tokens(self, text: str) -> list[int]:
        return list(self.provider.tokenizer(text, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()


def _node_ip() -> str | None:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:
        return None


# -- the pool (driver side) ---------------------------------------------------------------------

IDLE, BUSY, RESTARTING, DEAD = "idle", "busy", "restarting", "dead"


@dataclasses.dataclass
class Slot:
    index: int
    handle: Any
    state: str = IDLE
    pid: int | None = None
    node: str | None = None
    incarnation: str | None = None
    batches: int = 0
    items: int = 0
    busy_seconds: float = 0.0
    deaths: int = 0
    restarts: int = 0
    # the provider's run_stats() as last reported by each incarnation of this actor
    provider: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        d = {"index": self.index, "node": self.node, "batches": self.batches, "items": self.items,
             "busy_seconds": round(self.busy_seconds, 3), "deaths": self.deaths, "restarts": self.restarts,
             "alive": self.state != DEAD}
        if self.provider:
            d["provider"] = add_up(self.provider.values())
        return d


def add_up(snapshots) -> dict[str, Any]:
    """Several engines' run_stats() as one: numbers added (counts, seconds, and rates, which add
    up to the pool's throughput), anything else as the first engine gave it."""
    out: dict[str, Any] = {}
    for snap in snapshots:
        for k, v in snap.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(out.get(k, 0), (int, float)):
                out[k] = out.get(k, 0) + v
            else:
                out.setdefault(k, v)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


@dataclasses.dataclass
class PoolSettings:
    replicas: int
    gpus: float
    cpus: float
    max_restarts: int
    batch_retries: int


def _number(args: dict, key: str, default: Any, kind: type, minimum: float) -> Any:
    v = args.get(key, default)
    if v is None:
        return default
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (kind is float or float(v).is_integer())
    if not ok or v < minimum:
        what = "a whole number" if kind is int else "a number"
        raise UserError(f"--model-args {key}={v!r}: --engine ray expects {what} >= {minimum:g}")
    return kind(v)


def pool_settings(ray: Any, args: dict) -> PoolSettings:
    """The pool's size and each actor's resources, from --model-args and the cluster."""
    total = ray.cluster_resources()
    cluster_gpus = float(total.get("GPU", 0) or 0)
    parallel = 1
    for key in ("tensor_parallel_size", "pipeline_parallel_size"):
        parallel *= _number(args, key, 1, int, 1)
    gpus_default = float(parallel) if ("tensor_parallel_size" in args or "pipeline_parallel_size" in args) \
        else (1.0 if cluster_gpus else 0.0)
    gpus = _number(args, "gpus_per_replica", gpus_default, float, 0)
    replicas_default = max(1, int(cluster_gpus // gpus)) if gpus and cluster_gpus else 1
    return PoolSettings(replicas=_number(args, "replicas", replicas_default, int, 1), gpus=gpus,
                        cpus=_number(args, "cpus_per_replica", 1, float, 0),
                        max_restarts=_number(args, "max_restarts", DEFAULT_MAX_RESTARTS, int, 0),
                        batch_retries=_number(args, "batch_retries", DEFAULT_BATCH_RETRIES, int, 0))


def check_fits(ray: Any, s: PoolSettings) -> None:
    total = ray.cluster_resources()
    for what, each in (("GPU", s.gpus), ("CPU", s.cpus)):
        have = float(total.get(what, 0) or 0)
        if each * s.replicas > have:
            raise UserError(f"--engine ray: {s.replicas} replicas x {each:g} {what} need {each * s.replicas:g} {what}, "
                            f"and this machine's Ray has {have:g} (set --model-args replicas, gpus_per_replica or "
                            "cpus_per_replica, or join a cluster with --ray-address)")


def _kill(ray: Any, handles: list, shutdown: bool) -> None:
    for h in handles:
        try:
            ray.kill(h, no_restart=True)
        except Exception:
            pass
    if shutdown and ray.is_initialized():
        ray.shutdown()


class ActorPool:
    """N engine actors; ``run`` runs several batches at once, one per free actor, and re-sends a
    batch whose actor died under it."""

    def __init__(self, ray: Any, config: RunConfig, settings: PoolSettings, log=None):
        self.ray = ray
        self.config = config
        self.settings = settings
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.slots: list[Slot] = []
        self.lost_errors: tuple[type, ...] = tuple(
            c for c in (getattr(ray.exceptions, n, None) for n in ("RayActorError", "WorkerCrashedError",
                                                                    "OutOfMemoryError", "NodeDiedError"))
            if isinstance(c, type))
        self.batches = 0
        self.resent = 0
        self.probes: dict[Any, Slot] = {}   # info() calls to actors Ray is restarting

    # -- starting ---------------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        s = self.settings
        remote = self.ray.remote(EngineWorker).options(num_cpus=s.cpus, num_gpus=s.gpus, max_restarts=s.max_restarts,
                                                       max_task_retries=0)
        self.slots = [Slot(i, remote.remote(self.config)) for i in range(s.replicas)]
        refs = [slot.handle.info.remote() for slot in self.slots]
        waiting, t0 = list(refs), time.monotonic()
        while waiting:
            _, waiting = self.ray.wait(waiting, num_returns=len(waiting), timeout=WAIT_NOTE_SECONDS)
            if waiting:
                self.log(f"rmbench: --engine ray: {len(waiting)} of {s.replicas} engine actors not started after "
                         f"{time.monotonic() - t0:.0f} s (each needs {s.cpus:g} CPU, {s.gpus:g} GPU; the cluster has "
                         f"{self._resources()})")
        infos = []
        for slot, ref in zip(self.slots, refs):
            try:
                info = self.ray.get(ref)
            except self.lost_errors as e:
                raise UserError(f"--engine ray: an engine actor died while loading the model ({_one_line(e)})") from None
            if "error" in info:
                raise UserError(info["error"])
            slot.pid, slot.node, slot.incarnation = info["pid"], info["node"], info["incarnation"]
            slot.provider[info["incarnation"]] = info["stats"]
            infos.append(info)
        return infos[0]

    def _resources(self) -> str:
        total = self.ray.cluster_resources()
        return f"{total.get('CPU', 0):g} CPU, {total.get('GPU', 0):g} GPU"

    def handles(self) -> list:
        return [s.handle for s in self.slots]

    def live(self) -> list[Slot]:
        return [s for s in self.slots if s.state != DEAD]

    # -- running batches ----------------------------------------------------------------------------
    def run(self, method: str, batches: list[list], calls: list[tuple]) -> list[tuple[str, Any]]:
        """Every batch on an actor, as many at once as actors are free; returns per batch
        (status, results or error text) when all are done. An actor that dies under a batch is
        restarted by Ray; the batch goes at once to the next free actor."""
        out: list[tuple[str, Any] | None] = [None] * len(batches)
        todo = collections.deque(range(len(batches)))
        losses = [0] * len(batches)
        running: dict[Any, tuple[Slot, int]] = {}
        while todo or running:
            for slot in self.slots:
                if not todo:
                    break
                if slot.state == IDLE:
                    k = todo.popleft()
                    try:
                        ref = slot.handle.run.remote(method, batches[k], calls)
                    except Exception as e:   # the batch cannot be sent (e.g. it does not serialize)
                        out[k] = ("error", _one_line(e))
                        continue
                    slot.state = BUSY
                    self.batches += 1
                    running[ref] = (slot, k)
            if not running and not self.probes:
                if todo:   # no actor left, none restarting
                    raise UserError("--engine ray: every engine actor has died (max_restarts exhausted); what was "
                                    "judged so far is kept - rerun the same command to resume")
                break
            ready, _ = self.ray.wait([*running, *self.probes], num_returns=1)
            for ref in ready:
                if ref in self.probes:
                    self._revived(self.probes.pop(ref), ref)
                    continue
                slot, k = running.pop(ref)
                try:
                    status, result, snapshot, incarnation, seconds = self.ray.get(ref)
                except self.lost_errors as e:
                    self._lost(slot)
                    losses[k] += 1
                    if losses[k] > self.settings.batch_retries:
                        out[k] = ("lost", f"an engine actor died {losses[k]} times while running this batch "
                                          f"({_one_line(e)})")
                    else:
                        self.resent += 1
                        todo.appendleft(k)
                    continue
                except Exception as e:   # the actor could not run the call at all
                    slot.state = IDLE
                    out[k] = ("error", _one_line(e))
                    continue
                slot.state = IDLE
                if incarnation != slot.incarnation:   # restarted between two of our calls
                    slot.incarnation = incarnation
                    slot.restarts += 1
                slot.batches += 1
                slot.items += len(batches[k])
                slot.busy_seconds += seconds
                slot.provider[incarnation] = snapshot
                out[k] = (status, result)
        return out  # type: ignore[return-value]

    def _lost(self, slot: Slot) -> None:
        """The actor died under a batch: Ray restarts it (max_restarts), reloading the model;
        it gets work again once it answers. If it does not come back, it is gone for good."""
        slot.deaths += 1
        slot.state = RESTARTING
        self.probes[slot.handle.info.remote()] = slot

    def _revived(self, slot: Slot, ref: Any) -> None:
        try:
            info = self.ray.get(ref)
        except self.lost_errors:
            info = None
        if info is None or "error" in info:
            slot.state = DEAD
            return
        slot.state = IDLE
        slot.pid, slot.node = info["pid"], info["node"]
        if info["incarnation"] != slot.incarnation:
            slot.incarnation = info["incarnation"]
            slot.restarts += 1
            slot.provider[info["incarnation"]] = info["stats"]

    def stats(self) -> dict[str, Any]:
        return {"replicas": len(self.slots), "gpus_per_replica": self.settings.gpus,
                "cpus_per_replica": self.settings.cpus, "batches": self.batches, "resent_batches": self.resent,
                "actor_deaths": sum(s.deaths for s in self.slots), "restarts": sum(s.restarts for s in self.slots),
                "actors": [s.stats() for s in self.slots]}


class RemoteTokenizer:
    """A tokenizer that stayed on an actor (it could not be pickled): counts tokens there."""

    def __init__(self, ray: Any, pool: ActorPool):
        self.ray, self.pool = ray, pool

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        slot = next((s for s in self.pool.slots if s.state == IDLE), None) or self.pool.live()[0]
        return {"input_ids": self.ray.get(slot.handle.count_tokens.remote(text))}


# -- the provider the driver sees ---------------------------------------------------------------

def check_engine_fits(prefix: str) -> None:
    """Ray pools local engines that work in batches; anything else is a one-line error."""
    cls = getattr(registry.provider_module(prefix), "Provider", None)
    if cls is None or not getattr(cls, "batched", False):
        hint = " (for several served replicas give --base-url URL1,URL2,...)" if prefix in ("openai", "anthropic") \
            else ""
        raise UserError(f"--engine ray runs local engines that work in batches (hf/, vllm/, llamacpp/); "
                        f"{prefix}/ is not one{hint}")


class RayProvider(BaseProvider):
    """Stands in for the provider on the driver; the actors hold the real one."""

    batched = True

    def __init__(self, config: RunConfig):
        prefix, name = registry.split_model(config.model)
        check_engine_fits(prefix)
        super().__init__(name, config)
        self.ray = ray = require_ray()
        own = {k: v for k, v in config.model_args.items() if k not in POOL_ARGS}
        settings_args = dict(config.model_args)
        if prefix == "vllm" and "distributed_executor_backend" not in own and \
                _number(own, "tensor_parallel_size", 1, int, 1) * _number(own, "pipeline_parallel_size", 1, int, 1) > 1:
            own["distributed_executor_backend"] = "mp"   # vLLM's Ray backend cannot start inside an actor
        self.inner = dataclasses.replace(config, engine="local", ray_address=None, model_args=own)
        self.started_ray = connect(ray, config.ray_address)
        self.address = config.ray_address
        try:
            settings = pool_settings(ray, settings_args)
            if self.started_ray:   # a local instance has what it has: refuse what can never start
                check_fits(ray, settings)
        except BaseException:
            _kill(ray, [], self.started_ray)
            raise
        self.pool = ActorPool(ray, self.inner, settings)
        try:
            info = self.pool.start()
        except BaseException:
            _kill(ray, self.pool.handles(), self.started_ray)
            raise
        # the actors go when this object does, whatever happens to the run (a failed prepare too)
        self._finalizer = weakref.finalize(self, _kill, ray, self.pool.handles(), self.started_ray)
        self.module = info["module"]
        self.judge_kind = info["judge_kind"]
        self._identity, self._describe = info["cache_identity"], info["describe"]
        self._max_batch = int(info["max_batch"])
        self.env_vars_used = info["env_vars_used"]
        self.setup_calls: list[tuple] = []
        tokenizer: Any = None
        if info["tokenizer"] is not None:
            try:
                tokenizer = pickle.loads(info["tokenizer"])
            except Exception:   # e.g. the engine's tokenizer class is not installed on the driver
                tokenizer = RemoteTokenizer(ray, self.pool)
        elif info["remote_tokens"]:
            tokenizer = RemoteTokenizer(ray, self.pool)
        if tokenizer is not None:
            self.tokenizer = tokenizer
        if not info["has_run_stats"]:
            self.run_stats = None   # the runner reads getattr(provider, "run_stats", None)
        self._closed = False

    # -- identity: the actors' own ----------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def describe(self) -> dict[str, Any]:
        return pickle.loads(pickle.dumps(self._describe))

    def max_batch(self) -> int:
        return self._max_batch

    def truncate_inputs(self, task: str, tokens: int, side: str) -> bool:
        calls = [*self.setup_calls, ("truncate_inputs", (task, int(tokens), side))]
        answers = self.ray.get([s.handle.setup.remote(calls) for s in self.pool.live()])
        results, describe, identity = answers[0]
        self.setup_calls = calls
        self._describe, self._identity = describe, identity
        return bool(results[-1])

    # -- work ---------------------------------------------------------------------------------------
    def run_batches(self, method: str, batches: list[list]) -> list[list | BaseException]:
        """Several ``generate_batch``/``score_batch`` calls at once, one per free actor (the
        Judge's batch queue hands over the calls a one-process run would make back to back)."""
        out: list[list | BaseException] = []
        for status, result in self.pool.run(method, [list(b) for b in batches], list(self.setup_calls)):
            if status == "ok":
                out.append(result)
            else:   # the provider raised (a local batch queue fails the batch too), or actors kept dying;
                # a ProviderError's text is shown as is: the actor wrote it as a local run would
                out.append(ProviderError(str(result)[:500]))
        return out

    def generate_batch(self, reqs: Sequence) -> list:
        return self._one("generate_batch", reqs)

    def score_batch(self, items: Sequence) -> list:
        return self._one("score_batch", items)

    def _one(self, method: str, items: Sequence) -> list:
        (result,) = self.run_batches(method, [list(items)])
        if isinstance(result, BaseException):
            raise result
        return result

    # -- statistics ---------------------------------------------------------------------------------
    def run_stats(self) -> dict[str, Any]:   # replaced by None when the provider keeps none
        """The actors' engines' statistics added up (each actor's own: stats.ray.actors)."""
        return add_up(snap for slot in self.pool.slots for snap in slot.provider.values())

    def scale_stats(self) -> dict[str, Any]:
        return {"ray": {**self.pool.stats(), "address": scrub_text(self.address) if self.address else None}}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        live = [s.handle.close.remote() for s in self.pool.slots if s.state in (IDLE, BUSY)]
        try:
            self.ray.get(live, timeout=30)
        except Exception:
            pass
        self._finalizer()   # kill the actors (and a Ray instance started here)


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster (``address``, else RAY_ADDRESS, else start a local instance); True when
    this process started Ray (and so shuts it down at the end)."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": "WARNING"}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address, **kwargs)
    except Exception as e:
        where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
        raise UserError(f"--engine ray: cannot connect to Ray at {where} ({_one_line(e)})") from None
    return True
