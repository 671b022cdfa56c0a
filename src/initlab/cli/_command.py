"""One place for what every `initlab` subcommand's parser shares: the help layout and the examples block."""
from __future__ import annotations

import argparse


def command(sub, name: str, *, help: str, description: str, examples: list[str], notes: str = ""):  # noqa: A002
    """Add subcommand `name`: the description as written (line breaks kept), then "Examples:" with one
    indented line per example, then `notes` after a blank line.  Returns the parser for its arguments."""
    epilog = "Examples:\n" + "".join(f"  {e}\n" for e in examples) + (f"\n{notes}" if notes else "")
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
