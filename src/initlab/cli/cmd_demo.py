"""`initlab demo`: the interactive web page (Gradio), served on 127.0.0.1 unless told otherwise."""
from __future__ import annotations

from . import _checks as ck
from ._command import command

EXAMPLES = [
    "initlab demo                                  http://127.0.0.1:7860 (or the next free port)",
    "initlab demo --port 8080",
    "initlab demo --model resmlp:8:128             offer this zoo model in the page",
    "initlab demo --model path/to/net.py:build     your own model (a factory returning an nn.Module)",
    "initlab demo --host 0.0.0.0                   reachable from other machines (no authentication!)",
]
NOTES = """\
The page never takes code: your own model comes only from --model on this command line.
Needs the optional extra: pip install 'initlab[demo]' (gradio).  Stop the server with Ctrl-C.
"""


def register(sub) -> None:
    p = command(sub, "demo", help="interactive web demo: histograms, verdicts and live training of two inits",
                description="Launch a local web page that compares two initializations side by side: per-layer "
                            "activation and gradient histograms at init, initlab's diagnosis and plan, then live "
                            "training on the same seed and batches (curves; decision boundary on 2-D data).",
                examples=EXAMPLES, notes=NOTES)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=None, metavar="N",
                   help="port (default: 7860, or the next free one; GRADIO_SERVER_PORT also works)")
    p.add_argument("--model", default=None, metavar="SPEC_OR_FILE",
                   help="also offer this model: a zoo spec (resmlp:8:128, cnn) or path/to/file.py:factory")
    p.add_argument("--threads", type=ck.parallel("--threads", auto=False), default=1, metavar="N",
                   help="torch threads per request (default: 1; concurrent requests share the cores)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import InitError, bad_argument
    if args.port is not None and not 1 <= args.port <= 65535:
        raise bad_argument("initlab demo", "--port", args.port, "a port from 1 to 65535", "e.g. --port 7860")
    if args.threads < 1:
        raise bad_argument("initlab demo", "--threads", args.threads, "an int >= 1", "e.g. --threads 1")
    if args.model is not None:          # fail here, on the command line, not later in the page
        from ..models import build_model
        ck.model_fits(args.model, "initlab demo", "--model")
        build_model(args.model)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise InitError("initlab demo: gradio is not installed. Fix: pip install 'initlab[demo]'") from None
    from ..web import launch
    demo = launch(args.host, args.port, args.model, threads=args.threads, block=False)
    print(f"initlab demo on {demo.local_url} (Ctrl-C stops it)", flush=True)
    demo.block_thread()
    return 0
