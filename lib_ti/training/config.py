"""Every knob of a training run, with its help text, default, choices and UI hints in one place.

Each field of :class:`TrainConfig` carries a :class:`Spec` in its metadata. The ``train`` command
(:mod:`lib_ti.commands.train`) builds its argparse options from the specs, the Train tab builds its
inputs from them, and the exact-resume check reads their ``resume`` marks, so a default, a choice
list or a help text is written once. A field without a spec fails at import (:func:`specs`), so a
new setting cannot silently escape the CLI, the UI or the resume check.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..model.backend import LATENT_METHODS
from ..model.precision import PRECISIONS
from ..model.sampling import DEFAULT_SAMPLER, SAMPLERS

CLIP_MODES = ("disabled", "value", "norm")

#: ``Spec.resume`` values: the setting must match the checkpoint's run / may only grow / is free.
MUST_MATCH, MAY_GROW, FREE = "match", "grow", "free"


@dataclass(frozen=True)
class Spec:
    """What the CLI, the UI and the resume check need to know about one setting.

    Attributes:
        help: one sentence, shown by ``--help`` and as the UI's info line.
        label: the UI label (and the CLI's metavar source); defaults to the field name.
        choices: allowed values (a radio/dropdown in the UI, ``choices=`` in argparse).
        widget: UI hint: "text", "lines", "number", "slider", "radio", "dropdown", "checkbox"; None = no UI input.
        group: where the UI puts it: "main", "more", "preview"; None = not in the UI.
        cli: the option name (``--lr``); None = not a CLI option; "" = derived from the field name.
        required: a required CLI option (listed in its own group).
        resume: MUST_MATCH when a change breaks an exact resume (random streams, batches, targets), MAY_GROW when
            it may only increase, FREE otherwise.
        minimum, maximum, step: numeric bounds for sliders and checks.
    """

    help: str
    label: str = ""
    choices: Optional[tuple] = None
    widget: Optional[str] = None
    group: Optional[str] = None
    cli: Optional[str] = ""
    required: bool = False
    resume: str = FREE
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[float] = None


def setting(default: Any = dataclasses.MISSING, help: str = "", **spec: Any) -> Any:  # noqa: A002 - argparse's word
    """A dataclass field whose metadata is its :class:`Spec` (mutable defaults through a factory)."""
    meta = {"spec": Spec(help=help, **spec)}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """A training run. Paths are already checked by the caller (``ctx.guard`` in the UI)."""

    name: str = setting(help="embedding name: the word you will type in prompts", label="Embedding name",
                        required=True, resume=MUST_MATCH)
    data_dir: Path = setting(help="folder of images with optional .txt captions", label="Dataset folder",
                             cli="--data", required=True, resume=MUST_MATCH)
    run_dir: Path = setting(help="run folder for checkpoints, logs and previews "
                                 "(default: <data folder>/training/<name>/<timestamp>)", cli="--out")
    embeddings_dir: Path = setting(help="where the final <name>.pt goes (default: <data folder>/embeddings)")
    template: str = setting("subject_filewords", "prompt template: a shipped name or a .txt file",
                            label="Prompt template", widget="dropdown", group="main", resume=MUST_MATCH)
    learn_rate: str = setting("0.005", "learning rate or host schedule string, e.g. 5e-3:200,1e-3",
                              label="Learning rate (schedule string)", widget="text", group="main", cli="--lr",
                              resume=MUST_MATCH)
    steps: int = setting(500, "max steps (an exact resume may raise it)", label="Max steps", widget="number",
                         group="main", minimum=1, resume=MAY_GROW)
    batch_size: int = setting(1, "images per micro-batch", label="Batch size", widget="number", group="main",
                              minimum=1, resume=MUST_MATCH)
    grad_accum: int = setting(1, "micro-batches per update", label="Gradient accumulation", widget="number",
                              group="main", minimum=1, resume=MUST_MATCH)
    width: int = setting(512, "training width in pixels (multiple of 8)", label="Width", widget="slider",
                         group="main", minimum=64, maximum=1024, step=64, resume=MUST_MATCH)
    height: int = setting(512, "training height in pixels (multiple of 8)", label="Height", widget="slider",
                          group="main", minimum=64, maximum=1024, step=64, resume=MUST_MATCH)
    latent_method: str = setting("once", "latent sampling: once per run, the mean, or a fresh draw per step",
                                 label="Latent sampling", choices=LATENT_METHODS, widget="radio", group="main",
                                 cli="--latents", resume=MUST_MATCH)
    shuffle_tags: bool = setting(False, "shuffle the comma-separated tags of each caption",
                                 label="Shuffle tags", widget="checkbox", group="more", resume=MUST_MATCH)
    tag_dropout: float = setting(0.0, "probability of dropping each tag", label="Tag dropout", widget="slider",
                                 group="more", minimum=0.0, maximum=1.0, step=0.05, resume=MUST_MATCH)
    flip_p: float = setting(0.0, "horizontal flip probability", label="Horizontal flip probability",
                            widget="slider", group="more", minimum=0.0, maximum=1.0, step=0.05, cli="--flip",
                            resume=MUST_MATCH)
    clip_grad_mode: str = setting("disabled", "gradient clipping", label="Gradient clipping", choices=CLIP_MODES,
                                  widget="radio", group="more", cli="--clip-grad", resume=MUST_MATCH)
    clip_grad_value: str = setting("0.1", "clip value (a schedule string is allowed)",
                                   label="Clip value (schedule string)", widget="text", group="more",
                                   cli="--clip-value", resume=MUST_MATCH)
    num_vectors: int = setting(1, "vectors per token of a new embedding", label="Vectors per token (new embedding)",
                               widget="number", group="more", minimum=1, maximum=75, cli="--vectors")
    init_text: str = setting("*", "initialisation text of a new embedding (empty: zero vectors)",
                             label="Init text (new embedding)", widget="text", group="more")
    init_embedding: Optional[Path] = setting(None, "continue an existing embedding file from its step")
    resume: Optional[Path] = setting(None, "exact resume from a .state.pt checkpoint")
    save_every: int = setting(500, "save an embedding copy and a resume checkpoint every N steps (0 = only at the end)",
                              label="Save every N steps", widget="number", group="main", minimum=0)
    preview_every: int = setting(500, "preview images every N steps (0 = never)", label="Preview every N steps",
                                 widget="number", group="main", minimum=0)
    preview_prompts: tuple = setting(("a photo of [name]",), "preview prompt; [name] is the embedding (repeatable)",
                                     label="Preview prompts (one per line)", widget="lines", group="preview",
                                     cli="--preview-prompt")
    preview_negative: str = setting("", "negative prompt of the previews", label="Preview negative prompt",
                                    widget="text", group="preview")
    preview_sampler: str = setting(DEFAULT_SAMPLER, "preview sampler", label="Preview sampler", choices=SAMPLERS,
                                   widget="dropdown", group="preview")
    preview_steps: int = setting(20, "sampling steps of a preview", label="Preview sampling steps", widget="number",
                                 group="preview", minimum=1)
    preview_cfg: float = setting(7.0, "CFG scale of the previews", label="Preview CFG scale", widget="number",
                                 group="preview", minimum=1.0)
    preview_seed: int = setting(1, "seed of the previews (fixed, so previews compare across steps)",
                                label="Preview seed", widget="number", group="preview")
    preview_width: int = setting(0, "preview width (0 = training width)")
    preview_height: int = setting(0, "preview height (0 = training height)")
    log_every: int = setting(1, "write a loss row every N steps")
    eval_every: int = setting(50, "loss on a fixed batch (images x timesteps x noise) every N steps; 0 = never",
                              )
    eval_size: int = setting(4, "images in the fixed evaluation batch")
    seed: int = setting(0, "seed of the training run's random streams", label="Training seed", widget="number",
                        group="more", resume=MUST_MATCH)
    precision: str = setting("auto", "precision on a GPU (ignored on CPU)", label="Precision (GPU)",
                             choices=PRECISIONS, widget="radio", group="more")
    sdpa: bool = setting(True, "scaled-dot-product attention on a GPU", cli=None)
    gradient_checkpointing: bool = setting(False, "recompute activations in backward (less memory, slower)",
                                           label="Gradient checkpointing", widget="checkbox", group="more")
    low_memory: bool = setting(False, "keep the VAE off the GPU between previews", label="Low-memory mode",
                               widget="checkbox", group="more")
    clip_skip: int = setting(1, "CLIP skip (inside the host: the host's setting)", minimum=1, maximum=12,
                             resume=MUST_MATCH)
    emphasis: str = setting("Original", "emphasis mode (inside the host: the host's setting)", resume=MUST_MATCH)
    filename_word_regex: str = setting("", "regex picking caption words from file names (the host's setting)",
                                       resume=MUST_MATCH)
    filename_join: str = setting(" ", "string joining those words", resume=MUST_MATCH)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.run_dir = Path(self.run_dir)
        self.embeddings_dir = Path(self.embeddings_dir)
        if self.init_embedding is not None:
            self.init_embedding = Path(self.init_embedding)
        if self.resume is not None:
            self.resume = Path(self.resume)
        self.preview_prompts = tuple(self.preview_prompts)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """A config from a name → value mapping (UI values, parsed CLI options), coerced to each field's type.

        Unknown keys raise ``KeyError``: a typo must not silently fall back to a default.
        """
        known = specs(cls)
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise KeyError(f"Unknown training settings: {', '.join(unknown)}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in values:
                kwargs[f.name] = coerce(f, values[f.name])
        return cls(**kwargs)

    def problems(self) -> list[str]:
        """Every bad field, one sentence each (the host's asserts, as messages); empty when all is well."""
        from ..schedule.parse import ScheduleError, parse_schedule

        out = []
        if not self.name or not self.name.strip():
            out.append("Embedding name is empty.")
        checks = [
            (self.steps > 0, f"Max steps must be positive (got {self.steps})."),
            (self.batch_size > 0, f"Batch size must be positive (got {self.batch_size})."),
            (self.grad_accum > 0, f"Gradient accumulation steps must be positive (got {self.grad_accum})."),
            (self.width >= 64 and self.width % 8 == 0,
             f"Width must be a multiple of 8, at least 64 (got {self.width})."),
            (self.height >= 64 and self.height % 8 == 0,
             f"Height must be a multiple of 8, at least 64 (got {self.height})."),
            (0.0 <= self.tag_dropout <= 1.0, f"Tag dropout must be between 0 and 1 (got {self.tag_dropout})."),
            (0.0 <= self.flip_p <= 1.0, f"Flip probability must be between 0 and 1 (got {self.flip_p})."),
            (self.save_every >= 0, "Save every N steps must be 0 or positive."),
            (self.preview_every >= 0, "Preview every N steps must be 0 or positive."),
            (1 <= self.num_vectors <= 75, f"Vectors per token must be 1..75 (got {self.num_vectors})."),
        ]
        out += [msg for ok, msg in checks if not ok]
        for name, spec in specs(type(self)).items():  # choices come from the specs, never restated here
            if spec.choices is not None and getattr(self, name) not in spec.choices:
                out.append(f"{spec.label or name} must be one of {', '.join(map(str, spec.choices))} "
                           f"(got {getattr(self, name)!r}).")
        if self.steps > 0:
            try:
                parse_schedule(self.learn_rate, self.steps)
            except ScheduleError as exc:
                out.append(f"Learning rate: {exc}")
            if self.clip_grad_mode != "disabled":
                try:
                    parse_schedule(self.clip_grad_value, self.steps)
                except ScheduleError as exc:
                    out.append(f"Gradient clip value: {exc}")
        return out

    def validate(self) -> None:
        """Raise ``ValueError`` listing every bad field."""
        problems = self.problems()
        if problems:
            raise ValueError("\n".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (paths as strings) for ``settings.json`` beside the run."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
        return out


def preview_texts(prompts: Any, name: str) -> list[str]:
    """The preview prompts as sampled and labelled: ``[name]`` filled in, blank lines dropped."""
    return [str(p).replace("[name]", name) for p in prompts if str(p).strip()]


def specs(cls: type = TrainConfig) -> dict[str, Spec]:
    """Field name → :class:`Spec`, in declaration order; ``TypeError`` naming any field that has none."""
    out = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("spec")
        if not isinstance(spec, Spec):
            raise TypeError(f"TrainConfig field '{f.name}' has no Spec metadata: declare it with setting(default, "
                            f"help, ...) so the CLI, the Train tab and the exact-resume check know about it.")
        out[f.name] = spec
    return out


def defaults(cls: type = TrainConfig) -> dict[str, Any]:
    """Field name → default (fields without a default are left out)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


def field_type(f: dataclasses.Field) -> str:
    """The field's annotation as a plain name: "int", "float", "bool", "str", "Path", "tuple"."""
    text = str(f.type).replace("Optional[", "").rstrip("]")
    return text


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """A UI/CLI value as the field's type (gradio numbers arrive as floats; prompts as one text per line)."""
    kind = field_type(f)
    if value is None:
        return None
    if kind == "int":
        if isinstance(value, str) and not value.strip():
            raise ValueError(f"{specs()[f.name].label or f.name} is empty.")
        number = float(value)
        if number != int(number):
            raise ValueError(f"{specs()[f.name].label or f.name} must be a whole number (got {value}).")
        return int(number)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    if kind == "tuple":
        items = value.splitlines() if isinstance(value, str) else list(value)
        return tuple(s.strip() for s in items if str(s).strip())
    if kind == "Path":
        return Path(value) if str(value).strip() else None
    return str(value)


def resume_problems(saved: Mapping[str, Any], current: Mapping[str, Any], cls: type = TrainConfig) -> list[str]:
    """What keeps ``current`` from resuming exactly the run that saved ``saved`` (the specs' ``resume`` marks)."""
    out = []
    for name, spec in specs(cls).items():
        if spec.resume == FREE or name not in saved:
            continue
        before, now = saved[name], current.get(name)
        if spec.resume == MAY_GROW:
            try:
                if float(now) < float(before):
                    out.append(f"{name} was {before!r} in that run, now {now!r} (it may only grow)")
            except (TypeError, ValueError):
                out.append(f"{name} was {before!r} in that run, now {now!r}")
        elif str(before) != str(now):
            out.append(f"{name} was {before!r} in that run, now {now!r}")
    return out


def check_resume_config(saved: Mapping[str, Any], current: Mapping[str, Any], path: Path) -> None:
    """``ValueError`` naming every setting that keeps ``current`` from resuming ``path`` exactly."""
    problems = resume_problems(saved, current)
    if problems:
        raise ValueError(f"Cannot resume exactly from '{Path(path).name}': " + "; ".join(problems)
                         + ". Use the same settings, or continue the saved embedding in a new run.")


specs(TrainConfig)  # fail at import when a field lacks its Spec
