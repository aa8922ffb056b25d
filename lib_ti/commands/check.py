"""``python -m lib_ti check DIR`` and ``python -m lib_ti prepare SRC DST``: dataset checks from the shell.

Both are registered here (one module for the dataset area). ``check`` prints a plain-text
summary (or the JSON report with ``--json``), can write the self-contained HTML report,
and stores the last report per folder in TI Lab's data folder for the captions tab.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check a training folder's diversity (zoom, background, clothing, duplicates, light)",
                       description="Check a dataset folder before training. Files are only read, never changed.")
    p.add_argument("folder", help="folder of training images")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the JSON report to FILE, or to stdout when no FILE is given")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (thumbnails embedded)")
    p.add_argument("--clip", metavar="ARCH=WEIGHTS",
                   help="also use CLIP image features: an open_clip architecture (or model-config .json) and a local "
                        "weights file, e.g. ViT-B-32=/models/clip/vit-b-32.safetensors (nothing is downloaded)")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--size", type=int, default=512, help="training size in pixels (default 512)")
    p.add_argument("--template", metavar="FILE_OR_TEXT",
                   help="prompt template (file or text); words it names count as captioned for every image")
    p.add_argument("--no-save", action="store_true", help="do not store the report as this folder's last report")
    p.add_argument("--data-dir", metavar="DIR", help="TI Lab data folder (default $TILAB_DATA or ~/.local/share/ti-lab)")
    p.set_defaults(func=run_check)

    q = sub.add_parser("prepare", help="crop and resize source photos into a separate training folder",
                       description="Write SIZE×SIZE PNG crops of every image in SRC to DST (never over the sources); "
                                   "sidecar .txt captions are copied along.")
    q.add_argument("src", help="folder of source photos")
    q.add_argument("dst", help="output folder (must differ from SRC and not be inside it)")
    q.add_argument("--size", type=int, default=512, help="output side in pixels (default 512)")
    q.add_argument("--crop", choices=("face", "centre", "center"), default="face",
                   help="face: square around the detected face (centre when none); centre: middle square")
    q.add_argument("--flip", action="store_true", help="also write a mirrored copy of each image")
    q.add_argument("--recursive", action="store_true", help="include sub-folders")
    q.set_defaults(func=run_prepare)


def run_check(args: argparse.Namespace) -> int:
    from ..core.context import default_data_dir
    from ..core.fsutil import atomic_write_text
    from ..core.jobs import cli_job
    from ..dataset.pipeline import check_folder
    from ..dataset.report import summary_text, to_html, to_json
    from ..dataset.store import save_report

    folder = Path(args.folder).expanduser()
    try:
        result = check_folder(folder, size=args.size, recursive=args.recursive, clip=args.clip,
                              template=args.template, job=cli_job())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = result.report
    text = to_json(report)
    if args.json and args.json != "-":
        atomic_write_text(args.json, text + "\n")
    if args.html:
        atomic_write_text(args.html, to_html(report, result.thumbs))
    if not args.no_save:
        data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
        save_report(data_dir, folder, report)
    if args.json == "-":
        print(text)
        print(summary_text(report), file=sys.stderr)
    else:
        print(summary_text(report))
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from ..core.jobs import cli_job
    from ..dataset.prepare import prepare_folder

    crop = "centre" if args.crop == "center" else args.crop
    try:
        res = prepare_folder(Path(args.src).expanduser(), Path(args.dst).expanduser(), size=args.size, crop=crop,
                             flip=args.flip, recursive=args.recursive, job=cli_job())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(res.written)} images and {len(res.captions)} captions to {args.dst}"
          f" ({res.faces_found} face-centred crops){'; interrupted' if res.interrupted else ''}")
    for s in res.skipped:
        print(f"skipped {s.name}: {s.reason}")
    return 0
