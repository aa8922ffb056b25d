"""The Textual Inversion optimisation loop.

Only the ``N x D`` vectors are trained (AdamW, weight decay 0 as in the host). Gradients are taken with
``torch.autograd.grad`` with respect to the vectors alone, so no model weight ever receives a ``.grad``, even
inside the host, which leaves ``shared.sd_model`` trainable (see :func:`~lib_ti.training.accel.frozen_weights`
for how autograd is also kept from recording weight gradients). The loop follows the host's trainer step for
step where the host defines behaviour (batch order, prompt filling, schedule calls per
micro-batch, loss = MSE against eps or v), and adds what the host lacks: unscaled gradient
clipping, exact resume, fixed-batch loss, NaN/OOM handling and atomic writes.

Events go to ``on_event(kind, data)`` so the UI and CLI render the same run:
``"status"`` (str), ``"step"`` (:class:`StepInfo`), ``"checkpoint"`` (Path), ``"preview"``
(list of Paths), ``"done"`` (:class:`TrainResult`).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..core.fsutil import atomic_write_text, is_disk_full
from ..core.jobs import Job
from . import checkpoint as ckpt
from ..model.precision import autocast_for, grad_scaler
from .accel import frozen_weights, gradient_checkpointing, is_out_of_memory, oom_advice, sdpa_attention
from .config import TrainConfig, check_resume_config, preview_texts
from .dataset import EpochSampler, effective_sizes, epoch_position, first_item_prompt, scan_folder
from .latents import LatentCache, build_cache
from .logs import TrainLog
from .templates import PromptMaker, read_template, resolve_template

#: Timesteps of the fixed evaluation batch (spread over the schedule; same for every run).
FIXED_TIMESTEPS = (100, 300, 500, 700, 900)


class TrainingError(RuntimeError):
    """A run that cannot start or had to stop; the message says what to do."""


@dataclass
class StepInfo:
    step: int
    epoch: int
    epoch_step: int
    loss: float
    learn_rate: float
    norms: list[float]
    fixed_loss: Optional[float] = None
    seconds: float = 0.0


@dataclass
class TrainResult:
    #: "finished", "interrupted", "nan", "oom"
    status: str
    step: int
    embedding_path: Optional[Path]
    state_path: Optional[Path]
    message: str
    run_dir: Path
    previews: list[Path] = field(default_factory=list)


class Trainer:
    """One run over a frozen :class:`~lib_ti.model.backend.SDBackend`."""

    def __init__(
        self,
        backend: Any,
        cfg: TrainConfig,
        *,
        job: Optional[Job] = None,
        on_event: Optional[Callable[[str, Any], None]] = None,
        on_embedding_saved: Optional[Callable[[Path], None]] = None,
        template_dirs: tuple = (),
    ) -> None:
        self.backend = backend
        self.cfg = cfg
        self.job = job or Job()
        self.on_event = on_event or (lambda kind, data: None)
        self.on_embedding_saved = on_embedding_saved
        self.template_dirs = template_dirs
        self.device = backend.device
        self.prepared = False
        self.previews: list[Path] = []

    # ------------------------------------------------------------------ setup
    def _status(self, text: str) -> None:
        self.on_event("status", text)

    def prepare(self) -> None:
        """Validate, read the dataset, cache latents, create or load the vectors and optimizer."""
        import torch

        from ..schedule.parse import HostScheduler
        from ..model.embeddings import check_embedding_fits, create_embedding, load_embedding, validate_name

        cfg = self.cfg
        cfg.validate()
        cfg.name = validate_name(cfg.name)
        state = ckpt.load_state(cfg.resume) if cfg.resume else None
        if state is not None:
            check_resume_config(json.loads(state["config"]), cfg.to_dict(), cfg.resume)
        self.lines = read_template(resolve_template(cfg.template, self.template_dirs))
        scan = scan_folder(cfg.data_dir, cfg.filename_word_regex, cfg.filename_join)
        self.items = scan.items
        self.skipped = scan.skipped
        if scan.skipped:
            self._status("Skipped (not images): " + ", ".join(p.name for p, _ in scan.skipped[:10]))
        self.batch_size, self.grad_accum = effective_sizes(len(self.items), cfg.batch_size, cfg.grad_accum)

        # private random streams; global ones are seeded too (ldm's 'once' sampling draws from torch's)
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        import numpy as np

        np.random.seed(cfg.seed % (2**32))
        self.data_rng = random.Random(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)

        self.maker = PromptMaker(self.lines, cfg.name, self.data_rng, cfg.shuffle_tags, cfg.tag_dropout)
        # host: when neither shuffle nor dropout is on, each image's prompt is made once, in dataset order
        self.fixed_prompts = None if self.maker.per_sample else [self.maker.make(it.caption) for it in self.items]

        self.plan = self.backend.precision(cfg.precision)
        self._status(f"Precision: {self.plan.reason}.")
        keep_on = "cpu" if cfg.low_memory else self.device
        self._status(f"Caching latents of {len(self.items)} images ({cfg.latent_method})…")
        self.stage = "caching latents"
        self.cache: LatentCache = build_cache(
            self.backend, self.items, cfg.latent_method, cfg.width, cfg.height,
            device=self.device, keep_on=keep_on, generator=self.gen, should_stop=lambda: self.job.interrupted,
            progress=lambda d, t: self._status(f"Caching latents {d}/{t}"), plan=self.plan,
        )
        if cfg.low_memory:
            self._vae_to("cpu")

        # embedding
        if state is not None:
            vec0 = state["vec"]
            self.step = int(state["step"])
            self.embedding_meta = dict(state.get("embedding_meta", {}))
        elif cfg.init_embedding is not None:
            emb = load_embedding(cfg.init_embedding)
            check_embedding_fits(emb, self.backend, cfg.init_embedding)
            vec0, self.step = emb.vec, int(emb.step or 0)
            self.embedding_meta = {}
        else:
            emb = create_embedding(self.backend, cfg.name, cfg.num_vectors, cfg.init_text)
            vec0, self.step = emb.vec, 0
            self.embedding_meta = {}
        if vec0.shape[-1] != self.backend.embedding_width:
            raise TrainingError(
                f"The embedding has width {vec0.shape[-1]}, the loaded model expects {self.backend.embedding_width} "
                f"({self.backend.family}). Train it on a model of the same family.")
        if self.step >= cfg.steps:
            raise TrainingError(f"The embedding is already at step {self.step}, not below max steps ({cfg.steps}).")
        self.vec = vec0.detach().to(self.device, torch.float32).clone().requires_grad_(True)
        self.start_step = int(state["origin_step"]) if state is not None else self.step

        self.opt = torch.optim.AdamW([self.vec], lr=0.0, weight_decay=0.0)
        self.sched = HostScheduler(cfg.learn_rate, cfg.steps, self.start_step)
        self.clip_sched = (HostScheduler(cfg.clip_grad_value, cfg.steps, self.start_step)
                           if cfg.clip_grad_mode != "disabled" else None)
        self.opt.param_groups[0]["lr"] = self.sched.learn_rate
        self.sampler = EpochSampler(len(self.items), self.batch_size, self.grad_accum, self.data_rng)
        self.scaler = grad_scaler(self.plan)

        # a resumed run, or a continued one whose folder starts with the earlier history, keeps rows up to its step
        self.log = TrainLog.read(cfg.run_dir)
        self.log.truncate(self.step)
        if state is not None:
            self._load_state(state)
        # The fixed-batch loss of the starting vectors is the plot's first point. It is computed lazily, at the
        # first evaluation (a run shorter than eval_every never pays for it): set-up before step 1 stays cheap.
        self.eval_x0 = None
        self._baseline = (self.vec.detach().clone() if cfg.eval_every and self.step == self.start_step
                          and not self.log.metric_rows else None)
        self.prepared = True
        self._write_settings()

    def _load_state(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if self.clip_sched is not None and state.get("clip_scheduler"):
            self.clip_sched.load_state_dict(state["clip_scheduler"])
        saved_steps = int(json.loads(state["config"]).get("steps", self.cfg.steps))
        if saved_steps != self.cfg.steps:  # max steps raised: replay the schedule calls under the new max steps
            self._replay_schedules(int(state["origin_step"]), int(state["step"]))
        self.opt.param_groups[0]["lr"] = self.sched.learn_rate
        self.sampler.load_state_dict(state["sampler"])
        ckpt.set_python_rng_state(state["data_rng"], self.data_rng)
        self.gen.set_state(state["generator"])
        ckpt.set_global_rng_states(state["global_rng"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if state.get("fixed_prompts") is not None:
            self.fixed_prompts = list(state["fixed_prompts"])

    def _replay_schedules(self, origin: int, step: int) -> None:
        """Put the schedules where an uninterrupted run with the new max steps would be at ``step``.

        The host advances a schedule once per micro-batch call; replaying those calls reproduces its
        position (including its one-entry-per-call quirk) without touching any random stream.
        """
        from ..schedule.parse import HostScheduler

        self.sched = HostScheduler(self.cfg.learn_rate, self.cfg.steps, origin)
        if self.clip_sched is not None:
            self.clip_sched = HostScheduler(self.cfg.clip_grad_value, self.cfg.steps, origin)
        for s in range(origin, step):
            for _ in range(self.grad_accum):
                self.sched.step(s)
                if self.clip_sched is not None:
                    self.clip_sched.step(s)

    def _fixed_batch(self) -> None:
        """Fixed images x fixed timesteps x fixed noise: a loss comparable across steps and runs (built on first
        use; its own generator, so when it is built changes no random stream of the run)."""
        import torch

        k = min(self.cfg.eval_size, len(self.items))
        idx = [i for i in range(k) for _ in FIXED_TIMESTEPS]
        self.eval_x0 = self.cache.mean_latents(idx).to(self.device)
        g = torch.Generator().manual_seed(self.cfg.seed + 1_000_003)
        self.eval_noise = torch.randn(self.eval_x0.shape, generator=g).to(self.device)
        self.eval_t = torch.tensor([t for _ in range(k) for t in FIXED_TIMESTEPS], device=self.device)
        self.eval_prompts = [first_item_prompt(self.lines, self.items[i].caption, self.cfg.name) for i in idx]

    def _write_settings(self) -> None:
        info = {"config": self.cfg.to_dict(), "images": len(self.items), "batch_size": self.batch_size,
                "grad_accum": self.grad_accum, "model": list(self.backend.checkpoint_info()),
                "skipped": [str(p) for p, _ in self.skipped]}
        atomic_write_text(self.cfg.run_dir / "settings.json", json.dumps(info, indent=2, default=str))

    def _vae_to(self, device: Any) -> None:
        if self.backend.host_offloads:  # the host's --medvram/--lowvram hooks own placement
            return
        fsm = getattr(self.backend.model, "first_stage_model", None)
        if fsm is not None:
            fsm.to(device)

    # ------------------------------------------------------------------ math
    def loss_on(self, x0, noise, t, prompts, vec) -> Any:
        """MSE between the model's output and its target (eps or v) for given latents, noise, timesteps."""
        import torch
        import torch.nn.functional as F

        b = self.backend
        if b.parameterization not in ("eps", "v"):
            raise TrainingError(f"Unknown parameterization {b.parameterization!r} of the loaded model: TI Lab trains "
                                "eps- and v-prediction models (ldm's p_losses targets).")
        a = b.alphas_cumprod.to(self.device, torch.float32)[t].view(-1, 1, 1, 1)
        x_noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with autocast_for(self.device, self.plan):
            cond = b.encode_prompts(prompts, {self.cfg.name: vec}, clip_skip=self.cfg.clip_skip,
                                    emphasis=self.cfg.emphasis)
            out = b.apply_model(x_noisy, t, cond)
        target = noise if b.parameterization == "eps" else a.sqrt() * noise - (1 - a).sqrt() * x0
        return F.mse_loss(out.float(), target.float())

    def fixed_loss(self, vec=None) -> float:
        """Loss of the current (or given) vectors on the fixed batch (no gradients)."""
        import torch

        if self.eval_x0 is None:
            self._fixed_batch()
        vec = self.vec.detach() if vec is None else vec
        with torch.no_grad():
            total, n = 0.0, len(self.eval_prompts)
            chunk = max(1, self.batch_size * 4)
            for s in range(0, n, chunk):
                sl = slice(s, s + chunk)
                part = self.loss_on(self.eval_x0[sl], self.eval_noise[sl], self.eval_t[sl],
                                    self.eval_prompts[sl], vec)
                total += float(part) * len(self.eval_prompts[sl])
        return total / n

    def _micro_batch(self) -> Any:
        """One forward/backward on the next batch; returns the (accumulation-scaled) loss tensor."""
        import torch

        idx = self.sampler.next()
        prompts = ([self.maker.make(self.items[i].caption) for i in idx] if self.fixed_prompts is None
                   else [self.fixed_prompts[i] for i in idx])
        self.last_prompt = prompts[0]
        x0 = self.cache.draw(idx, self.gen, self.cfg.flip_p).to(self.device, torch.float32)
        noise = torch.randn(x0.shape, generator=self.gen).to(self.device)
        t = torch.randint(0, int(self.backend.alphas_cumprod.shape[0]), (len(idx),), generator=self.gen).to(self.device)
        loss = self.loss_on(x0, noise, t, prompts, self.vec) / self.grad_accum
        scaled = self.scaler.scale(loss) if self.scaler is not None else loss
        # the vectors' gradient only: the model's weights get none, whatever their requires_grad flags say
        (grad,) = torch.autograd.grad(scaled, [self.vec])
        self.vec.grad = grad if self.vec.grad is None else self.vec.grad + grad
        return loss.detach()

    def _update(self) -> None:
        """One optimizer step on the accumulated (unscaled, clipped) gradient of the vectors."""
        import torch

        cfg = self.cfg
        if self.scaler is not None:
            self.scaler.unscale_(self.opt)  # clip on unscaled gradients
        if self.clip_sched is not None:
            value = self.clip_sched.learn_rate
            if cfg.clip_grad_mode == "value":
                torch.nn.utils.clip_grad_value_([self.vec], value)
            else:
                torch.nn.utils.clip_grad_norm_([self.vec], value)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    # ------------------------------------------------------------------ outputs
    @property
    def _suffix(self) -> str:
        """``.pt`` (host format) for SD1/SD2; SDXL embeddings are ``.safetensors`` with clip_l/clip_g."""
        return getattr(self.backend, "embedding_suffix", ".pt")

    def embedding(self, vec=None, step=None, name=None):
        from ..model.embeddings import Embedding

        short_hash, model_name = self.backend.checkpoint_info()
        return Embedding(name or self.cfg.name, (self.vec if vec is None else vec).detach().float().cpu().clone(),
                         self.step if step is None else step, short_hash, model_name,
                         split=getattr(self.backend, "embedding_split", None))

    @property
    def checkpoints_dir(self) -> Path:
        return self.cfg.run_dir / "checkpoints"

    def state_dict(self) -> dict:
        return {
            "name": self.cfg.name,
            "step": self.step,
            "origin_step": self.start_step,
            "vec": self.vec.detach().cpu().clone(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "clip_scheduler": self.clip_sched.state_dict() if self.clip_sched is not None else None,
            "sampler": self.sampler.state_dict(),
            "data_rng": ckpt.python_rng_state(self.data_rng),
            "generator": self.gen.get_state(),
            "global_rng": ckpt.global_rng_states(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "fixed_prompts": self.fixed_prompts,
            "embedding_meta": self.embedding_meta,
            "config": json.dumps(self.cfg.to_dict()),
        }

    def save_checkpoint(self) -> Path:
        """Embedding copy ``<name>-<step>.pt`` plus resume state ``<name>-<step>.state.pt``."""
        from ..model.embeddings import save_embedding

        base = self.checkpoints_dir / f"{self.cfg.name}-{self.step}"
        save_embedding(self.embedding(), base.with_name(base.name + self._suffix))
        state_path = ckpt.save_state(base.with_name(base.name + ".state.pt"), self.state_dict())
        self.log.flush()
        self.on_event("checkpoint", state_path)
        return state_path

    def save_final(self, vec=None, step=None) -> Path:
        from ..model.embeddings import save_embedding

        path = self.cfg.embeddings_dir / f"{self.cfg.name}{self._suffix}"
        save_embedding(self.embedding(vec, step), path)
        if self.on_embedding_saved is not None:
            self.on_embedding_saved(path)
        return path

    def make_previews(self) -> list[Path]:
        from ..core.fsutil import atomic_save
        from ..model.sampling import sample_images

        cfg = self.cfg
        prompts = preview_texts(cfg.preview_prompts, cfg.name)
        if not prompts:
            return []
        if cfg.low_memory:
            self._vae_to(self.device)
        try:
            images = sample_images(
                self.backend, prompts, negative=cfg.preview_negative, embeddings={cfg.name: self.vec.detach()},
                sampler=cfg.preview_sampler, steps=cfg.preview_steps, cfg_scale=cfg.preview_cfg,
                seed=cfg.preview_seed, width=cfg.preview_width or cfg.width, height=cfg.preview_height or cfg.height,
                clip_skip=cfg.clip_skip, emphasis=cfg.emphasis, precision=cfg.precision,
            )
        finally:
            if cfg.low_memory:
                self._vae_to("cpu")
        paths = []
        for k, im in enumerate(images):
            p = self.checkpoints_dir / f"{cfg.name}-{self.step}-preview{k}.png"
            atomic_save(p, lambda tmp, im=im: im.save(tmp, format="PNG"))
            paths.append(p)
        self.previews.extend(paths)
        self.on_event("preview", paths)
        return paths

    # ------------------------------------------------------------------ run
    def run(self) -> TrainResult:
        """Train until the schedule ends, Interrupt, NaN/inf or out-of-memory; always saves what is good.

        The job (inside the host: the host's progress state) begins before set-up and ends in one ``finally``,
        so whichever stage fails (latent caching, the first evaluation, a preview, a save), the host is released.
        """
        cfg = self.cfg
        self.job.begin(cfg.steps, f"Training {cfg.name}")
        try:
            if not self.prepared:
                self.stage = "set-up"
                try:
                    self.prepare()
                except Exception as exc:  # noqa: BLE001 - OOM in set-up is a message with advice, like in the loop
                    if is_out_of_memory(exc):
                        raise TrainingError(f"Out of memory while {self.stage} ({exc.__class__.__name__}); nothing "
                                            f"was trained yet. {oom_advice(cfg, self.stage)}") from None
                    raise
            model = self.backend.model
            with frozen_weights(model), sdpa_attention(model, self.device, cfg.sdpa), \
                    gradient_checkpointing(model, cfg.gradient_checkpointing):
                result = self._run()
        finally:
            self.job.end()
        self.log.flush()
        self.on_event("done", result)
        return result

    def _run(self) -> TrainResult:
        """The loop: accumulate, update, evaluate, save; then the final outputs whatever the outcome."""
        self.job.done = self.step
        last_good = self.vec.detach().clone()
        self.last_state: Optional[Path] = None
        status, message = "finished", ""
        self.last_prompt = ""
        try:
            while True:
                t0 = time.perf_counter()
                self.stage = f"training step {self.step + 1}"
                loss_sum, stop = self._accumulate()
                if stop is None:
                    lr = self.sched.learn_rate
                    self._update()
                    if not self._vectors_finite():
                        stop = "nan"
                if stop is not None:
                    self.opt.zero_grad(set_to_none=True)
                    status = stop
                    break
                self.step += 1
                last_good = self.vec.detach().clone()
                info = self._evaluate(loss_sum, lr, time.perf_counter() - t0)
                self.on_event("step", info)
                self._save_due()
        except Exception as exc:  # noqa: BLE001 - OOM is reported with advice, anything else re-raised after saving
            self._restore(last_good)
            if is_disk_full(exc):  # saving the final embedding would fail too: say so, keep what is on disk
                raise TrainingError(ckpt.disk_full_message(self.stage, self.cfg.run_dir, self.cfg.name)) from None
            if not is_out_of_memory(exc):
                self.save_final()
                raise
            status = "oom"
            self._release_memory()
            message = (f"Out of memory while {self.stage} ({exc.__class__.__name__}); kept the embedding of step "
                       f"{self.step}. {oom_advice(self.cfg, self.stage)}")
        self._restore(last_good)
        return self._finish(status, message)

    def _accumulate(self) -> tuple[float, Optional[str]]:
        """Forward/backward over ``grad_accum`` micro-batches; returns the summed loss and why it stopped, if it did."""
        loss_sum = 0.0
        for k in range(self.grad_accum):
            # host order: schedule first (one entry per call), then the stop checks
            before = self.sched.state_dict()
            if self.sched.step(self.step):
                self.opt.param_groups[0]["lr"] = self.sched.learn_rate
            if self.sched.finished:
                return loss_sum, "finished"
            # Interrupt only between updates: a half-accumulated step would have drawn batches and
            # noise that the checkpoint could not replay, and undo this call so resume repeats it.
            if k == 0 and self.job.interrupted:
                self.sched.load_state_dict(before)
                self.opt.param_groups[0]["lr"] = self.sched.learn_rate
                return loss_sum, "interrupted"
            if self.clip_sched is not None:
                self.clip_sched.step(self.step)
            loss = float(self._micro_batch())
            if not math.isfinite(loss):
                return loss_sum, "nan"
            loss_sum += loss
        return loss_sum, None

    def _vectors_finite(self) -> bool:
        import torch

        return bool(torch.isfinite(self.vec).all())

    def _save_due(self) -> None:
        """Checkpoint and previews when their rhythm says so."""
        cfg = self.cfg
        if cfg.save_every and self.step % cfg.save_every == 0:
            self.stage = f"saving the checkpoint of step {self.step}"
            self.last_state = self.save_checkpoint()
        if cfg.preview_every and self.step % cfg.preview_every == 0:
            self.stage = f"making the previews of step {self.step}"
            self.make_previews()

    def _release_memory(self) -> None:
        import torch

        self.opt.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _finish(self, status: str, message: str) -> TrainResult:
        """Final embedding, the run's last checkpoint, and the message for the status line.

        Every run that ends well or is stopped leaves its last step in its checkpoints folder (embedding copy and
        resume state), whatever "save every" says, unless the rhythm just saved that step: the strength sweep
        lists a run's checkpoints, and a run with "save every 0" would otherwise offer it nothing, or only the
        checkpoint of an earlier stop. A NaN run is the exception: its optimizer state is not worth resuming.
        """
        cfg = self.cfg
        if status == "nan":
            message = (f"Loss or vectors became NaN/inf during step {self.step + 1}; stopped and kept the last "
                       f"good embedding (step {self.step}). Lower the learning rate or turn on gradient clipping.")
        final = self.save_final()
        last_state, missing = self.last_state, ""
        if status in ("finished", "interrupted", "oom"):
            if last_state is None or not last_state.name.endswith(f"-{self.step}.state.pt"):
                try:
                    last_state = self.save_checkpoint()
                except Exception as exc:  # noqa: BLE001 - the embedding above is saved: say what is missing, keep it
                    why = ("the disk is full" if is_disk_full(exc)
                           else (getattr(exc, "strerror", None) or str(exc)))
                    missing = f" (The checkpoint of step {self.step} could not be saved: {why}.)"
        if status == "finished":
            message = f"Finished at step {self.step}. Embedding saved to {final}.{missing}"
        elif status == "interrupted" and not missing:
            message = f"Interrupted at step {self.step}. Embedding saved to {final}; resume from {last_state}."
        elif status == "interrupted":
            earlier = f"resume from {last_state}, an earlier step" if last_state else "it cannot be resumed"
            message = f"Interrupted at step {self.step}. Embedding saved to {final}; {earlier}.{missing}"
        else:
            message += f" Embedding (step {self.step}) saved to {final}.{missing}"
        return TrainResult(status, self.step, final, last_state, message, cfg.run_dir, list(self.previews))

    def _restore(self, good) -> None:
        import torch

        with torch.no_grad():
            self.vec.copy_(good)

    def _norms(self) -> list[float]:
        return [float(x) for x in self.vec.detach().float().norm(dim=-1).cpu()]

    def _evaluate(self, loss: float, lr: float, seconds: float) -> StepInfo:
        """Log the step; the fixed-batch loss when due (with the starting vectors' loss the first time)."""
        cfg = self.cfg
        epoch, epoch_step = epoch_position(self.step, self.sampler.steps_per_epoch)
        fixed = None
        if cfg.eval_every and self.step % cfg.eval_every == 0:
            self.stage = f"evaluating the fixed batch at step {self.step}"
            if self._baseline is not None:
                base, self._baseline = self._baseline, None
                self.log.add_metrics(self.start_step, self.fixed_loss(base),
                                     [float(x) for x in base.float().norm(dim=-1).cpu()])
                self.log.metric_rows.sort(key=lambda r: r.step)  # the starting point goes first
            fixed = self.fixed_loss()
        norms = self._norms()
        if cfg.log_every and self.step % cfg.log_every == 0:
            self.log.add_loss(self.step, epoch, epoch_step, loss, lr)
        if fixed is not None or (cfg.log_every and self.step % cfg.log_every == 0):
            self.log.add_metrics(self.step, fixed, norms)
        self.log.maybe_flush()
        self.job.advance(1, f"loss {loss:.4f}")
        return StepInfo(self.step, epoch, epoch_step, loss, lr, norms, fixed, seconds)
