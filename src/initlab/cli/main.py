"""`initlab` entry point: argparse with one-line errors and tracebacks only on request.

Exit codes: 0 success, 1 a check found problems or the job failed, 2 bad usage.
Set INITLAB_DEBUG=1 to see the full traceback of an error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from ..errors import InitError


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit 2 (never a usage dump)."""

    def error(self, message):  # noqa: D401 - argparse hook
        # "argument --lr: --lr=1e308 is not allowed; ..." (a cli/_checks.py type): say the flag once
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument ") and rest.startswith(head[len("argument "):].split("/")[0] + "="):
            message = rest
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> Parser:
    parser = Parser(prog="initlab", description="Choose, apply, check and compare weight initializations.",
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="Examples:\n"
                           "  initlab schemes --json\n"
                           "  initlab plan deep-mlp:50:256:tanh --policy auto\n"
                           "  initlab diagnose deep-mlp:50:256:tanh --policy torch_default\n"
                           "  initlab compare                      # the seed-004 comparison on Fashion-MNIST\n"
                           "  initlab reproduce --list\n"
                           "  initlab double-descent --axis width\n\n"
                           "Set INITLAB_DEBUG=1 to show tracebacks.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    from .. import cli
    names = sorted(m.name for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("cmd_"))
    for name in names:
        importlib.import_module(f"{cli.__name__}.{name}").register(sub)
    return parser


def _command_alias(parser, argv: list) -> list:
    """`double_descent` for `double-descent`: names are spelled one way and the other spelling is an alias
    (issue 17); commands are hyphenated, as on every command line."""
    if argv and not argv[0].startswith("-") and "_" in argv[0]:
        choices = next(a.choices for a in parser._subparsers._group_actions if a.choices)
        hyphen = argv[0].replace("_", "-")
        if hyphen in choices:
            return [hyphen, *argv[1:]]
    return argv


def _version() -> str:
    from .. import __version__
    return f"initlab {__version__}"


def main(argv=None) -> int:
    """The `initlab` command.  argv None = this process's command line (the console script)."""
    if argv is not None:
        return _main(argv)
    # Only for the process's own command (a caller of main([...]) keeps its collector as it was): importing
    # torch makes ~170k objects that live to the end, and every full collection walks them all (0.04-0.14 s
    # each, ~3 in a compare of a few seconds), so full collections wait 100x longer than Python's default
    # (young objects are still collected as usual; not for `demo`, a server that may run for hours, whose
    # memory Python's default keeps flat) ...
    import gc
    if "demo" not in sys.argv[1:2]:
        g0, g1, _ = gc.get_threshold()
        gc.set_threshold(g0, g1, 1000)
    code = _main(sys.argv[1:])
    # ... and the process ends next: its last collections would walk them again (0.3-0.5 s of a 2-3 s
    # command at load 3, measured with benchmarks/startup.py); frozen objects are skipped.
    gc.freeze()
    return code


def _main(argv) -> int:
    debug = os.environ.get("INITLAB_DEBUG", "") not in ("", "0")
    try:
        parser = build_parser()
        argv = _command_alias(parser, list(argv))
        args = parser.parse_args(argv)
        code = args.func(args)
        return int(code or 0)
    except SystemExit as e:  # --help / --version
        return int(e.code or 0) if isinstance(e.code, int) else 0
    except (UsageError, InitError) as e:
        if debug:
            raise
        print(f"initlab: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `initlab ... | head` closed our stdout: not an error (Python's documented recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("initlab: interrupted; finished results are kept", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line, traceback only on request
        if debug:
            raise
        if _out_of_memory(e):
            print("initlab: error: out of memory (" + (str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
                  + "). Fix: a smaller --batch, fewer --seeds, a --chunk, or a smaller model", file=sys.stderr)
            return 1
        print(f"initlab: error: {type(e).__name__}: {e} (set INITLAB_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _out_of_memory(e: BaseException) -> bool:
    """MemoryError, torch.OutOfMemoryError, or the CPU allocator's RuntimeError ("can't allocate memory")."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    return isinstance(e, RuntimeError) and ("can't allocate memory" in str(e) or "out of memory" in str(e))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
