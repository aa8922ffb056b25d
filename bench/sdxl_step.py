"""SDXL training step: TI Lab's loop step vs a bare SDXL step, side by side in one run; step time and peak memory.

Reference step = what any SDXL TI step must do and nothing else: CLIP-L (hidden layer -2) and OpenCLIP-bigG
(penultimate + pooled) forward with the vectors put into both token-embedding outputs, UNet forward with the size
conditioning, MSE, backward to the vectors, AdamW. Our step is a real :class:`Trainer` run (dataset sampling,
host-identical chunking and emphasis per encoder, schedule, logging) with checkpoints/previews/eval off.

On a GPU: SDXL-shaped random weights (the shipped SDXL base configs, ~3.5 B parameters) at 1024 and 512 px,
batch 1 and 4, in the precision "auto" picks. On CPU: a tiny SDXL-shaped model (the tests' kit) at 64 px.

    python bench/sdxl_step.py [--device cuda] [--steps 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "training"))
sys.path.insert(0, str(REPO / "bench"))


def reference_steps(backend, x0s, n_vec: int, steps: int, plan) -> list[float]:
    import torch
    import torch.nn.functional as F

    from lib_ti.model.precision import autocast_for

    dev = backend.device
    model = backend.model
    vec = torch.zeros(n_vec, backend.embedding_width, device=dev, requires_grad=True)
    opt = torch.optim.AdamW([vec], lr=1e-3, weight_decay=0.0)
    tk = model.tokenizer
    ids = tk(["a photo of benchtok"] * x0s.shape[0], padding="max_length", max_length=77,
             return_tensors="pt").input_ids.to(dev)
    g_ids = ids.clone()
    g_ids[ids == tk.eos_token_id] = 0
    g_ids[torch.arange(ids.shape[0]), (ids == tk.eos_token_id).int().argmax(1)] = tk.eos_token_id
    pos, wl = 4, backend.embedding_split[0]
    l_mod = model.clip_l.text_model.embeddings.token_embedding
    g_mod = model.clip_g.token_embedding
    acp = backend.alphas_cumprod.to(dev)
    h, w = x0s.shape[-2] * 8, x0s.shape[-1] * 8
    sizes = torch.tensor([[h, w, 0, 0, h, w]] * x0s.shape[0], dtype=torch.float32, device=dev)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        noise = torch.randn(x0s.shape, generator=gen).to(dev)
        t = torch.randint(0, 1000, (x0s.shape[0],), generator=gen).to(dev)
        a = acp[t].view(-1, 1, 1, 1)
        x_noisy = a.sqrt() * x0s + (1 - a).sqrt() * noise

        def hook(cols):
            return lambda _m, _i, out: torch.cat([out[:, :pos], vec[:, cols].to(out.dtype).expand(out.shape[0], -1, -1),
                                                  out[:, pos + n_vec:]], 1)

        hs = [l_mod.register_forward_hook(hook(slice(0, wl))), g_mod.register_forward_hook(hook(slice(wl, None)))]
        with autocast_for(dev, plan):
            zl = model.clip_l(input_ids=ids, output_hidden_states=True).hidden_states[-2]
            m = model.clip_g
            x = (m.token_embedding(g_ids) + m.positional_embedding).permute(1, 0, 2)
            for i, blk in enumerate(m.transformer.resblocks):
                if i == len(m.transformer.resblocks) - 1:
                    zg = x.permute(1, 0, 2)
                x = blk(x, attn_mask=m.attn_mask)
            pooled = m.ln_final(x.permute(1, 0, 2))[torch.arange(ids.shape[0]), g_ids.argmax(-1)] @ m.text_projection
            out = model.denoise(x_noisy, t, torch.cat([zl, zg.to(zl.dtype)], 2), pooled, sizes)
        for hd in hs:
            hd.remove()
        F.mse_loss(out.float(), noise).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def bench(label: str, backend, device, res: int, batch: int, steps: int, rounds: int) -> None:
    import torch

    from conftest import write_images
    from lib_ti.training.dataset import load_pixels
    from train_step import our_steps, peak_memory

    plan = backend.precision("auto")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_images(tmp / "data", n=max(4, batch * 2), size=(res + 16, res))
        with torch.no_grad():
            px = torch.stack([load_pixels(p, res, res) for p in sorted(data.glob("*.png"))[:batch]]).to(device)
            x0s = backend.latent_from_dist(backend.encode_images(px), "deterministic").float()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        ref, ours = [], []
        for r in range(rounds):
            ref += reference_steps(backend, x0s, 4, steps + 1, plan)[1:]
            t, _calls = our_steps(backend, data, tmp / f"r{r}", res, batch, 4, steps + 1)
            ours += t[1:]
    ref_ms, our_ms = statistics.median(ref) * 1000, statistics.median(ours) * 1000
    print(f"{label:<28} {res:>4}px b{batch}  bare {ref_ms:9.1f} ms/step   TI Lab {our_ms:9.1f} ms/step   "
          f"ratio {our_ms / ref_ms:5.3f}x   peak {peak_memory(device)}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch

    from lib_ti.model.sdxl import SDXLBackend

    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {args.rounds} rounds x {args.steps} steps, medians", flush=True)
    if device.type != "cuda":
        from sdkit import build_tiny_sdxl

        with tempfile.TemporaryDirectory() as work:
            backend = SDXLBackend(build_tiny_sdxl(workdir=Path(work)))
            bench("tiny SDXL-shaped", backend, device, 64, 2, args.steps, args.rounds)
        return 0
    from lib_ti.model.precision import decide_precision
    from lib_ti.model.sdxl_loader import build_sdxl

    model = build_sdxl(init_weights=False)  # SDXL base shapes; random weights drawn on the GPU below
    dtype = decide_precision("auto", device).weights
    model.to(device)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    for part in (model.model, model.clip_l, model.clip_g):
        part.to(dtype)
    backend = SDXLBackend(model)
    print(f"SDXL-shaped: {sum(p.numel() for p in model.model.parameters()) / 1e9:.2f} B UNet parameters, "
          f"weights {dtype}", flush=True)
    for res in (1024, 512):
        for batch in (1, 4):
            try:
                bench("SDXL-shaped random", backend, device, res, batch, args.steps, args.rounds)
            except torch.cuda.OutOfMemoryError:
                print(f"SDXL-shaped random {res:>4}px b{batch}  out of memory", flush=True)
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
