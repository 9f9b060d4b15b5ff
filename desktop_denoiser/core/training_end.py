"""How a training ended, as one typed record: :class:`TrainingEnd`.

Every training ends in exactly one :class:`Outcome`. The training process sends its end as a
``TrainingEnd`` (see ``training_process.py``), the window shows it from its fields and a record
of runs can keep it: :meth:`TrainingEnd.to_dict` / :meth:`TrainingEnd.from_dict` give a plain,
JSON-ready form. :meth:`TrainingEnd.describe` is the one sentence a person reads about it.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Mapping, Optional

from .durations import duration


class Outcome(enum.Enum):
    FINISHED = "finished"  # every epoch it was asked for
    EARLY_STOPPED = "early_stopped"  # the validation loss stopped improving (patience)
    TIME_BUDGET = "time_budget"  # the config's time budget was used up
    CANCELLED = "cancelled"  # cancelled after a batch: the best epoch so far is kept
    CANCELLED_BEFORE_FIRST_BATCH = "cancelled_before_first_batch"  # nothing to keep: nothing saved
    FAILED = "failed"  # an error, or the process died: nothing saved

    @property
    def cancelled(self) -> bool:
        return self in (Outcome.CANCELLED, Outcome.CANCELLED_BEFORE_FIRST_BATCH)

    @property
    def completed(self) -> bool:
        """The training ran to one of its own ends (not cancelled, not failed)."""
        return self in (Outcome.FINISHED, Outcome.EARLY_STOPPED, Outcome.TIME_BUDGET)


# the trainer's ``TrainResult.stop_reason`` of a run that saved a model -> its outcome
_BY_STOP_REASON = {"completed": Outcome.FINISHED, "early stopping": Outcome.EARLY_STOPPED,
                   "time budget": Outcome.TIME_BUDGET, "cancelled": Outcome.CANCELLED}


@dataclasses.dataclass(frozen=True)
class TrainingEnd:
    """The end of one training.

    ``model`` is the name the model was stored under (None: nothing was saved); ``entry`` is its
    live :class:`~.store.ModelEntry` in the process that received the end (not serialised: a
    record read back has the name only). ``config`` is the :meth:`TrainConfig.to_dict` of the run.
    """

    outcome: Outcome
    message: str = ""  # what went wrong (FAILED), else ""
    stop_reason: str = ""  # the trainer's own word: "completed", "early stopping", "time budget", "cancelled"
    best_epoch: Optional[int] = None  # the epoch whose weights were kept (None: no epoch finished)
    epochs: int = 0  # epochs finished
    steps: int = 0  # batches trained
    seconds: float = 0.0
    device: str = ""
    images_per_s: float = 0.0
    model: Optional[str] = None
    config: dict = dataclasses.field(default_factory=dict)
    entry: Any = dataclasses.field(default=None, compare=False, repr=False)

    # the ways a training ends ----------------------------------------------------------------

    @classmethod
    def of_result(cls, result, entry, config: Optional[dict] = None) -> "TrainingEnd":
        """The end of a run the trainer finished (``result``: a TrainResult) and, when a model
        was stored, its ``entry``."""
        config = result.config.to_dict() if config is None else config
        common = dict(stop_reason=result.stop_reason, best_epoch=result.best_epoch, epochs=len(result.history),
                      steps=result.steps, seconds=float(result.seconds), device=result.device,
                      images_per_s=float(result.images_per_s), config=config)
        if entry is None:
            if result.cancelled:
                return cls(Outcome.CANCELLED_BEFORE_FIRST_BATCH, **common)
            return cls(Outcome.FAILED, message="The training ended before its first batch; nothing was saved.", **common)
        return cls(_BY_STOP_REASON.get(result.stop_reason, Outcome.FINISHED), model=entry.name, entry=entry, **common)

    @classmethod
    def failure(cls, message: str, config: Optional[dict] = None, **known) -> "TrainingEnd":
        """A training that failed with ``message`` (``known``: any other field that is known)."""
        return cls(Outcome.FAILED, message=message, config=dict(config or {}), **known)

    @classmethod
    def cancelled_before_first_batch(cls, config: Optional[dict] = None, **known) -> "TrainingEnd":
        return cls(Outcome.CANCELLED_BEFORE_FIRST_BATCH, stop_reason="cancelled", config=dict(config or {}), **known)

    # reading it --------------------------------------------------------------------------------

    @property
    def saved(self) -> bool:
        return self.model is not None

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    @property
    def cancelled(self) -> bool:
        return self.outcome.cancelled

    def describe(self) -> str:
        """One sentence for people, e.g. "Finished 5 epochs in 42 s; best epoch 4, saved as unet-mixed."."""
        o = self.outcome
        if o is Outcome.FAILED:
            return f"Training failed: {self.message}"
        if o is Outcome.CANCELLED_BEFORE_FIRST_BATCH:
            return "Cancelled before the first batch finished; nothing was saved."
        saved = f"saved as {self.model}" if self.model else "nothing was saved"
        if o is Outcome.CANCELLED:
            if not self.best_epoch:
                return f"Cancelled in the first epoch; kept its partial weights, {saved}."
            return f"Cancelled after {_epochs(self.epochs)}; kept best epoch {self.best_epoch}, {saved}."
        how = {Outcome.FINISHED: "Finished", Outcome.EARLY_STOPPED: "Stopped early (no better validation loss) after",
               Outcome.TIME_BUDGET: "Time budget used after"}[o]
        best = f"best epoch {self.best_epoch}" if self.best_epoch else "no complete epoch"
        return f"{how} {_epochs(self.epochs)} in {duration(self.seconds)}; {best}, {saved}."

    # the plain form ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field but ``entry``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "entry"}
        out["outcome"] = self.outcome.value
        out["config"] = dict(self.config)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainingEnd":
        """The end of :meth:`to_dict` (unknown keys are ignored, missing ones take their defaults;
        an unknown outcome raises ValueError)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"entry", "outcome"}
        values = {k: v for k, v in dict(data).items() if k in names}
        values["config"] = dict(values.get("config") or {})
        return cls(Outcome(data["outcome"]), **values)


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"
