"""The record of a sweep: ``<user data folder>/sweeps/<id>.json``, written atomically when the
sweep starts and again after each run, so a sweep that was stopped (or killed) still says what
it did.

It holds the sweep's axes and base settings, one entry per run (its settings and config, its
status, the model it stored, the run id, its figures) and the noisy-input baseline for each
noise the runs were measured on. Figures are stored in the models' own ``metrics`` form
(:meth:`ModelFigures.to_metrics`). A run is ``pending``, ``running``, then ``finished``,
``cancelled`` (stopped in the middle: nothing kept), ``skipped`` (not started because the sweep
was cancelled) or ``failed`` (with the error). The sweep itself is ``running``, ``finished``,
``cancelled`` or ``failed``; one still ``running`` whose process has gone is shown as
``interrupted``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import uuid
from pathlib import Path
from typing import Any, Optional

from . import atomic, paths
from .errors import DenoiserError
from .figures import DENOISER, ModelFigures
from .model_files import now_iso

FORMAT = "desktop-denoiser-sweep/1"
PENDING, RUNNING, FINISHED, CANCELLED, SKIPPED, FAILED = "pending", "running", "finished", "cancelled", "skipped", "failed"
INTERRUPTED = "interrupted"  # shown for a record left "running" by a process that has gone


class SweepRecordError(DenoiserError):
    """A sweep record is missing, ambiguous or unreadable."""


def sweeps_dir() -> Path:
    return paths.user_data_dir() / "sweeps"


def new_id() -> str:
    return f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def _figures(data: Any) -> Optional[ModelFigures]:
    return ModelFigures.from_metrics(DENOISER, data) if isinstance(data, dict) else None


@dataclasses.dataclass
class RunRecord:
    """One run of a sweep, as recorded."""

    index: int
    settings: dict  # axis name -> value
    config: dict  # TrainConfig.to_dict()
    requested_name: str
    status: str = PENDING
    model: Optional[str] = None  # the name it was stored under (a taken name became NAME-2)
    model_path: Optional[str] = None
    run_id: Optional[str] = None
    run_source: Optional[str] = None  # where run_id comes from: "model" (the model metadata's run_id)
    figures: Optional[ModelFigures] = None
    stop_reason: Optional[str] = None
    seconds: Optional[float] = None
    error: Optional[str] = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["figures"] = self.figures.to_metrics() if self.figures is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["figures"] = _figures(data.get("figures"))
        return cls(**values)

    def apply(self, outcome: dict) -> None:
        """Take in what running it gave (:func:`sweep_run.run_point`'s dict)."""
        for key in ("status", "model", "model_path", "run_id", "run_source", "stop_reason", "seconds", "error"):
            if key in outcome:
                setattr(self, key, outcome[key])
        self.figures = _figures(outcome.get("figures"))


@dataclasses.dataclass
class BaselineRecord:
    """The noisy input itself measured as if it were a denoiser's output: PSNR of the noisy
    digits and the classifier's accuracy on them, for one noise."""

    noise: dict  # NoiseSpec.to_dict()
    label: str  # str(NoiseSpec): the key runs are matched by
    figures: ModelFigures

    def to_dict(self) -> dict:
        return {"noise": self.noise, "label": self.label, "figures": self.figures.to_metrics()}

    @classmethod
    def from_dict(cls, data: dict) -> "BaselineRecord":
        return cls(dict(data.get("noise") or {}), str(data.get("label")), _figures(data.get("figures")) or ModelFigures())


@dataclasses.dataclass
class SweepRecord:
    id: str
    axes: list  # [{"name", "label", "values"}], the first outermost
    x_axis: str  # the axis the chart draws along x
    base: dict  # the base TrainConfig.to_dict()
    prefix: str
    eval_limit: Optional[int]
    backend: str  # "local" or "ray"
    store: str  # the folder the models went to
    runs: list = dataclasses.field(default_factory=list)
    baseline: list = dataclasses.field(default_factory=list)
    status: str = RUNNING
    created: str = dataclasses.field(default_factory=now_iso)
    updated: str = dataclasses.field(default_factory=now_iso)
    pid: int = dataclasses.field(default_factory=os.getpid)
    path: Optional[Path] = dataclasses.field(default=None, compare=False)

    @classmethod
    def new(cls, sweep, backend: str, store_dir: Path, sweep_id: Optional[str] = None) -> "SweepRecord":
        """The record of a sweep about to run: every run pending."""
        runs = [RunRecord(p.index, dict(p.settings), p.config.to_dict(), p.name) for p in sweep.points()]
        return cls(id=sweep_id or new_id(), axes=[a.to_dict() for a in sweep.axes], x_axis=sweep.x_axis.name,
                   base=sweep.base.to_dict(), prefix=sweep.prefix, eval_limit=sweep.eval_limit, backend=backend,
                   store=str(store_dir), runs=runs)

    # the stored form ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "path"}
        d["runs"] = [r.to_dict() for r in self.runs]
        d["baseline"] = [b.to_dict() for b in self.baseline]
        return {"format": FORMAT, **d}

    @classmethod
    def from_dict(cls, data: dict, path: Optional[Path] = None) -> "SweepRecord":
        fields = {f.name for f in dataclasses.fields(cls)} - {"path", "runs", "baseline"}
        values = {k: v for k, v in data.items() if k in fields}
        runs = [RunRecord.from_dict(r) for r in data.get("runs") or []]
        baseline = [BaselineRecord.from_dict(b) for b in data.get("baseline") or []]
        return cls(**values, runs=runs, baseline=baseline, path=path)

    def save(self, folder: Optional[Path] = None) -> Path:
        """Write the record atomically (to ``folder`` or the user's sweeps folder)."""
        self.updated = now_iso()
        folder = Path(folder) if folder else (self.path.parent if self.path else sweeps_dir())
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{self.id}.json"
        atomic.write_text(self.path, json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return self.path

    # reading it -----------------------------------------------------------------------------

    def baseline_for(self, noise_label: str) -> Optional[ModelFigures]:
        return next((b.figures for b in self.baseline if b.label == noise_label), None)

    def run_noise(self, run: RunRecord) -> str:
        """The noise label a run was trained and measured on."""
        from .noise import NoiseSpec

        return str(NoiseSpec.from_dict(run.config.get("noise") or {}))

    def counts(self) -> dict:
        out: dict = {}
        for r in self.runs:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def shown_status(self) -> str:
        """The status, with a record left ``running`` by a process that has gone shown as interrupted."""
        if self.status == RUNNING and not _alive(self.pid):
            return INTERRUPTED
        return self.status

    def axes_text(self) -> str:
        from .sweeps import value_text

        return " × ".join(f"{a.get('label', a.get('name'))} {','.join(value_text(v) for v in a.get('values', []))}"
                          for a in self.axes)

    def summary(self) -> str:
        """One line for ``sweep --list``."""
        counts = self.counts()
        done = counts.get(FINISHED, 0)
        return f"{self.id}  {self.shown_status:11}  {done}/{len(self.runs)} runs  {self.axes_text()}  ({self.backend}, {self.created})"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError): it exists
        return True
    return True


def read(path: Path) -> SweepRecord:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepRecordError(f"Could not read the sweep record {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SweepRecordError(f"The sweep record {path} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SweepRecordError(f"{path} is not a sweep record of this app.")
    try:
        return SweepRecord.from_dict(data, Path(path))
    except (TypeError, ValueError, AttributeError) as exc:
        raise SweepRecordError(f"The sweep record {path} is damaged ({exc}).") from None


def list_records(folder: Optional[Path] = None) -> tuple[list[SweepRecord], list[str]]:
    """Every recorded sweep, oldest first, and a line for each file that could not be read."""
    folder = Path(folder) if folder else sweeps_dir()
    records, problems = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue  # a temporary file of a write in progress
        try:
            records.append(read(path))
        except SweepRecordError as exc:
            problems.append(str(exc))
    records.sort(key=lambda r: (str(r.created), r.id))
    return records, problems


def load(sweep_id: str, folder: Optional[Path] = None) -> SweepRecord:
    """The record of ``sweep_id``: its full id, a unique beginning of one, or ``latest``."""
    records, _ = list_records(folder)
    if sweep_id == "latest" and records:
        return records[-1]
    exact = [r for r in records if r.id == sweep_id]
    found = exact or [r for r in records if r.id.startswith(sweep_id)]
    if len(found) == 1:
        return found[0]
    where = Path(folder) if folder else sweeps_dir()
    if not found:
        known = ", ".join(r.id for r in records[-5:]) or "none"
        raise SweepRecordError(f"No sweep '{sweep_id}' in {where} (recent: {known}).")
    raise SweepRecordError(f"'{sweep_id}' matches {len(found)} sweeps ({', '.join(r.id for r in found)}); give more of the id.")
