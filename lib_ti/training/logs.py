"""Training logs: the host's loss CSV plus TI Lab's metrics, rewritten atomically.

``textual_inversion_loss.csv`` has the host's columns ``step,epoch,epoch_step,loss,learn_rate``
(``epoch = (step-1) // steps_per_epoch``; loss with 7 decimals). ``metrics.csv`` adds the loss on
a fixed batch (fixed images, timesteps and noise, so it is comparable across steps) and the norm
of each vector. Rows live in memory and the files are replaced whole (atomic) every few
seconds, at checkpoints and at the end; on resume, rows after the resumed step are dropped.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..core.fsutil import atomic_write_text

LOSS_CSV = "textual_inversion_loss.csv"
METRICS_CSV = "metrics.csv"
LOSS_COLUMNS = ["step", "epoch", "epoch_step", "loss", "learn_rate"]


@dataclass
class MetricRow:
    step: int
    fixed_loss: Optional[float]
    norms: list[float]


@dataclass
class TrainLog:
    run_dir: Path
    flush_seconds: float = 2.0
    loss_rows: list[dict] = field(default_factory=list)
    metric_rows: list[MetricRow] = field(default_factory=list)
    _last_flush: float = 0.0

    def add_loss(self, step: int, epoch: int, epoch_step: int, loss: float, learn_rate: float) -> None:
        self.loss_rows.append({"step": step, "epoch": epoch, "epoch_step": epoch_step,
                               "loss": f"{loss:.7f}", "learn_rate": learn_rate})

    def add_metrics(self, step: int, fixed_loss: Optional[float], norms: list[float]) -> None:
        self.metric_rows.append(MetricRow(step, fixed_loss, list(norms)))

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=LOSS_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(self.loss_rows)
        atomic_write_text(self.run_dir / LOSS_CSV, buf.getvalue())
        n_vec = max((len(r.norms) for r in self.metric_rows), default=0)
        buf = io.StringIO()
        w2 = csv.writer(buf, lineterminator="\n")
        w2.writerow(["step", "fixed_batch_loss", "mean_norm", *[f"norm_{i}" for i in range(n_vec)]])
        for r in self.metric_rows:
            mean = sum(r.norms) / len(r.norms) if r.norms else float("nan")
            w2.writerow([r.step, "" if r.fixed_loss is None else f"{r.fixed_loss:.7f}", f"{mean:.6f}",
                         *[f"{x:.6f}" for x in r.norms]])
        atomic_write_text(self.run_dir / METRICS_CSV, buf.getvalue())

    def truncate(self, step: int) -> None:
        """Keep rows up to ``step`` (resume)."""
        self.loss_rows = [r for r in self.loss_rows if int(r["step"]) <= step]
        self.metric_rows = [r for r in self.metric_rows if r.step <= step]

    @classmethod
    def read(cls, run_dir: Path) -> "TrainLog":
        """Load existing CSVs of a run (to continue them on resume, or to plot them)."""
        log = cls(Path(run_dir))
        loss_path = log.run_dir / LOSS_CSV
        if loss_path.exists():
            with open(loss_path, newline="", encoding="utf-8") as fh:
                log.loss_rows = [dict(r) for r in csv.DictReader(fh)]
        met_path = log.run_dir / METRICS_CSV
        if met_path.exists():
            with open(met_path, newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                next(reader, None)
                for row in reader:
                    if not row:
                        continue
                    fixed = float(row[1]) if row[1] else None
                    log.metric_rows.append(MetricRow(int(row[0]), fixed, [float(x) for x in row[3:]]))
        return log

    def series(self) -> dict[str, list]:
        """Columns for plotting: steps/loss, and steps/fixed loss/mean norm where measured."""
        steps = [int(r["step"]) for r in self.loss_rows]
        loss = [float(r["loss"]) for r in self.loss_rows]
        m_steps = [r.step for r in self.metric_rows]
        fixed = [r.fixed_loss if r.fixed_loss is not None else math.nan for r in self.metric_rows]
        norms = [sum(r.norms) / len(r.norms) if r.norms else math.nan for r in self.metric_rows]
        return {"step": steps, "loss": loss, "metric_step": m_steps, "fixed_loss": fixed, "mean_norm": norms}
