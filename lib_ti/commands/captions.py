"""``python -m lib_ti captions ...``: caption with BLIP, bulk-edit, and inspect a folder's captions.

The same core as the Captions tab (:mod:`lib_ti.captions`): the same encoding, line-ending and
conflict rules hold, and every bulk edit prints its changes before (``--dry-run``) or as it writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _open(folder: str):
    from ..captions.session import CaptionSession

    session = CaptionSession.open(Path(folder).expanduser())
    for problem in session.problems():
        print(f"warning: {problem}", file=sys.stderr)
    return session


def _print_changes(changes) -> None:
    for ch in changes:
        print(f"{ch.key}:\n  - {ch.before.strip()!s}\n  + {ch.after.strip()!s}")


def _edit(args: argparse.Namespace, op) -> int:
    session = _open(args.folder)
    if args.only:
        kind, _, arg = args.only.partition(":")
        print(f"{session.set_filter(kind, arg, args.budget)} image(s) match {args.only!r}", file=sys.stderr)
    if args.dry_run:
        changes = session.preview(op, only_filtered=bool(args.only))
        _print_changes(changes)
        print(f"{len(changes)} caption(s) would change (dry run, nothing written).", file=sys.stderr)
        return 0
    changes, result = session.apply(op, only_filtered=bool(args.only))
    _print_changes([c for c in changes if c.key in set(result.written)])
    print(result.message(), file=sys.stderr)
    return 1 if result.refused else 0


def _cmd_edit(args: argparse.Namespace) -> int:
    from ..captions.edits import make_operation

    if args.cmd == "replace":
        op = make_operation("replace", args.find, args.repl, regex=args.regex, ignore_case=args.ignore_case,
                            whole_word=args.whole_word)
    elif args.cmd in ("prepend", "append"):
        op = make_operation(args.cmd, args.text, sep=args.sep)
    elif args.cmd == "remove":
        op = make_operation("remove_phrase", args.phrase)
    elif args.cmd == "tags":
        op = make_operation(args.op.replace("-", "_") + ("_tags" if args.op in ("sort", "dedupe") else "_tag"),
                            args.a or "", args.b or "", number=args.keep_first)
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(args.cmd)
    return _edit(args, op)


def _cmd_caption(args: argparse.Namespace) -> int:
    from ..captions.captioner import TransformersBlip, caption_images
    from ..core.context import standalone_context
    from ..core.jobs import cli_job

    ctx = standalone_context()
    overrides = {k: v for k, v in (("num_beams", args.beams), ("min_length", args.min_length),
                                   ("max_length", args.max_length)) if v is not None}
    captioner = TransformersBlip.from_settings(ctx.settings, args.model or "", **overrides)
    session = _open(args.folder)
    images = [sc.image for sc in session.items]
    result = caption_images(images, captioner, args.existing, job=cli_job(),
                            on_written=lambda path, text: print(f"{path.name}: {text}", flush=True))
    print(result.message(), file=sys.stderr)
    return 1 if result.errors else (130 if result.interrupted else 0)


def _cmd_stats(args: argparse.Namespace) -> int:
    from ..captions.stats import caption_stats
    from ..core.context import default_data_dir

    session = _open(args.folder)
    report = None
    try:
        from ..dataset.store import load_last_report

        report = load_last_report(Path(args.data_dir) if args.data_dir else default_data_dir(), session.folder)
    except ImportError:  # the dataset area is optional for captions
        pass
    st = caption_stats(session.captions(), report, top=args.top)
    if args.json:
        print(json.dumps({
            "images": st.total, "captioned": st.captioned,
            "phrases": [{"phrase": r.phrase, "captions": r.captions, "share": round(r.share, 3), "in_most": r.in_most}
                        for r in st.rows],
            "unnamed_shared_attributes": [{"kind": u.kind, "description": u.description, "terms": list(u.terms)}
                                          for u in st.unnamed],
        }, ensure_ascii=False, indent=1))
        return 0
    print(f"{st.captioned} of {st.total} images have a caption.")
    for r in st.rows:
        mark = "  <- in most captions: the embedding will not learn it" if r.in_most else ""
        print(f"{r.captions:5d} {r.share:6.0%}  {r.phrase}{mark}")
    for u in st.unnamed:
        print(f"shared but not named in any caption: {u.description} ({u.kind}; e.g. {', '.join(u.terms[:3])})")
    return 0


def _cmd_tokens(args: argparse.Namespace) -> int:
    from ..captions.tokens import count_tokens

    session = _open(args.folder)
    over = 0
    for key, text in session.captions().items():
        if not text.strip():
            continue
        tc = count_tokens(text)
        if tc.count > args.budget:
            over += 1
        if tc.count > args.budget or args.all:
            print(f"{tc.label():>9}  {key}")
    print(f"{over} caption(s) over {args.budget} tokens.", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    session = _open(args.folder)
    session.set_filter(args.filter, args.word or "", args.budget)
    for key in session.filtered_keys():
        print(key)
    return 0


def _add_edit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    p.add_argument("--only", metavar="FILTER[:WORD]",
                   help="edit only matching captions: missing, contains:WORD, lacks:WORD, over_budget")
    p.add_argument("--budget", type=int, default=75, help="token budget for --only over_budget (default 75)")


def _run(args: argparse.Namespace) -> int:
    from ..captions.sidecar import CaptionError

    try:
        return args.captions_func(args)
    except (CaptionError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..captions.edits import WHOLE_WORD_DEFAULT, WHOLE_WORD_LABEL

    p = sub.add_parser("captions", help="caption images with BLIP, bulk-edit and inspect .txt captions")
    cs = p.add_subparsers(dest="cmd", metavar="ACTION", required=True)

    def action(name: str, func, **kw) -> argparse.ArgumentParser:
        a = cs.add_parser(name, **kw)
        a.add_argument("folder", help="folder of images with <name>.txt captions")
        a.set_defaults(func=_run, captions_func=func)
        return a

    a = action("caption", _cmd_caption, help="caption every image with BLIP (writes each .txt as it goes)")
    a.add_argument("--model", help="BLIP model folder or Hugging Face id (default: the tilab_blip_model setting)")
    a.add_argument("--existing", choices=("ignore", "keep", "prepend", "append"), default="ignore",
                   help="existing caption: ignore (replace), keep, prepend (existing first) or append (as the host)")
    a.add_argument("--beams", type=int)
    a.add_argument("--min-length", type=int)
    a.add_argument("--max-length", type=int)

    a = action("replace", _cmd_edit, help="find and replace in every caption")
    a.add_argument("find")
    a.add_argument("repl")
    a.add_argument("--regex", action="store_true", help="FIND is a Python regular expression (\\1 in REPL)")
    a.add_argument("--ignore-case", action="store_true")
    a.add_argument("--whole-word", action=argparse.BooleanOptionalAction, default=WHOLE_WORD_DEFAULT,
                   help=f"{WHOLE_WORD_LABEL}: a hyphen or apostrophe joins words; plain text only, not with "
                        f"--regex (default: {'on' if WHOLE_WORD_DEFAULT else 'off'}, as in the Captions tab)")
    _add_edit_flags(a)
    for name, text in (("prepend", "put TEXT in front of every caption (e.g. [name])"),
                       ("append", "put TEXT at the end of every caption")):
        a = action(name, _cmd_edit, help=text)
        a.add_argument("text")
        a.add_argument("--sep", default=", ", help="separator (default ', ')")
        _add_edit_flags(a)
    a = action("remove", _cmd_edit, help="remove a phrase (whole words, any case) from every caption")
    a.add_argument("phrase")
    _add_edit_flags(a)
    a = action("tags", _cmd_edit, help="comma-separated tag operations")
    a.add_argument("op", choices=("add", "remove", "rename", "sort", "dedupe"))
    a.add_argument("a", nargs="?", help="tag (add/remove) or old name (rename)")
    a.add_argument("b", nargs="?", help="new name (rename)")
    a.add_argument("--keep-first", type=int, default=0, help="sort: leave the first N tags in place")
    _add_edit_flags(a)

    a = action("stats", _cmd_stats, help="phrase frequencies and unnamed shared attributes")
    a.add_argument("--top", type=int, default=30)
    a.add_argument("--json", action="store_true")
    a.add_argument("--data-dir", help="TI Lab data folder holding the dataset check reports")

    a = action("tokens", _cmd_tokens, help="CLIP token counts (host 75-token chunks)")
    a.add_argument("--budget", type=int, default=75)
    a.add_argument("--all", action="store_true", help="list every caption, not only those over the budget")

    a = action("list", _cmd_list, help="list images matching a filter")
    a.add_argument("filter", choices=("all", "missing", "contains", "lacks", "over_budget"))
    a.add_argument("word", nargs="?")
    a.add_argument("--budget", type=int, default=75)
