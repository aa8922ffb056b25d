"""Does TI Lab's training learn, and do the lessons it teaches hold? Measured on the bundled demo model.

The demo model (``lib_ti/demo``) never saw a red triangle. Each run trains an embedding ``glim`` on pictures of the
concept (``--concept``, default red triangles) with TI Lab's real :class:`~lib_ti.training.loop.Trainer`, then
samples with TI Lab's sampler and reads the pictures back with the world's classifier
(:mod:`lib_ti.demo.classifier`). A pair the model has seen (``--concept yellow,square``) is the control: the model
can draw it, so it shows what the training and the lessons do when the concept is within the model's reach.
Printed, one row per figure:

- concept recovery vs steps with TI Lab's defaults (``a photo of glim`` and ``a photo of glim on a <bg> background``);
- falling schedule ``5e-2:100,5e-3:500,...`` vs constant 5e-3; 1 vs 4 vectors (at each rate);
- a set that shares one background (white) or one zoom (small) vs a varied set: how much of the shared attribute
  leaks into pictures that ask for something else;
- whether TI Lab's Dataset check flags the sets that leak;
- the concept's share of the pictures as the bracket weight ``(glim:w)`` and the weakened copy ×k fall.

The leak, Dataset-check and weight rows use 4 vectors at the default (constant) rate, so they compare training sets
and weights, not schedules.

Runs train without captions (template ``subject``: ``a photo of glim``), the situation the data lessons are about.
Every sample uses seeds ``1..N``; every run seed 0. One thread by default (a loaded 2-core machine).

    python bench/learning.py [--concept red,triangle] [--steps 300] [--samples 16] [--ckpt FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lib_ti.demo import DEMO_SIZE, classifier, default_checkpoint, evaluate, examples, world  # noqa: E402

TOKEN = "glim"
FALLING = "5e-2:100,5e-3:500,5e-4:1000,5e-5:1500,5e-6"
OTHER_BGS = [b for b in world.BACKGROUNDS if b != "white"]


def train(backend: Any, data: Path, work: Path, *, steps: int, record: tuple[int, ...] = (), **overrides: Any):
    """Train ``glim`` on ``data``; returns {step: vectors} for ``record`` steps plus the last, and seconds per step."""
    from lib_ti.training.config import TrainConfig
    from lib_ti.training.loop import Trainer

    kw = dict(name=TOKEN, data_dir=data, run_dir=work / "run", embeddings_dir=work / "emb", template="subject",
              steps=steps, width=DEMO_SIZE, height=DEMO_SIZE, save_every=0, preview_every=0, eval_every=0, seed=0)
    kw.update(overrides)
    snaps: dict[int, Any] = {}
    holder: dict[str, Any] = {}

    def on_event(kind: str, info: Any) -> None:
        if kind == "step" and info.step in record:
            snaps[info.step] = holder["t"].vec.detach().clone()

    trainer = Trainer(backend, TrainConfig(**kw), on_event=on_event)
    holder["t"] = trainer
    t0 = time.perf_counter()
    result = trainer.run()
    if result.status != "finished":
        raise RuntimeError(f"training stopped: {result.status}: {result.message}")
    snaps[result.step] = trainer.vec.detach().clone()
    return snaps, (time.perf_counter() - t0) / steps


def initial_vectors(backend: Any, n: int = 1) -> Any:
    """What a new embedding starts from (TI Lab's default init text), i.e. the untrained embedding."""
    from lib_ti.training.config import defaults

    return backend.init_token_embeddings(defaults()["init_text"], n)


class Scorer:
    def __init__(self, backend: Any, samples: int, concept: tuple[str, str]) -> None:
        self.backend, self.n = backend, samples
        self.wanted = dict(colour=concept[0], shape=concept[1])

    def images(self, prompt_for: Any, vec: Optional[Any]) -> list:
        """``n`` pictures; ``prompt_for(i)`` gives the i-th prompt (contexts rotate through the samples)."""
        emb = {TOKEN: vec} if vec is not None else None
        return evaluate.sample(self.backend, [prompt_for(i) for i in range(self.n)], seed=1, embeddings=emb)

    def concept(self, vec: Any, prompt: str = f"a photo of {TOKEN}") -> float:
        return classifier.score(self.images(lambda i: prompt, vec), self.wanted)

    def in_context(self, vec: Any) -> float:
        """Concept *and* the asked-for background, over all four backgrounds."""
        bgs = list(world.BACKGROUNDS)
        prompts = [f"a photo of {TOKEN} on a {bgs[i % len(bgs)]} background" for i in range(self.n)]
        imgs = self.images(lambda i: prompts[i], vec)
        return sum(classifier.read(im).matches(dict(self.wanted, background=bgs[i % len(bgs)]))
                   for i, im in enumerate(imgs)) / len(imgs)

    def background_leak(self, vec: Any) -> float:
        """Share of white backgrounds in pictures asking for another background."""
        imgs = self.images(lambda i: f"a photo of {TOKEN} on a {OTHER_BGS[i % len(OTHER_BGS)]} background", vec)
        return classifier.share(imgs, "background", "white")

    def zoom_leak(self, vec: Any) -> float:
        """Share of small objects in pictures asking for a large one."""
        return classifier.share(self.images(lambda i: f"a photo of a large {TOKEN}", vec), "size", "small")


def dataset_flags(folder: Path) -> str:
    """The background/zoom findings of TI Lab's Dataset check on ``folder``: warnings and notes (ids)."""
    from lib_ti.dataset.pipeline import check_folder

    report = check_folder(folder, size=DEMO_SIZE, processes=False).report
    found = [f for f in report["findings"] if f["check"] in ("background", "zoom")]
    parts = [f"{sev}: " + ", ".join(sorted({f["id"] for f in found if f["severity"] == sev}))
             for sev in ("warning", "note") if any(f["severity"] == sev for f in found)]
    return "; ".join(parts) or "none"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", type=Path, default=None, help="default: the bundled demo model")
    p.add_argument("--steps", type=int, default=300, help="steps of every run (default 300)")
    p.add_argument("--samples", type=int, default=16, help="pictures per figure (default 16)")
    p.add_argument("--images", type=int, default=16, help="images per training set (default 16)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--concept", default=",".join(world.HELD_BACK),
                   help="colour,shape to teach as glim (default: the held-back red,triangle the base model never saw; "
                        "a seen pair such as yellow,square is the control: a concept the model can draw)")
    args = p.parse_args(argv)
    concept = tuple(args.concept.split(","))
    if len(concept) != 2 or concept[0] not in world.COLOURS or concept[1] not in world.SHAPES:
        p.error(f"--concept {args.concept!r}: give colour,shape from {', '.join(world.COLOURS)} and "
                f"{', '.join(world.SHAPES)}")

    import torch

    from lib_ti.model.backend import SDBackend
    from lib_ti.model.embeddings import Embedding, scale_embedding
    from lib_ti.model.loader import load_ldm
    from lib_ti.training.config import defaults

    torch.set_num_threads(args.threads)
    ckpt = args.ckpt or default_checkpoint()
    if ckpt is None:
        sys.exit("no checkpoint: the bundled demo model is missing; give --ckpt")
    backend = SDBackend(load_ldm(ckpt))
    sc = Scorer(backend, args.samples, concept)
    rows: list[tuple[str, str, str]] = []
    t_start = time.perf_counter()

    def row(what: str, figure: str, note: str = "") -> None:
        rows.append((what, figure, note))
        print(f"  {what:<58} {figure:>12}  {note}  [{time.perf_counter() - t_start:.0f}s]", flush=True)

    with tempfile.TemporaryDirectory(prefix="tilab-learning-") as tmp:
        tmp = Path(tmp)
        scenes = lambda **kw: examples.concept_scenes(concept=concept, **kw)  # noqa: E731
        varied = examples.write_set(tmp / "varied", scenes(), args.images, seed=0, captions=False)
        white = examples.write_set(tmp / "white", scenes(backgrounds=["white"]), args.images, seed=0, captions=False)
        small = examples.write_set(tmp / "small", scenes(sizes=["small"]), args.images, seed=0, captions=False)

        print(f"model {ckpt.name}; concept {concept[0]} {concept[1]}s; runs of {args.steps} steps; "
              f"{args.samples} pictures per figure", flush=True)
        base_prompt = world.describe(concept[1], colour=concept[0])
        seen = "never seen" if concept == world.HELD_BACK else "seen in training"
        row(f"base model, '{base_prompt}' (named, {seen})",
            f"{classifier.score(sc.images(lambda i: base_prompt, None), sc.wanted):.2f}", "concept score")
        v0 = initial_vectors(backend)
        row("untrained embedding (init '*'): a photo of glim", f"{sc.concept(v0):.2f}", "concept score")

        marks = tuple(sorted({max(1, args.steps // 6), args.steps // 3, (2 * args.steps) // 3}))
        snaps, sec = train(backend, varied, tmp / "defaults", steps=args.steps, record=marks)
        d = defaults()
        for step, vec in sorted(snaps.items()):
            row(f"defaults (lr {d['learn_rate']}, {d['num_vectors']} vector), step {step}: a photo of glim",
                f"{sc.concept(vec):.2f}", f"concept score; {sec * 1000:.0f} ms/step" if step == args.steps
                else "concept score")
        v_def = snaps[args.steps]
        row(f"defaults, step {args.steps}: glim on each background", f"{sc.in_context(v_def):.2f}",
            "concept + asked background")

        fall, _ = train(backend, varied, tmp / "falling", steps=args.steps, learn_rate=FALLING)
        v_fall = fall[args.steps]
        row(f"falling schedule, step {args.steps}: a photo of glim", f"{sc.concept(v_fall):.2f}",
            "vs the defaults' constant rate above")
        row(f"falling schedule, step {args.steps}: glim on each background", f"{sc.in_context(v_fall):.2f}",
            "concept + asked background")

        four, _ = train(backend, varied, tmp / "four", steps=args.steps, num_vectors=4)
        v4 = four[args.steps]
        row(f"4 vectors (lr {d['learn_rate']}): a photo of glim", f"{sc.concept(v4):.2f}",
            "vs 1 vector (the defaults) above")
        row(f"4 vectors (lr {d['learn_rate']}): glim on each background", f"{sc.in_context(v4):.2f}",
            "concept + asked background")
        four_fall, _ = train(backend, varied, tmp / "four-falling", steps=args.steps, learn_rate=FALLING, num_vectors=4)
        v4f = four_fall[args.steps]
        row("4 vectors (falling): a photo of glim", f"{sc.concept(v4f):.2f}", "vs 1 vector (falling) above")
        row("4 vectors (falling): glim on each background", f"{sc.in_context(v4f):.2f}", "concept + asked background")

        # the data lessons and the weights: 4 vectors at the default rate (compares sets and weights, not schedules)
        wv, _ = train(backend, white, tmp / "white", steps=args.steps, num_vectors=4)
        row("background leak, varied set (white when asked for another)", f"{sc.background_leak(v4):.2f}",
            "share of white backgrounds")
        row("background leak, all-white set", f"{sc.background_leak(wv[args.steps]):.2f}", "share of white backgrounds")
        zv, _ = train(backend, small, tmp / "small", steps=args.steps, num_vectors=4)
        row("zoom leak, varied set (small when asked for large)", f"{sc.zoom_leak(v4):.2f}",
            "share of small objects")
        row("zoom leak, all-small set", f"{sc.zoom_leak(zv[args.steps]):.2f}", "share of small objects")

        for name, folder in (("varied", varied), ("all-white", white), ("all-small", small)):
            row(f"Dataset check, {name} set", "", dataset_flags(folder))

        for w in (1.0, 0.75, 0.5, 0.25, 0.0):
            row(f"bracket weight (glim:{w:g})", f"{sc.concept(v4, f'a photo of ({TOKEN}:{w:g})'):.2f}",
                "concept share")
        # what weight 0 leaves: the later positions (end token, padding) have read the vectors; zeroed, nothing does
        row("zeroed vectors: a photo of glim", f"{sc.concept(v4 * 0):.2f}", "concept share")
        emb = Embedding(name=TOKEN, vec=v4)
        for k in (0.75, 0.5, 0.25):
            row(f"weakened copy x{k:g}", f"{sc.concept(scale_embedding(emb, k).vec):.2f}", "concept share")

    print("\n| measurement | figure | note |\n|---|---|---|")
    for what, fig, note in rows:
        print(f"| {what} | {fig} | {note} |")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
