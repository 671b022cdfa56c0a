"""The Gradio page: controls on the left, pictures on the right; `launch()` serves it.

Requests go through Gradio's queue: at most TRAIN_CONCURRENCY trainings and INIT_CONCURRENCY init
pictures run at once (the rest wait in line); the stop button skips the queue so it works while a
run holds a slot.  Training runs in its own thread, so the server keeps answering meanwhile.
"""
# no `from __future__ import annotations`: Gradio must see gr.Request as a class, not a string
import os

from .settings import (ACTIVATIONS, BUILT, DATASET_LABELS, DATASETS, MAX_DEPTH, MAX_EPOCHS, MAX_SAMPLES,
                       MAX_WIDTH)

TRAIN_CONCURRENCY, INIT_CONCURRENCY, QUEUE_SIZE = 2, 4, 32
INTRO = """# initlab: see what an initialization does
Pick two initializations (any registered scheme or policy, `auto` included). **Show init** draws each
layer's activations and gradients at initialization, with initlab's diagnosis and the plan (which
scheme each layer got, and why). **Train** then trains both on the same seed and the same batches."""
CSS = """
#initlab-message {min-height: 1.5em}
#initlab-results table {font-size: 0.9em}
"""


def build_app(cli_model: str | None = None):
    """The gr.Blocks of the demo (not launched).  cli_model: the spec or file:factory given as --model."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    from ..experiments.engine import OPTIMIZERS
    from ..experiments.engine.schedule import LR_SCHEDULES
    from .handlers import Handlers
    from .text import PLAN_HEADERS
    h = Handlers(cli_model)
    with gr.Blocks(title="initlab demo", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                init_a = gr.Dropdown(h.policies, value="zeros", label="Init A", elem_id="init-a")
                init_b = gr.Dropdown(h.policies, value="auto", label="Init B", elem_id="init-b")
                models = [BUILT] + ([cli_model] if cli_model else [])
                model = gr.Dropdown(models, value=models[-1], label="Model (yours comes from --model)",
                                    visible=cli_model is not None, elem_id="model")
                act = gr.Dropdown(list(ACTIVATIONS), value="relu", label="Activation", elem_id="activation")
                with gr.Row():
                    depth = gr.Number(10, precision=0, label=f"Depth (1-{MAX_DEPTH})", elem_id="depth")
                    width = gr.Number(256, precision=0, label=f"Width (1-{MAX_WIDTH})", elem_id="width")
                data = gr.Dropdown([(DATASET_LABELS[d], d) for d in DATASETS], value="moons", label="Data set",
                                   elem_id="dataset")
                samples = gr.Number(1000, precision=0, label=f"Training samples (10-{MAX_SAMPLES})",
                                    elem_id="samples")
                with gr.Row():
                    opt = gr.Dropdown(list(OPTIMIZERS), value="sgd", label="Optimizer", elem_id="optimizer")
                    lr = gr.Number(0.05, label="Learning rate", elem_id="lr")
                    sched = gr.Dropdown(list(LR_SCHEDULES), value="constant", label="LR schedule (decay to 0)",
                                        elem_id="lr-schedule")
                with gr.Row():
                    epochs = gr.Number(30, precision=0, label=f"Epochs (1-{MAX_EPOCHS})", elem_id="epochs")
                    batch = gr.Number(32, precision=0, label="Batch size", elem_id="batch")
                seed = gr.Number(0, precision=0, label="Seed (both inits)", elem_id="seed")
                with gr.Row():
                    show = gr.Button("Show init", elem_id="show-init")
                    train = gr.Button("Train", variant="primary", elem_id="train")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
            with gr.Column(scale=3):
                msg = gr.Markdown("", elem_id="initlab-message")
                hist = gr.Plot(label="Histograms at initialization", show_label=False, format="png", elem_id="histograms")
                with gr.Row():
                    verd_a = gr.Markdown("", elem_id="verdicts-a")
                    verd_b = gr.Markdown("", elem_id="verdicts-b")
                with gr.Accordion("Plan rows: which scheme each parameter got, and why", open=False):
                    with gr.Row():
                        plan_a = gr.Dataframe(headers=PLAN_HEADERS, label="Init A", wrap=True, max_height=300,
                                              elem_id="plan-a")
                        plan_b = gr.Dataframe(headers=PLAN_HEADERS, label="Init B", wrap=True, max_height=300,
                                              elem_id="plan-b")
                status = gr.Markdown("", elem_id="status")
                results = gr.Markdown("", elem_id="initlab-results")
                curves = gr.Plot(label="Training curves", show_label=False, format="png", elem_id="curves")
                bound = gr.Plot(label="Decision boundary (2-D data sets)", show_label=False, format="png", elem_id="boundary")
        inputs = [init_a, init_b, act, depth, width, data, samples, lr, opt, epochs, batch, seed, model, sched]
        outputs = [msg, hist, verd_a, verd_b, plan_a, plan_b, status, results, curves, bound]

        # Gradio passes the request only to a named parameter annotated gr.Request (not after *values)
        def do_train(a, b, act_, depth_, width_, data_, n_, lr_, opt_, ep_, bs_, seed_, model_, sched_,
                     request: gr.Request):
            yield from h.train(a, b, act_, depth_, width_, data_, n_, lr_, opt_, ep_, bs_, seed_, model_, sched_,
                               session=_session(request))

        def do_stop(request: gr.Request):
            return h.stop(_session(request))

        show.click(h.show_init, inputs, outputs[:6], concurrency_limit=INIT_CONCURRENCY, concurrency_id="init")
        train.click(do_train, inputs, outputs, concurrency_limit=TRAIN_CONCURRENCY, concurrency_id="train")
        stop.click(do_stop, None, status, queue=False)
    demo.queue(max_size=QUEUE_SIZE)
    return demo


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "local"


def launch(host: str = "127.0.0.1", port: int | None = None, cli_model: str | None = None, *, threads: int = 1,
           block: bool = True):
    """Serve the demo on host:port (127.0.0.1 unless told otherwise).  Returns the gr.Blocks when block=False."""
    import torch
    # one intra-op thread per request: on a busy or 2-core machine, two requests at 2 threads each spin
    # against each other (diagnose took seconds instead of 0.1 s); concurrent requests use the cores instead
    torch.set_num_threads(max(1, int(threads)))
    demo = build_app(cli_model)
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=True, show_error=False,
                ssr_mode=False, footer_links=[], css=CSS, theme="default")
    return demo


__all__ = ["build_app", "launch"]
