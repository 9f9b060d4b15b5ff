"""A sweep from the window (issue 14): its runs train one after the other in one child process
(core/sweep_process.py, whose events the test checks), the window's Training sweep draws the
chart with pyqtgraph as runs finish, exports the core's PNG, lists past sweeps, and a sweep and
a training never overlap."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.sweeps import AxisValues, Sweep
from desktop_denoiser.core.training import TrainConfig

pytest.importorskip("pytestqt")

from conftest import GUI_TIMEOUT  # noqa: E402

LEVELS = (0.3, 0.9)


def _base() -> TrainConfig:
    return TrainConfig(arch="dense", noise=NoiseSpec("uniform"), epochs=1, subset=300, batch_size=32, patience=None,
                       seed=0, val_limit=100)


def test_cancelling_a_sweep_before_its_first_run_keeps_nothing(tiny_models, tmp_path):
    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.core.sweep_process import SweepProcess

    store = ModelStore(bundled_dir=tiny_models.folder, user_dir=tmp_path / "models")
    process = SweepProcess(Sweep(_base(), (AxisValues("noise_level", LEVELS),), prefix="cut", eval_limit=100), store)
    process.cancel()
    end = list(process.events())[-1][1]
    assert end.status == "cancelled"
    assert [r.status for r in end.record.runs] == ["skipped", "skipped"]
    assert not [e for e in store.entries("denoiser") if e.name.startswith("cut")]
    assert end.describe() == "Sweep cancelled: 0 of 2 runs finished."


def _small_panel(window) -> None:
    panel = window.training
    panel.arch.setCurrentIndex(panel.arch.findData("dense"))
    panel.epochs.setValue(1)
    panel.subset.setValue(300)
    panel.batch.setValue(32)


def test_the_window_runs_a_sweep_and_draws_its_chart(qtbot, window, tmp_path):
    from desktop_denoiser.core.sweep_process import RunProgress, RunStart, SweepEnd

    _small_panel(window)
    sweeps = window.open_training_sweep()
    assert "dense" in sweeps.base.text() and "300 digits" in sweeps.base.text()
    combo, edit = sweeps.axes[0]
    combo.setCurrentIndex(combo.findData("noise_level"))
    edit.setText("0.3,0.9")
    sweeps.eval_limit.setValue(100)
    sweeps.prefix.setText("win")
    assert sweeps.summary.text() == "2 runs: noise level 0.3, 0.9"
    edit.setText("0.3,7")  # out of range: the reason, and no Run
    assert "out of range" in sweeps.summary.text() and not sweeps.run_button.isEnabled()
    edit.setText("0.3,0.9")
    assert sweeps.run_button.isEnabled()

    events = {"record": [], "run_start": [], "progress": []}
    with qtbot.waitSignal(window.training_control.sweep_ended, timeout=4 * GUI_TIMEOUT) as ended:
        assert sweeps.start()
        for kind, got in events.items():  # the child's events arrive seconds later, through the event loop
            getattr(sweeps.thread, kind).connect(got.append)
        assert window.is_training() and not window.training.start.isEnabled()
        assert not window.start_training(window.training.config(), "during-sweep")  # one at a time
    end = ended.args[0]
    assert isinstance(end, SweepEnd) and end.status == "finished", end.message
    assert [r.model for r in end.record.runs] == ["win-0.3", "win-0.9"]
    # the child process's events: each run's start, its progress, the record after the baseline and each run
    starts = events["run_start"]
    assert [(s.index, s.total, s.name) for s in starts] == [(0, 2, "win-0.3"), (1, 2, "win-0.9")]
    assert all(isinstance(s, RunStart) and "dense" in s.description for s in starts)
    fractions = [p.fraction for p in events["progress"]]
    assert all(isinstance(p, RunProgress) for p in events["progress"])
    assert fractions == sorted(fractions) and 0 < fractions[0] <= 0.5 < fractions[-1] <= 1.0
    records = events["record"]
    assert len(records) >= 3 and len(records[0].baseline) == 2
    assert [r.to_dict() for r in records[-1].runs] == [r.to_dict() for r in end.record.runs]
    assert records[-1].status == "running" and end.record.status == "finished"  # closed after the last run
    assert window.training_control.thread is None
    qtbot.waitUntil(lambda: sweeps.thread is None, timeout=GUI_TIMEOUT)
    assert not window.is_training() and window.training.start.isEnabled()
    assert sweeps.progress.value() == 1000 and sweeps.status.text() == "Sweep finished: 2 of 2 runs finished."
    # the chart: one line for the model and the noisy baseline, two finite points each
    for key in ("accuracy", "psnr"):
        curves = sweeps.chart.curves(key)
        assert sorted(c.name() for c in curves) == ["dense", "noisy input"]
        for c in curves:
            xs, ys = c.getData()
            assert len(xs) == 2 and all(math.isfinite(y) for y in ys)
    psnr = {c.name(): c.getData()[1] for c in sweeps.chart.curves("psnr")}
    runs = end.record.runs
    assert list(psnr["dense"]) == pytest.approx([r.figures.psnr for r in runs])
    assert psnr["noisy input"][0] > psnr["noisy input"][1]  # more noise, a worse noisy input
    # the core's PNG, never over a file without asking
    out = tmp_path / "chart.png"
    assert sweeps.export(str(out)) and Image.open(out).size == (1400, 620)
    out.write_bytes(b"mine")
    assert not sweeps.export(str(out)) and out.read_bytes() == b"mine" and "exists" in sweeps.status.text()
    # the past sweeps list it, newest first, and shows it again
    assert sweeps.past.count() == 1 and sweeps.past.itemData(0) == end.record.id
    sweeps.chart.clear()
    sweeps._past_chosen(0)
    assert len(sweeps.chart.curves("accuracy")) == 2
    # its models are in the window's lists
    qtbot.waitUntil(lambda: {"win-0.3", "win-0.9"} <= {e.name for e in window._models.denoisers}, timeout=GUI_TIMEOUT)
