"""What a UI or CLI run needs from its surroundings, in one object.

The same tab builders run inside the host and standalone; everything that
differs between the two is injected through :class:`AppContext`, built by
:mod:`lib_ti.host` inside the host and by :func:`standalone_context` otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional, TypedDict

from .jobs import Job, ProgressSink
from .paths import PathGuard
from .settings import Settings


def default_data_dir() -> Path:
    """Standalone data folder: ``$TILAB_DATA`` or ``~/.local/share/ti-lab``."""
    env = os.environ.get("TILAB_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "ti-lab"


class PromptOptions(TypedDict):
    """The host's conditioning settings a run must use to match txt2img."""

    #: the host's "Clip skip" (``CLIP_stop_at_last_layers``), 1 = last layer
    clip_skip: int
    #: the host's emphasis mode ("Original", "No norm", "None")
    emphasis: str


@dataclass
class AppContext:
    """Environment of one UI build or command.

    Attributes:
        in_host: True inside the AUTOMATIC1111 WebUI.
        data_dir: where TI Lab writes logs, caches and outputs by default.
        embeddings_dir: where finished embeddings go (the host's embeddings folder inside the host).
        guard: resolves folders typed into the UI (restricted when the host is shared).
        settings: TI Lab's options.
        progress_sink: factory for a progress sink (host progress bar, or None for gr.Progress/tqdm).
        get_backend: the one way to supply a model: returns the loaded model as an
            :class:`~lib_ti.model.backend.SDBackend` (inside the host: ``shared.sd_model`` on the host's device,
            with the host's noise). None: the user picks a checkpoint file (standalone).
        get_captioner: returns a captioner object (the host's BLIP interrogator), or None to use transformers.
        on_embedding_saved: called with the path of every embedding TI Lab writes (the host registers it).
        training_lock: returns the context manager a run holds (the host's GPU queue lock), or None.
        prompt_options: returns the host's Clip skip and emphasis mode, or None to use the run's own.
        template_dirs: extra prompt-template folders searched after TI Lab's own (the host's templates folder).
    """

    in_host: bool = False
    data_dir: Path = field(default_factory=default_data_dir)
    embeddings_dir: Optional[Path] = None
    guard: PathGuard = field(default_factory=PathGuard)
    settings: Settings = field(default_factory=Settings)
    progress_sink: Optional[Callable[[str], ProgressSink]] = None
    get_backend: Optional[Callable[[], Any]] = None
    get_captioner: Optional[Callable[[], Any]] = None
    on_embedding_saved: Optional[Callable[[Path], None]] = None
    training_lock: Optional[Callable[[], ContextManager]] = None
    prompt_options: Optional[Callable[[], PromptOptions]] = None
    template_dirs: tuple[Path, ...] = ()

    def new_job(self, desc: str = "") -> Job:
        """A job whose progress goes where this context shows progress."""
        sink = self.progress_sink(desc) if self.progress_sink else None
        return Job(sink)

    def embeddings_folder(self) -> Path:
        return self.embeddings_dir or (self.data_dir / "embeddings")


def standalone_context(data_dir: Optional[Path] = None, allowed_roots: Optional[list[str]] = None) -> AppContext:
    """Context for ``python -m lib_ti serve``: local, unrestricted unless roots are given."""
    data = Path(data_dir) if data_dir else default_data_dir()
    settings = Settings.from_file(data / "tilab-settings.json")
    guard = (PathGuard.restricted_to([data, *allowed_roots], "--allow given",
                                     "To allow another folder, start serve with --allow FOLDER.")
             if allowed_roots else PathGuard())
    return AppContext(in_host=False, data_dir=data, guard=guard, settings=settings)
