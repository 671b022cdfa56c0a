"""Live training for the page: the engine's `fit` in a thread, watched epoch by epoch, stoppable.

Both models go into ONE AutogradStack with the same run seed, so they see the same batches in the
same order (the engine draws one batch order per distinct seed): the only difference is the init.

`fit` offers no per-epoch callback (its sink gets `update(fraction)` per step), so two thin
adapters watch it from outside, without changing what it computes:

* `_Watched` wraps the stack: `fit` calls `end_epoch()` (the sum of the epoch's batch losses) and
  then `evaluate(x_val, y_val)` once per evaluated epoch (every epoch here); the wrapper passes
  both through and reports the epoch's numbers, exactly those `fit` puts in its history.
* `_Sink` is fit's progress sink: it records the fraction done and raises `Stopped` at the next
  step once the stop button was pressed (the models stay as they were after the last step).
"""
from __future__ import annotations

import math
import threading
import time

import torch

from .figures import grid_for


class Stopped(Exception):
    """The stop button: raised inside fit's step loop by the sink."""


class _Sink:
    def __init__(self, stop: threading.Event):
        self.stop, self.done = stop, 0.0

    def update(self, fraction: float) -> None:
        self.done += fraction
        if self.stop.is_set():
            raise Stopped()


class _Watched:
    """A stack that reports each epoch: on_epoch(epoch, train_loss (M,), val_loss (M,), val_metric (M,))."""

    def __init__(self, stack, n_steps: int, on_epoch):
        self._stack, self._n_steps, self._on_epoch = stack, n_steps, on_epoch
        self._epoch, self._train = 0, None

    def __getattr__(self, name):          # M, useeds, dev, prepare_eval, start_epoch, train_step, ...
        return getattr(self._stack, name)

    def end_epoch(self):
        s = self._stack.end_epoch()
        self._epoch += 1
        self._train = (s / self._n_steps).to("cpu", torch.float64)
        return s

    def evaluate(self, x, y):
        lsum, msum = self._stack.evaluate(x, y)
        if self._train is not None:       # the first evaluation of an epoch is fit's validation pass
            n = x.shape[0]
            self._on_epoch(self._epoch, self._train, (lsum / n).cpu(), (msum / n).cpu())
            self._train = None
        return lsum, msum


class LiveRun:
    """Train `models` (initialized) with the engine in a background thread; read `snapshot()` any time."""

    def __init__(self, models, labels, data, cfg, kind: str, seed: int, *, two_d: bool):
        self.models, self.labels, self.data, self.cfg, self.kind, self.seed = models, labels, data, cfg, kind, seed
        self.stop_event, self.lock = threading.Event(), threading.Lock()
        self.history = [[] for _ in models]
        self.diverged = [None] * len(models)          # epoch at which each model diverged
        self.status, self.error, self.finished = "starting", None, False
        self.sink = _Sink(self.stop_event)
        self.grid = grid_for(data.x_train) if two_d else None
        self.probs, self.probs_epoch, self._grid_cost, self._grid_at = None, 0, 0.0, -math.inf
        self.t0 = None
        self.thread = threading.Thread(target=self._run, name="initlab-demo-train", daemon=True)

    def start(self) -> "LiveRun":
        self.t0 = time.perf_counter()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()

    # ------------------------------------------------------------------ the training thread
    def _run(self):
        from ..experiments.engine import STACKS, fit
        stack = None
        try:
            stack = STACKS["sequential"](self.models, [self.seed] * len(self.models), self.data, self.cfg, self.kind)
            n_steps = math.ceil(self.data.n_train / self.cfg.batch_size)
            fit(_Watched(stack, n_steps, self._on_epoch), self.data, self.cfg, self.sink)
            self.status = "finished"
        except Stopped:
            self.status = "stopped"
        except Exception as e:  # noqa: BLE001 - shown in the page as one line
            from .settings import message
            self.status, self.error = "failed", message(e)
        finally:
            if stack is not None and self.status != "finished":
                stack.write_back()       # removes the stack's hooks (fit does this itself when it finishes)
            self.finished = True

    def _on_epoch(self, epoch, train, val_loss, val_metric):
        rows = []
        for k in range(len(self.models)):
            t, v, a = float(train[k]), float(val_loss[k]), float(val_metric[k])
            if self.diverged[k] is None and not (math.isfinite(t) and math.isfinite(v)):
                self.diverged[k] = epoch            # fit stops this model too (same rule: non-finite loss)
            rows.append(None if self.diverged[k] is not None else
                        {"epoch": epoch, "train_loss": t, "val_loss": v, "val_acc": a})
        probs = self._boundary(epoch)
        with self.lock:
            for k, r in enumerate(rows):
                if r is not None:
                    self.history[k].append(r)
            if probs is not None:
                self.probs, self.probs_epoch = probs, epoch

    def _boundary(self, epoch):
        """P(class 1) of each model on the grid; at most every 0.5 s and <= 20 % of the time (deep nets)."""
        if self.grid is None:
            return None
        now = time.perf_counter()
        if epoch != self.cfg.epochs and now - self._grid_at < max(0.5, 4 * self._grid_cost):
            return None
        pts = self.grid[0].to(self.cfg.device, self.cfg.dtype)
        out = []
        with torch.no_grad():                      # the models are in eval mode here (fit just evaluated them)
            for k, m in enumerate(self.models):
                if self.diverged[k] is not None:
                    out.append(None)
                    continue
                z = m(pts)
                p = torch.sigmoid(z.reshape(-1)) if self.kind == "bce" else torch.softmax(z, -1)[:, 1]
                out.append(p.float().cpu())
        self._grid_at = time.perf_counter()
        self._grid_cost = self._grid_at - now
        return out

    # ------------------------------------------------------------------ the page's side
    def snapshot(self) -> dict:
        with self.lock:
            return {"history": [list(h) for h in self.history], "probs": self.probs, "probs_epoch": self.probs_epoch,
                    "fraction": min(1.0, self.sink.done / max(1, self.cfg.epochs)), "status": self.status,
                    "error": self.error, "finished": self.finished, "diverged": list(self.diverged),
                    "seconds": time.perf_counter() - self.t0 if self.t0 else 0.0}


__all__ = ["LiveRun", "Stopped"]
