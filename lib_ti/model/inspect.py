"""Inspect an embedding against the model's vocabulary, as plain data for the UI and the CLI.

Why: a trained embedding whose vectors are many times longer than ordinary token embeddings overpowers every
prompt it appears in (the usual "too strong, can't be styled" complaint); the nearest vocabulary tokens show
what an embedding started from or drifted to. Both are cheap to compute from the token table alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .backend import SDBackend
    from .embeddings import Embedding

#: a vector norm above this many times the typical token norm is flagged as strong
STRONG_RATIO = 3.0


def _token_text(backend: "SDBackend", token_id: int) -> str:
    """Readable text of one vocabulary entry (``cat</w>`` → ``cat``; word pieces keep a trailing ``…``)."""
    if backend.family == "sd1":
        tk = backend.encoder.tokenizer
        raw = tk.convert_ids_to_tokens(int(token_id))
    else:
        import open_clip.tokenizer

        ot = open_clip.tokenizer._tokenizer
        raw = ot.decoder[int(token_id)]
        tk = ot
    end = raw.endswith("</w>")
    core = raw[:-4] if end else raw
    decoder = getattr(tk, "byte_decoder", None)
    if decoder:
        core = bytearray(decoder.get(c, ord("?")) for c in core).decode("utf-8", errors="replace")
    return core if end else core + "…"


def vocabulary_norms(backend: "SDBackend") -> dict:
    """Norm statistics of the token table: ``median`` (the typical token norm), ``p5``, ``p95``, ``mean``."""
    import torch

    cached = getattr(backend, "_tilab_vocab_norms", None)
    if cached is not None:
        return cached
    with torch.no_grad():
        norms = backend.token_table.detach().float().norm(dim=1).cpu()
        q = torch.quantile(norms, torch.tensor([0.05, 0.5, 0.95]))
    stats = {"median": float(q[1]), "p5": float(q[0]), "p95": float(q[2]), "mean": float(norms.mean())}
    backend._tilab_vocab_norms = stats
    return stats


def nearest_tokens(backend: "SDBackend", vec: "torch.Tensor", k: int = 5) -> list[list[dict]]:
    """For each row of ``vec`` (N, D), the ``k`` vocabulary tokens of highest cosine similarity."""
    import torch

    with torch.no_grad():
        table = backend.token_table.detach().float()
        v = vec.detach().to(table.device, torch.float32)
        table_n = torch.nn.functional.normalize(table, dim=1)
        v_n = torch.nn.functional.normalize(v, dim=1)
        sims = v_n @ table_n.T
        top = sims.topk(min(int(k), table.shape[0]), dim=1)
    out = []
    for row_vals, row_ids in zip(top.values.cpu().tolist(), top.indices.cpu().tolist()):
        out.append([{"token": _token_text(backend, i), "id": int(i), "cosine": round(float(s), 4)}
                    for s, i in zip(row_vals, row_ids)])
    return out


def inspect_embedding(emb: "Embedding", backend: Optional["SDBackend"] = None, *, top_k: int = 5) -> dict:
    """Plain-data report on ``emb``: per-vector norms, and with a model also the ratio to the typical token norm,
    the nearest tokens, a suggested weakening factor and warnings.

    Keys: ``name``, ``vectors``, ``width``, ``step``, ``sd_checkpoint``, ``sd_checkpoint_name``, ``rows``
    (``index``, ``norm`` and with a model ``ratio``, ``nearest``), and with a model ``typical_token_norm``,
    ``mean_ratio``, ``suggested_scale`` (factor bringing the mean norm to the typical one, ≤ 1) and ``warnings``.
    """
    import torch

    if getattr(emb, "split", None) is not None:
        return inspect_sdxl_embedding(emb, backend, top_k=top_k)
    vec = emb.vec.detach().float()
    norms = vec.norm(dim=1).cpu().tolist()
    report: dict[str, Any] = {
        "name": emb.name, "vectors": int(vec.shape[0]), "width": int(vec.shape[1]), "step": emb.step,
        "sd_checkpoint": emb.sd_checkpoint, "sd_checkpoint_name": emb.sd_checkpoint_name,
        "rows": [{"index": i, "norm": round(n, 4)} for i, n in enumerate(norms)],
    }
    if backend is None:
        return report
    if vec.shape[1] != backend.embedding_width:
        raise ValueError(f"{emb.name}: vectors are {vec.shape[1]} wide, the loaded {backend.family} model uses "
                         f"{backend.embedding_width}")
    typical = vocabulary_norms(backend)["median"]
    near = nearest_tokens(backend, vec, top_k) if bool(torch.any(vec != 0)) else [[] for _ in norms]
    warnings: list[str] = []
    for row, n, nn in zip(report["rows"], norms, near):
        row["ratio"] = round(n / typical, 3) if typical > 0 else None
        row["nearest"] = nn if n > 0 else []
    mean_norm = sum(norms) / len(norms)
    mean_ratio = mean_norm / typical if typical > 0 else 0.0
    report.update(typical_token_norm=round(typical, 4), mean_ratio=round(mean_ratio, 3),
                  suggested_scale=round(min(1.0, 1.0 / mean_ratio), 3) if mean_ratio > 0 else 1.0,
                  warnings=warnings)
    if any(n == 0 for n in norms):
        warnings.append("some vectors are all zero (untrained, or created from an empty initialization text)")
    if mean_ratio > STRONG_RATIO:
        warnings.append(f"vectors are {mean_ratio:.1f}× longer than a typical token: the embedding may overpower "
                        f"prompts; try a weakened copy at ×{report['suggested_scale']} or lower its weight")
    return report


class _EncoderView:
    """One SDXL text encoder seen as an SD1 (HF CLIP) or SD2 (open_clip) backend, for the per-encoder report."""

    def __init__(self, enc: Any) -> None:
        from types import SimpleNamespace

        self.family = "sd1" if enc.hf_tokenizer is not None else "sd2"
        self.encoder = SimpleNamespace(tokenizer=enc.hf_tokenizer)
        self.token_table = enc.token_table
        self.embedding_width = enc.width


def inspect_sdxl_embedding(emb: "Embedding", backend: Optional[Any] = None, *, top_k: int = 5) -> dict:
    """The report of an SDXL embedding: the common fields plus ``encoders`` = ``{"clip_l": report, "clip_g":
    report}``, each a full :func:`inspect_embedding` report against that encoder's own vocabulary — CLIP-L and
    bigG vectors live in different spaces, so one norm ratio over both would mean nothing."""
    from dataclasses import replace

    from .embeddings import check_embedding_fits, sdxl_tensors

    if backend is not None:
        check_embedding_fits(emb, backend, emb.name)
    views = {e.key: _EncoderView(e) for e in backend.encoders} if backend is not None else {}
    parts = {}
    for key, vec in sdxl_tensors(emb).items():
        part = replace(emb, vec=vec, split=None)
        view = views.get(key)
        cache = f"_tilab_vocab_norms_{key}"
        if view is not None and hasattr(backend, cache):
            view._tilab_vocab_norms = getattr(backend, cache)
        parts[key] = inspect_embedding(part, view, top_k=top_k)
        if view is not None:
            setattr(backend, cache, view._tilab_vocab_norms)
    return {"name": emb.name, "vectors": emb.vectors, "width": emb.width, "step": emb.step,
            "sd_checkpoint": emb.sd_checkpoint, "sd_checkpoint_name": emb.sd_checkpoint_name,
            "encoders": parts, "warnings": [f"{k}: {w}" for k, r in parts.items() for w in r.get("warnings", [])]}


def format_report(report: dict) -> str:
    """The report as text lines for the command line (SDXL: one section per text encoder)."""
    if "encoders" in report:
        head = (f"{report['name']}: SDXL, {report['vectors']} vector(s) per encoder, step {report['step']}, "
                f"checkpoint {report.get('sd_checkpoint_name') or '?'} [{report.get('sd_checkpoint') or '?'}]")
        sections = []
        for key, part in report["encoders"].items():
            body = format_report({**part, "warnings": []}).splitlines()
            sections.append(f"{key} ({part['width']} wide):")
            sections += ["  " + line for line in body[1:]]
        return "\n".join([head] + sections + [f"warning: {w}" for w in report.get("warnings", [])])
    lines = [f"{report['name']}: {report['vectors']} vector(s) × {report['width']}, step {report['step']}, "
             f"checkpoint {report.get('sd_checkpoint_name') or '?'} [{report.get('sd_checkpoint') or '?'}]"]
    if "typical_token_norm" in report:
        lines.append(f"typical token norm {report['typical_token_norm']}, mean ratio ×{report['mean_ratio']}, "
                     f"suggested scale ×{report['suggested_scale']}")
    for row in report["rows"]:
        text = f"  #{row['index']}: norm {row['norm']}"
        if row.get("ratio") is not None:
            text += f" (×{row['ratio']})"
        if row.get("nearest"):
            text += "  nearest: " + ", ".join(f"{t['token']} {t['cosine']:.2f}" for t in row["nearest"])
        lines.append(text)
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)
