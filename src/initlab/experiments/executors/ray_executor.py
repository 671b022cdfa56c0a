"""The Ray executor's driver side: connect, submit one task per chunk, stream results back, retry, report.

    with session(spec, where) as ray: ...          # ray.init (a local Ray, or spec.address), shut down after
    run_compare(spec, pending, save, bar, sink)    # compare's chunks as Ray tasks (leased through the sink)
    run_buckets(spec, plan, n, policy, on_done, on_failed, tick)  # double descent's width buckets (dd_runs.py)

* A chunk is one task (num_cpus = threads per task, default 1) running tasks.py on a worker; its results come
  back through `ray.wait` as it finishes and the driver saves them at once (a killed driver loses no
  finished chunk; rerunning resumes, with either executor).
* A task that raises, or whose worker process dies, is run again up to `spec.max_retries` times (Ray's
  max_retries, retry_exceptions=True); after that its runs are reported failed (with the error), nothing is
  stored for them (so a rerun trains them), and the other chunks go on.
* Ctrl-C cancels the tasks still running; the finished ones are in the store.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path

from ...errors import bad_argument
from . import tasks


def import_ray(where: str):
    """`ray`, or one clear InitError when the optional extra is missing."""
    try:
        import ray
    except ImportError:
        raise bad_argument(where, "executor", "ray", "an installed Ray (the optional extra initlab[ray])",
                           "pip install 'initlab[ray]' (or 'ray>=2.40,<3'), or use executor='local' "
                           "(CLI --executor local)") from None
    return ray


def runtime_env(spec) -> tuple[dict, object]:
    """(runtime_env, model as the workers must build it) for a cluster at spec.address: initlab itself travels
    as a py_module (the workers run the driver's code); a model given as 'path/file.py:factory' travels with
    its folder as the working_dir, and the workers load it as 'file.py:factory' from there."""
    import initlab
    env = {"py_modules": [str(Path(initlab.__file__).parent)]}
    model = spec.model
    if isinstance(model, str) and ".py:" in model:
        target, _, attr = model.rpartition(":")
        env["working_dir"] = str(Path(target).resolve().parent)
        model = f"{Path(target).name}:{attr}"
    return env, model


def _reachable(address: str, where: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that nothing answers on fails now: ray.init would retry for minutes."""
    import socket
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return                                   # 'auto' and other forms: Ray itself says what is wrong
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise bad_argument(where, "address", address, "the address of a running Ray cluster",
                           f"nothing answers there ({e.strerror or e}); start the head with `ray start --head "
                           "--port PORT` and pass HOST:PORT, or drop --address to start a local Ray") from None


@contextlib.contextmanager
def session(spec, where: str):
    """Ray ready for this sweep: an already initialized Ray is used as is; otherwise a local Ray (address None,
    one CPU per usable core) or the cluster at spec.address is joined, and left again afterwards."""
    ray = import_ray(where)
    if ray.is_initialized():
        yield ray, spec
        return
    kw = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if spec.address is None:
        from ..engine.shards import usable_cores
        ray.init(address="local", num_cpus=usable_cores(), **kw)
    else:
        env, model = runtime_env(spec)
        _reachable(spec.address, where)
        try:
            ray.init(address=spec.address, runtime_env=env, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise bad_argument(where, "address", spec.address, "the address of a running Ray cluster",
                               f"start one with `ray start --head` and pass the address it prints "
                               f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
        from dataclasses import replace
        spec = replace(spec, model=model)
    try:
        yield ray, spec
    finally:
        ray.shutdown()


def _why(ray, e) -> str:
    """One line for a task's last failure: the task's own exception, or how its worker died."""
    cause = getattr(e, "cause", None) if isinstance(e, ray.exceptions.RayTaskError) else None
    err = cause if cause is not None else e
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def stream(ray, refs: dict, tick=None, tick_s: float = 5.0):
    """Yield (index, value, None) or (index, None, error line) for each task of {ref: index}, as they finish;
    tick() is called at least every tick_s seconds while waiting (the driver renews its run leases there);
    tasks still running when the caller stops (Ctrl-C, an error) are cancelled."""
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=tick_s if tick is not None else None)
            if tick is not None:
                tick()
            for ref in ready:
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as e:
                    yield refs[ref], None, _why(ray, e)
                else:
                    yield refs[ref], value, None
    finally:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _options(spec, ray=None, where: str = "initlab.compare") -> dict:
    if ray is not None:
        biggest = max((n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
        if (spec.threads or 1) > biggest:            # Ray would wait forever for a node that large
            raise bad_argument(where, "threads", spec.threads, f"at most {int(biggest)} (the most CPUs of one node "
                               "of this Ray cluster) with executor='ray'", "pass fewer threads per task")
    opts = {"num_cpus": spec.threads or 1, "max_retries": spec.max_retries, "retry_exceptions": True}
    if str(getattr(spec.train, "device", "cpu")).startswith("cuda"):
        opts["num_gpus"] = 1
    return opts


def split(pending: list, chunk: int | None, slots: int) -> list[list]:
    """chunk models per task, or (None) as many equal chunks as the cluster runs tasks at once."""
    size = chunk or max(1, math.ceil(len(pending) / max(1, slots)))
    return [pending[i:i + size] for i in range(0, len(pending), size)]


def run_compare(spec, pending, save, bar, sink):
    """compare's pending (policy, seed) runs on Ray; save(key, RunResult) is called in this process as each
    chunk arrives.  The driver trains only the runs it leased through `sink` (sink.py: RunSink.claimed), as the
    local path does: runs another process (a local or a Ray compare of the same config) holds are waited for
    and loaded by the caller, or taken over when their owner dies.  Leases are renewed while tasks run and a
    failed chunk's are released (another process may train them).
    Returns (chunks, paths, path reasons, failed runs [{policy, seed, error, attempts}])."""
    where = "initlab.compare"
    chunks, paths, reasons, failed = [], [], [], []
    if not pending:
        return chunks, paths, reasons, failed
    store_path = sink.path
    with session(spec, where) as (ray, spec):
        slots = int(ray.cluster_resources().get("CPU", 1) // (spec.threads or 1))
        remote = ray.remote(tasks.compare_chunk).options(**_options(spec, ray, where))
        spec_ref = ray.put(spec)
        hook = os.environ.get(tasks.FAULT_ENV)
        n_done = 0
        # one round per batch of leased runs: first all this process could claim, then any taken over from a
        # process that died; all of a round's chunks run on Ray at once
        for mine in sink.claimed([pending], log=bar.log):
            round_ = split(mine, spec.chunk, slots)
            first = len(chunks)
            chunks += round_
            bar.total, bar.note = len(chunks), f"{len(chunks)} Ray task(s)"
            refs = {remote.remote(spec_ref, c, hook): first + i for i, c in enumerate(round_)}
            for i, value, error in stream(ray, refs, tick=sink.keep_alive):
                n_done += 1
                if error is not None:
                    sink.release(chunks[i])
                    failed += [{"policy": p, "seed": s, "error": error, "attempts": 1 + spec.max_retries}
                               for p, s in chunks[i]]
                    bar.log(f"chunk {n_done}/{len(chunks)}: {len(chunks[i])} run(s) FAILED after "
                            f"{1 + spec.max_retries} attempt(s): {error}")
                else:
                    results, path, reason = value
                    for key, r in zip(chunks[i], results):
                        save(key, r)
                    paths.append(path)
                    reasons.append(reason)
                    bar.log(f"chunk {n_done}/{len(chunks)}: {len(chunks[i])} run(s) finished on Ray"
                            + (f" and saved to {store_path}" if store_path else "") + f" [{path}]")
                bar.update(1)
    return chunks, paths, reasons, failed


def run_buckets(spec, plan, n, policy, on_done, on_failed, tick=None) -> None:
    """Double descent's width buckets on Ray (Ray must be up: see `session`); on_done(bucket, {(w, s):
    RunResult}, seconds) / on_failed(bucket, error) are called in this process as each bucket ends, and tick()
    while waiting (dd_runs.py passes its RunSink's keep_alive: the leases of the runs on Ray stay renewed)."""
    import ray
    remote = ray.remote(tasks.dd_bucket).options(**_options(spec, ray, "initlab.double_descent"))
    spec_ref = ray.put(spec)
    hook = os.environ.get(tasks.FAULT_ENV)
    refs = {remote.remote(spec_ref, n, b.widths, b.seeds, policy, hook): i for i, b in enumerate(plan)}
    for i, value, error in stream(ray, refs, tick=tick):
        if error is not None:
            on_failed(plan[i], error)
        else:
            results, seconds = value
            on_done(plan[i], results, seconds)
