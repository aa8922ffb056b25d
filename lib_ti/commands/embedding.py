"""``python -m lib_ti embedding create|inspect|weaken|convert``: embedding files without the WebUI.

``create`` and ``inspect --ckpt`` load a checkpoint (the text encoder's token table is needed); ``weaken`` and
``convert`` only touch the embedding file. Every write is atomic and never overwrites an existing file unless
``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _backend(args: argparse.Namespace):
    from ..model.loader import load_backend

    return load_backend(args.ckpt, args.config)


def _target(path: Path, overwrite: bool) -> Path:
    if path.exists() and not overwrite:
        raise ValueError(f"{path}: already exists (use --overwrite to replace it)")
    return path


def _cmd_create(args: argparse.Namespace) -> int:
    from ..model.embeddings import budget_warning, create_embedding, save_embedding, validate_name

    name = validate_name(args.name)
    warning = budget_warning(args.vectors)
    out = args.out if args.out.suffix.lower() in (".pt", ".safetensors") else args.out / f"{name}.{args.format}"
    _target(out, args.overwrite)
    backend = _backend(args)
    emb = create_embedding(backend, name, args.vectors, args.init_text)
    save_embedding(emb, out)
    print(f"created {out} ({emb.vectors} × {emb.width}, {backend.family})")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ..model.embeddings import load_embedding
    from ..model.inspect import format_report, inspect_embedding

    emb = load_embedding(args.file)
    backend = _backend(args) if args.ckpt else None
    report = inspect_embedding(emb, backend, top_k=args.top)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


def _load_finite(path: Path):
    """Load an embedding that is about to be written anew; NaN/inf is blamed on this input, not the output."""
    import torch

    from ..model.embeddings import load_embedding

    emb = load_embedding(path)
    if not torch.isfinite(emb.vec).all():
        raise ValueError(f"{path}: the embedding holds NaN or infinite values; nothing was written")
    return emb


def _cmd_weaken(args: argparse.Namespace) -> int:
    from ..model.embeddings import save_embedding, scale_embedding

    emb = _load_finite(args.file)
    out = args.out or args.file.with_name(f"{args.file.stem}-x{args.scale:g}{args.file.suffix}")
    if out.suffix.lower() not in (".pt", ".safetensors"):
        out = out.with_suffix(".pt")
    _target(out, args.overwrite)
    save_embedding(scale_embedding(emb, args.scale), out)
    print(f"saved {out} (vectors ×{args.scale:g})")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from ..model.embeddings import save_embedding

    emb = _load_finite(args.file)
    out = args.out or args.file.with_suffix(f".{args.to}")
    if out.resolve() == args.file.resolve():
        raise ValueError(f"{out}: the converted file would replace its source; give --out")
    _target(out, args.overwrite)
    save_embedding(emb, out)
    print(f"saved {out}")
    return 0


def _run(func):
    def handler(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return handler


def _model_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--ckpt", type=Path, required=required, help="SD 1.x/2.x/SDXL checkpoint (.safetensors or .ckpt)")
    p.add_argument("--config", type=Path, help="model config: an ldm yaml or an SDXL config folder "
                   "(default: <ckpt>.yaml or <ckpt>/ beside it, else detected)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embedding", help="create, inspect, weaken and convert Textual Inversion embeddings")
    esub = p.add_subparsers(dest="embedding_command", metavar="ACTION", required=True)

    c = esub.add_parser("create", help="a new embedding from an initialization text, as the host creates it")
    c.add_argument("name", help="embedding name (the word you will type in prompts)")
    _model_args(c, True)
    c.add_argument("--vectors", type=int, default=1, help="vectors per token, 1-75 (default 1)")
    c.add_argument("--init-text", default="*", help="initialization text; empty gives zero vectors (default '*')")
    c.add_argument("--out", type=Path, default=Path("."), help="output file (.pt/.safetensors) or folder")
    c.add_argument("--format", choices=("pt", "safetensors"), default="pt", help="file type when --out is a folder")
    c.add_argument("--overwrite", action="store_true", help="replace an existing file")
    c.set_defaults(func=_run(_cmd_create))

    i = esub.add_parser("inspect", help="vector norms and, with --ckpt, nearest vocabulary tokens")
    i.add_argument("file", type=Path, help="embedding file (.pt, .bin, .safetensors, .png)")
    _model_args(i, False)
    i.add_argument("--top", type=int, default=5, help="nearest tokens per vector (default 5)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=_run(_cmd_inspect))

    w = esub.add_parser("weaken", help="save a copy with vectors scaled by --scale (e.g. 0.7)")
    w.add_argument("file", type=Path)
    w.add_argument("--scale", type=float, required=True, help="factor for the vectors (0 < k; < 1 weakens)")
    w.add_argument("--out", type=Path, help="output file (default <stem>-x<k>.<ext> beside the input)")
    w.add_argument("--overwrite", action="store_true", help="replace an existing file")
    w.set_defaults(func=_run(_cmd_weaken))

    v = esub.add_parser("convert", help="convert between .pt (host layout) and .safetensors")
    v.add_argument("file", type=Path)
    v.add_argument("--to", choices=("pt", "safetensors"), required=True)
    v.add_argument("--out", type=Path, help="output file (default: same stem, new extension)")
    v.add_argument("--overwrite", action="store_true", help="replace an existing file")
    v.set_defaults(func=_run(_cmd_convert))
