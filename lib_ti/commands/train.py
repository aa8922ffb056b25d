"""``python -m lib_ti train``: train an embedding on a checkpoint file, with a tqdm bar.

The first Ctrl+C stops after the current step, saves the embedding and a resume checkpoint;
``--resume RUN_DIR/checkpoints/<name>-<step>.state.pt`` continues exactly from there.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a Textual Inversion embedding on a checkpoint",
        description="Train a Textual Inversion embedding (only the vectors are trained) on an SD1/SD2 checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--ckpt", required=True, type=Path, help="model checkpoint (.ckpt or .safetensors)")
    p.add_argument("--config", type=Path, default=None, help="ldm inference yaml (detected when omitted)")
    p.add_argument("--data", required=True, type=Path, help="folder of images with optional .txt captions")
    p.add_argument("--name", required=True, help="embedding name (the word you will type in prompts)")
    p.add_argument("--out", type=Path, default=None, help="run folder for checkpoints, logs and previews "
                   "(default: ./ti-lab-runs/<name>)")
    p.add_argument("--embeddings-dir", type=Path, default=None, help="where <name>.pt goes (default: <out>)")
    p.add_argument("--template", default="subject_filewords", help="template name or .txt path")
    p.add_argument("--lr", default="0.005", help="learning rate or schedule string, e.g. 5e-3:200,1e-3")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--vectors", type=int, default=1, help="vectors per token (new embedding)")
    p.add_argument("--init-text", default="*", help="initialisation text (empty: zero vectors)")
    p.add_argument("--init-embedding", type=Path, default=None, help="continue an existing embedding file")
    p.add_argument("--resume", type=Path, default=None, help="exact resume from a .state.pt checkpoint")
    p.add_argument("--latents", choices=("once", "deterministic", "random"), default="once")
    p.add_argument("--shuffle-tags", action="store_true")
    p.add_argument("--tag-dropout", type=float, default=0.0)
    p.add_argument("--flip", type=float, default=0.0, help="horizontal flip probability")
    p.add_argument("--clip-grad", choices=("disabled", "value", "norm"), default="disabled")
    p.add_argument("--clip-value", default="0.1", help="clip value (schedule string allowed)")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--preview-every", type=int, default=500)
    p.add_argument("--preview-prompt", action="append", default=None,
                   help="preview prompt, may repeat (default: 'a photo of [name]')")
    p.add_argument("--preview-sampler", choices=("Euler a", "DPM++ 2M Karras"), default="Euler a")
    p.add_argument("--preview-steps", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--low-memory", action="store_true")
    p.add_argument("--device", default=None, help="cuda, cpu, … (default: cuda when available)")
    p.set_defaults(func=handler)


def handler(args) -> int:
    import sys

    from ..core.jobs import cli_job
    from ..core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch

    from ..model.backend import SDBackend
    from ..model.loader import load_ldm
    from ..training.config import TrainConfig
    from ..training.loop import Trainer, TrainingError

    out = args.out or Path("ti-lab-runs") / args.name
    cfg = TrainConfig(
        name=args.name, data_dir=args.data, run_dir=out, embeddings_dir=args.embeddings_dir or out,
        template=args.template, learn_rate=args.lr, steps=args.steps, batch_size=args.batch_size,
        grad_accum=args.grad_accum, width=args.width, height=args.height, latent_method=args.latents,
        shuffle_tags=args.shuffle_tags, tag_dropout=args.tag_dropout, flip_p=args.flip,
        clip_grad_mode=args.clip_grad, clip_grad_value=args.clip_value, num_vectors=args.vectors,
        init_text=args.init_text, init_embedding=args.init_embedding, resume=args.resume,
        save_every=args.save_every, preview_every=args.preview_every,
        preview_prompts=tuple(args.preview_prompt or ("a photo of [name]",)),
        preview_sampler=args.preview_sampler, preview_steps=args.preview_steps, seed=args.seed,
        precision=args.precision, gradient_checkpointing=args.gradient_checkpointing, low_memory=args.low_memory,
    )
    try:
        cfg.validate()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") and args.precision in ("auto", "fp16") else torch.float32
    try:
        model = load_ldm(args.ckpt, args.config, device=device, dtype=dtype)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    backend = SDBackend(model)
    job = cli_job()

    def on_event(kind, data):
        if kind == "status":
            print(data, file=sys.stderr)
        elif kind == "checkpoint":
            job.sink.update(job.done, job.total, f"saved {Path(data).name}")

    trainer = Trainer(backend, cfg, job=job, on_event=on_event)
    try:
        result = trainer.run()
    except (ValueError, TrainingError, InterruptedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.message)
    return {"finished": 0, "interrupted": 130, "nan": 3, "oom": 4}.get(result.status, 1)
