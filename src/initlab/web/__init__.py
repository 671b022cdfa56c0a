"""The interactive web demo (`initlab demo`): a thin Gradio page over initlab's public API.

    from initlab.web import launch
    launch(port=7860)                       # http://127.0.0.1:7860

What it uses: initlab.init_ (plans), initlab.diagnose (verdicts, activation samples),
initlab.data / initlab.models (data sets, models), the training engine's fit (experiments.engine).
Files: settings.py (bounds), prepare.py (model, init, diagnosis), grads.py (gradient samples),
live.py (training thread), figures.py, text.py, handlers.py (buttons), app.py (layout, launch),
toy2d.py (moons / circles / spirals until initlab.data has them).
Gradio is an optional dependency: pip install 'initlab[demo]'.
"""


def launch(*args, **kwargs):
    """Serve the demo (see app.launch): launch(host="127.0.0.1", port=None, cli_model=None)."""
    from .app import launch as _launch
    return _launch(*args, **kwargs)


def build_app(*args, **kwargs):
    from .app import build_app as _build
    return _build(*args, **kwargs)


__all__ = ["launch", "build_app"]
