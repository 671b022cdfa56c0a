"""Command-line interface: thin typed commands over the public Python API.

Each command lives in its own module `cmd_<name>.py` exposing
`register(subparsers)`; main.py discovers them, so adding a command never edits
another command's file.
"""
