"""``python -m lib_ti serve``: the TI Lab tabs in plain Gradio, no host needed."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..ui.standalone import serve

    serve(host=args.host, port=args.port, data_dir=Path(args.data_dir) if args.data_dir else None,
          allowed_roots=args.allow or [], open_browser=args.open)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="open the TI Lab tabs in a local web app (default http://127.0.0.1:7870)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but loopback restricts folders to --data-dir and --allow")
    p.add_argument("--port", type=int, default=7870)
    p.add_argument("--data-dir", help="where TI Lab keeps outputs and settings (default $TILAB_DATA or "
                                      "~/.local/share/ti-lab)")
    p.add_argument("--allow", action="append", metavar="FOLDER",
                   help="folder the UI may read/write (repeatable); restricts access to these and the data folder")
    p.add_argument("--open", action="store_true", help="open a browser tab")
    p.set_defaults(func=_cmd_serve)
