"""Every knob of a training run, as explicit arguments (like diffusers' training examples).

One :class:`TrainConfig` drives the CLI, the Train tab and the tests, so the three
cannot drift apart. Defaults follow the host's Train tab where the host has one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

LATENT_METHODS = ("once", "deterministic", "random")
CLIP_MODES = ("disabled", "value", "norm")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
SAMPLERS = ("Euler a", "DPM++ 2M Karras")


@dataclass
class TrainConfig:
    """A training run. Paths are already checked by the caller (``ctx.guard`` in the UI)."""

    name: str
    data_dir: Path
    run_dir: Path
    #: where the final ``<name>.pt`` goes (the host's embeddings folder inside the host)
    embeddings_dir: Path
    template: str = "subject_filewords"
    learn_rate: str = "0.005"
    steps: int = 1000
    batch_size: int = 1
    grad_accum: int = 1
    width: int = 512
    height: int = 512
    latent_method: str = "once"
    shuffle_tags: bool = False
    tag_dropout: float = 0.0
    flip_p: float = 0.0
    clip_grad_mode: str = "disabled"
    #: also a schedule string, as in the host
    clip_grad_value: str = "0.1"
    #: new embedding: vectors per token and init text (ignored when resuming or continuing a file)
    num_vectors: int = 1
    init_text: str = "*"
    #: continue from an existing embedding file (host semantics: its ``step`` is the start step)
    init_embedding: Optional[Path] = None
    #: exact resume from a ``*.state.pt`` checkpoint
    resume: Optional[Path] = None
    save_every: int = 500
    preview_every: int = 500
    preview_prompts: tuple[str, ...] = ("a photo of [name]",)
    preview_negative: str = ""
    preview_sampler: str = "Euler a"
    preview_steps: int = 20
    preview_cfg: float = 7.0
    preview_seed: int = 1
    #: 0 = training size
    preview_width: int = 0
    preview_height: int = 0
    log_every: int = 1
    #: loss on a fixed batch (fixed images, timesteps and noise) every N steps; 0 = never
    eval_every: int = 50
    eval_size: int = 4
    seed: int = 0
    precision: str = "auto"
    sdpa: bool = True
    gradient_checkpointing: bool = False
    low_memory: bool = False
    clip_skip: int = 1
    emphasis: str = "Original"
    #: filename caption rules (the host's ``dataset_filename_word_regex`` / ``..._join_string``)
    filename_word_regex: str = ""
    filename_join: str = " "

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.run_dir = Path(self.run_dir)
        self.embeddings_dir = Path(self.embeddings_dir)
        if self.init_embedding is not None:
            self.init_embedding = Path(self.init_embedding)
        if self.resume is not None:
            self.resume = Path(self.resume)
        self.preview_prompts = tuple(self.preview_prompts)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field (the host's asserts, as messages)."""
        from ..schedule.parse import ScheduleError, parse_schedule

        if not self.name or not self.name.strip():
            raise ValueError("Embedding name is empty.")
        checks = [
            (self.steps > 0, f"Max steps must be positive (got {self.steps})."),
            (self.batch_size > 0, f"Batch size must be positive (got {self.batch_size})."),
            (self.grad_accum > 0, f"Gradient accumulation steps must be positive (got {self.grad_accum})."),
            (self.width >= 64 and self.width % 8 == 0,
             f"Width must be a multiple of 8, at least 64 (got {self.width})."),
            (self.height >= 64 and self.height % 8 == 0,
             f"Height must be a multiple of 8, at least 64 (got {self.height})."),
            (self.latent_method in LATENT_METHODS, f"Latent sampling method must be one of {LATENT_METHODS}."),
            (self.clip_grad_mode in CLIP_MODES, f"Gradient clipping must be one of {CLIP_MODES}."),
            (0.0 <= self.tag_dropout <= 1.0, f"Tag dropout must be between 0 and 1 (got {self.tag_dropout})."),
            (0.0 <= self.flip_p <= 1.0, f"Flip probability must be between 0 and 1 (got {self.flip_p})."),
            (self.save_every >= 0, "Save every N steps must be 0 or positive."),
            (self.preview_every >= 0, "Preview every N steps must be 0 or positive."),
            (self.precision in PRECISIONS, f"Precision must be one of {PRECISIONS}."),
            (self.preview_sampler in SAMPLERS, f"Preview sampler must be one of {SAMPLERS}."),
            (1 <= self.num_vectors <= 75, f"Vectors per token must be 1..75 (got {self.num_vectors})."),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        try:
            parse_schedule(self.learn_rate, self.steps)
        except ScheduleError as exc:
            raise ValueError(f"Learning rate: {exc}") from None
        if self.clip_grad_mode != "disabled":
            try:
                parse_schedule(self.clip_grad_value, self.steps)
            except ScheduleError as exc:
                raise ValueError(f"Gradient clip value: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (paths as strings) for ``settings.json`` beside the run."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
        return out
