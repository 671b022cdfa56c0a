"""What the page's buttons do, without Gradio: show the init pictures, train live, stop.

`Handlers(cli_model)` holds the choices and the runs in progress (one per browser session).
Every public method returns (or yields) plain values for the page's outputs, in OUTPUTS order; a bad
value or an API error becomes the message, never an exception.
"""
from __future__ import annotations

import threading
import time

from .settings import BUILT, message, parse

OUTPUTS = ("message", "histograms", "verdicts_a", "verdicts_b", "plan_a", "plan_b", "status", "results", "curves",
           "boundary")
POLL_S = 0.5        # the page is refreshed at least this often while training (the issue asks >= 1/s)
BOUNDARY_S = 1.5    # the decision boundary at most this often


class Handlers:
    def __init__(self, cli_model: str | None = None):
        from .. import list_policies, list_schemes
        self.cli_model = cli_model
        self.policies = list_policies() + list_schemes()
        self.runs: dict[str, object] = {}
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def settings(self, values):
        return parse(*values, policies=self.policies, cli_model=self.cli_model)

    def _pictures(self, s):
        """(data set, data note, [Side A, Side B]) for the settings (raises InitError on bad input)."""
        from .prepare import dataset, init_side
        ds, note = dataset(s)
        sides = [init_side(s, ds, p) for p in s.inits]
        return ds, note, sides

    @staticmethod
    def _init_outputs(sides):
        from .figures import histograms
        from .text import plan_rows, verdicts
        return (histograms(sides), verdicts("A", sides[0]), verdicts("B", sides[1]),
                plan_rows(sides[0].plan), plan_rows(sides[1].plan))

    # ------------------------------------------------------------------ buttons
    def show_init(self, *values):
        """The init pictures of both inits: histograms, verdicts, plan rows.  Returns the first six outputs."""
        t0 = time.perf_counter()
        try:
            s = self.settings(values)
            _, note, sides = self._pictures(s)
            out = self._init_outputs(sides)
        except Exception as e:  # noqa: BLE001 - every failure is a message in the page
            return (_error(e),) + (_SKIP(),) * 5
        return (_note(note, f"initialized and diagnosed in {time.perf_counter() - t0:.2f} s"),) + out

    def train(self, *values, session: str = ""):
        """Generator: the init pictures first, then the curves (and boundary) as epochs finish."""
        from ..experiments.engine import TrainConfig, TrainData
        from .figures import curves, boundary
        from .prepare import val_split
        from .text import results, status
        skip = _SKIP
        try:
            s = self.settings(values)
            ds, note, sides = self._pictures(s)
            init_out = self._init_outputs(sides)
            x_va, y_va = val_split(ds)
            from .prepare import fit_inputs, loss_kind
            x_tr, n_out = fit_inputs(sides[0].model, ds.x_train, ds.name)
            x_va, _ = fit_inputs(sides[0].model, x_va, ds.name)
            kind = loss_kind(n_out, int(ds.n_classes), ds.name)
            data = TrainData("classification", x_tr, ds.y_train, x_va, y_va, ds.n_classes, "val")
            cfg = TrainConfig(epochs=s.epochs, lr=s.lr, batch_size=min(s.batch_size, ds.n_train),
                              optimizer=s.optimizer, loss=kind, lr_schedule=s.lr_schedule).check()
        except Exception as e:  # noqa: BLE001
            yield (_error(e),) + (skip(),) * 9
            return
        from .live import LiveRun
        labels = [f"A {s.init_a}", f"B {s.init_b}"]
        chance = float(y_va.bincount().max()) / len(y_va)
        run = LiveRun([sd.model for sd in sides], labels, data, cfg, kind, s.seed, two_d=s.two_d)
        with self.lock:
            old = self.runs.get(session)
            if old is not None:
                old.stop()
            self.runs[session] = run
        drawn, drawn_probs, boundary_at = -1, -1, -float("inf")
        try:                           # from here on, however the page leaves, the run is stopped (finally)
            snap = run.snapshot()
            yield (_note(note, "training both inits on the same seed and batches"),) + init_out + (
                status(snap, s.epochs), results(labels, snap, s.epochs, chance),
                curves([[], []], labels, chance, s.epochs), None)
            run.start()
            while True:
                done = run.finished
                time.sleep(0 if done else POLL_S)
                snap = run.snapshot()
                n = sum(len(h) for h in snap["history"])
                fig_c = curves(snap["history"], labels, chance, s.epochs) if n != drawn else skip()
                fig_b = skip()
                # the boundary figure costs as much as the curves: redraw it at most every BOUNDARY_S (and at the
                # end), so the status and curves keep their pace on a busy machine
                if s.two_d and snap["probs"] is not None and snap["probs_epoch"] != drawn_probs and (
                        done or time.perf_counter() - boundary_at >= BOUNDARY_S):
                    _, xs, ys = run.grid
                    fig_b = boundary(snap["probs"], labels, xs, ys, ds.x_train, ds.y_train, snap["probs_epoch"])
                    drawn_probs, boundary_at = snap["probs_epoch"], time.perf_counter()
                drawn = n
                yield (skip(),) * 6 + (status(snap, s.epochs), results(labels, snap, s.epochs, chance), fig_c, fig_b)
                if done:
                    break
        finally:
            run.stop()                 # the page went away (or the run ended): never train for nobody
            with self.lock:
                if self.runs.get(session) is run:
                    del self.runs[session]

    def stop(self, session: str = "") -> str:
        with self.lock:
            run = self.runs.get(session)
        if run is None:
            return "nothing is training"
        run.stop()
        return "stopping after the current step"


def _SKIP():
    """Gradio's "leave this output as it is": gr.skip() when the page runs (gradio imported), else its value."""
    import sys
    gr = sys.modules.get("gradio")
    return gr.skip() if gr is not None else {"__type__": "update"}


def _error(e: BaseException) -> str:
    return f"**Error:** {message(e)}"


def _note(note: str, what: str) -> str:
    return what + (f" ({note})" if note else "")


__all__ = ["Handlers", "OUTPUTS", "BUILT"]
