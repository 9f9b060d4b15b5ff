"""The Runs view (View › Runs, issue 14) in the real main window, offscreen: the table of the
runs recorded by really trained tiny models, sorting, the overlaid curves and their legend,
Open model, Re-run through the window's training, Delete, an unreadable record, and the
training panel keeping the last run's curves."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from desktop_denoiser.core import runs  # noqa: E402
from desktop_denoiser.core.figures import ModelFigures  # noqa: E402
from desktop_denoiser.gui.runs.table import GREY, RUN_ROLE  # noqa: E402

TIMEOUT = 120_000
NAMES = ("wide", "narrow", "noisy")


def _config(**overrides):
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig

    base = dict(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), epochs=2, batch_size=32, subset=300, val_limit=200,
                patience=None)
    return TrainConfig(**{**base, **overrides})


class _Trainer:
    """What a RunRecorder needs of a Trainer (its config and callbacks), to record runs without training."""

    def __init__(self, config):
        self.config, self.on_epoch, self.on_batch = config, lambda result: None, None


def _record(folder: Path, model_dir: Path, name: str, config, psnr: float, device: str) -> None:
    """A run recorded by the core's RunRecorder as a training would: batches, epochs, a saved model, its end."""
    import uuid

    import numpy as np

    from desktop_denoiser.core.run_recorder import RunRecorder
    from desktop_denoiser.core.store import ModelEntry
    from desktop_denoiser.core.training import EpochResult
    from desktop_denoiser.core.training_end import Outcome, TrainingEnd

    path = model_dir / f"{name}.keras"
    path.write_bytes(b"not a model: only its name is shown")
    trainer, per_epoch = _Trainer(config), 9
    with RunRecorder(trainer, uuid.uuid4().hex, name, path, origin="test", folder=folder) as record:
        for epoch in range(1, config.epochs + 1):
            for step in range((epoch - 1) * per_epoch + 1, epoch * per_epoch + 1):
                trainer.on_batch(step, float(0.3 / np.sqrt(step)))
            trainer.on_epoch(EpochResult(epoch, 0.3 / epoch, 0.25 / epoch, psnr, 1.0, epoch * per_epoch))
        record.run.device = device
        record.saved(ModelEntry(name, path, {"kind": "denoiser", "metrics": {"test_psnr": psnr, "test_images": 100}}, "user"))
        record.finish(TrainingEnd(Outcome.FINISHED, epochs=config.epochs, steps=config.epochs * per_epoch, seconds=2.0,
                                  device=device, model=name, config=config.to_dict()))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, mnist):
    """Three dense runs: "wide" (the article's 64-D code) really trained and stored (tiny), then
    "narrow" (a 2-D code) and "noisy" (uniform:0.9, one epoch) recorded by the RunRecorder without
    training, with made-up losses and PSNRs. Returns (the folder of their records, the store)."""
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.core.training import Trainer

    folder = tmp_path_factory.mktemp("recorded")
    store = ModelStore(bundled_dir=folder / "bundled", user_dir=folder / "models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESKTOP_DENOISER_HOME", str(folder / "home"))
        workflows.train_and_save(Trainer(_config()), store, "wide", eval_limit=100)
    (wide,) = runs.all_runs(folder / "home" / "runs")
    others = {"narrow": (_config(bottleneck=2), 9.5), "noisy": (_config(noise=NoiseSpec.parse("uniform:0.9"), epochs=1), 100.0)}
    for name, (config, psnr) in others.items():
        time.sleep(1.0)  # a run's start is recorded to the second: three distinct starts
        _record(folder / "home" / "runs", folder, name, config, psnr, wide.device)  # its "model" outside the store
    return folder / "home" / "runs", store


@pytest.fixture
def home_runs(recorded, _isolated_home) -> dict:
    """The recorded runs copied into this test's data folder, by model name."""
    shutil.copytree(recorded[0], _isolated_home / "runs")
    return {r.model["name"]: r for r in runs.all_runs(_isolated_home / "runs")}


@pytest.fixture
def make_window(qtbot, recorded, tmp_path):
    from desktop_denoiser.gui.main_window import MainWindow

    made = []

    def make(settings_name="settings.ini", load_models=True):
        settings = QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat)
        w = MainWindow(store=recorded[1], settings=settings, load_models=load_models)
        qtbot.addWidget(w)
        made.append(w)
        w.show()
        if load_models:
            qtbot.waitUntil(lambda: w._models is not None, timeout=TIMEOUT)
        return w

    yield make
    for w in made:
        w.close()


def open_runs(qtbot, window):
    dock = window.runs_dock
    window.runs_dock.toggleViewAction().trigger()
    qtbot.waitUntil(dock.isVisible, timeout=10_000)
    return dock


def column(dock, title: str) -> list[str]:
    c = dock.table.column_of(title)
    return [dock.proxy.index(r, c).data() for r in range(dock.proxy.rowCount())]


def test_the_view_opens_from_the_view_menu_and_is_remembered(qtbot, make_window, home_runs):
    w = make_window("runs.ini", load_models=False)
    action = w.runs_dock.toggleViewAction()
    view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert action in view_menu.actions() and action.shortcut().toString() == "Ctrl+Shift+R" and action.text() == "&Runs"
    assert w.runs_dock.isHidden()
    dock = open_runs(qtbot, w)
    assert w.tabifiedDockWidgets(w.training_dock) == [dock]  # a tab beside "Train a model"
    w.close()
    w2 = make_window("runs.ini", load_models=False)
    qtbot.waitUntil(lambda: w2.runs_dock.isVisible(), timeout=10_000)
    assert w2.runs_dock.table.rowCount() == 3


def test_the_table_lists_every_run_with_its_figures_and_sorts_numbers_as_numbers(qtbot, make_window, home_runs):
    for name, psnr in (("wide", 10.25), ("narrow", 9.5), ("noisy", 100.0)):  # "100" < "9.5" as text
        assert runs.record_figures(home_runs[name].run_id, ModelFigures(psnr=psnr, images=100, noise="uniform:0.5"))
    w = make_window(load_models=False)
    dock = open_runs(qtbot, w)
    assert dock.table.rowCount() == dock.proxy.rowCount() == 3
    titles = [c.title for c in dock.table.columns]
    assert titles == ["started", "run", "architecture", "noise", "bottleneck", "epochs", "duration", "ended", "PSNR",
                      "accuracy", "model"]  # bottleneck: the one setting (besides noise, epochs) that differs
    by_model = {dock.proxy.index(r, dock.table.column_of("model")).data(): r for r in range(3)}
    assert set(by_model) == set(NAMES)
    row = by_model["narrow"]
    cells = {t: dock.proxy.index(row, i).data() for i, t in enumerate(titles)}
    narrow = home_runs["narrow"]
    assert cells["run"] == narrow.short_id and cells["architecture"] == "dense" and cells["noise"] == "uniform:level=0.5"
    assert cells["bottleneck"] == "2" and cells["epochs"] == "2" and cells["ended"] == "finished"
    assert cells["PSNR"] == "9.50 dB" and cells["accuracy"] == "–"  # no classifier in this store
    assert column(dock, "noise")[by_model["noisy"]] == "uniform:level=0.9"
    assert column(dock, "epochs")[by_model["noisy"]] == "1"

    dock.view.sortByColumn(dock.table.column_of("PSNR"), Qt.SortOrder.AscendingOrder)
    assert column(dock, "PSNR") == ["9.50 dB", "10.25 dB", "100.00 dB"]
    assert column(dock, "model") == ["narrow", "wide", "noisy"]
    dock.view.sortByColumn(dock.table.column_of("bottleneck"), Qt.SortOrder.DescendingOrder)
    assert column(dock, "bottleneck") == ["64", "64", "2"]
    dock.view.sortByColumn(dock.table.column_of("started"), Qt.SortOrder.AscendingOrder)
    assert column(dock, "model") == list(NAMES)  # trained in that order


def test_two_selected_runs_overlay_their_curves_with_a_legend_of_what_differs(qtbot, make_window, home_runs):
    w = make_window(load_models=False)
    dock = open_runs(qtbot, w)
    wide, narrow = home_runs["wide"], home_runs["narrow"]
    dock.select({wide.run_id, narrow.run_id})
    assert [r.run_id for r in dock.selected_runs()] == [narrow.run_id, wide.run_id]  # the newest first
    items = dock.curves.items
    assert len(items) == 2
    for item in items:
        steps = item.run.steps
        assert steps == len(item.run.losses()) > 0
        assert len(item.batches.xData) == len(item.smoothed.yData) == steps
        assert list(item.validation.xData) == [float(e["step"]) for e in item.run.epochs] and len(item.validation.xData) == 2
    assert items[0].batches.opts["pen"].color() != items[1].batches.opts["pen"].color()  # each run its colour
    assert dock.curves.legend_texts() == [f"{narrow.short_id}: bottleneck=2", f"{wide.short_id}: bottleneck=64"]
    assert dock.export_button.isEnabled() and not dock.open_button.isEnabled()  # Open: one run at a time
    png = dock.export(dock.selected_runs(), str(w.settings.fileName()).replace(".ini", ".png"))
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_delete_asks_then_removes_the_record_and_its_row_and_keeps_the_model(qtbot, make_window, home_runs, monkeypatch):
    w = make_window(load_models=False)
    dock = open_runs(qtbot, w)
    wide = home_runs["wide"]
    dock.select({wide.run_id})
    asked = []
    monkeypatch.setattr(dock, "ask_delete", lambda text, models: asked.append((text, models)) or None)
    dock.delete_selected()  # cancelled: nothing goes
    assert wide.folder.is_dir() and dock.table.rowCount() == 3
    assert asked[0][1] == ["wide"] and wide.short_id in asked[0][0] and "record" in asked[0][0]  # its model is offered
    monkeypatch.setattr(dock, "ask_delete", lambda text, models: False)  # yes, the record only
    dock.delete_selected()
    assert not wide.folder.exists() and dock.table.rowCount() == 2
    assert "wide" not in column(dock, "model") and Path(wide.model["path"]).is_file()
    assert dock.status.text() == "Deleted 1 run record(s)."


def test_an_unreadable_record_is_listed_greyed_with_its_reason(qtbot, make_window, home_runs, _isolated_home):
    broken = _isolated_home / "runs" / "deadbeef"
    broken.mkdir()
    (broken / "run.json").write_text('{"format": "desktop-denoiser-run/1", "sta')  # half-written
    w = make_window(load_models=False)
    dock = open_runs(qtbot, w)
    assert dock.table.rowCount() == 4
    row = next(r for r in range(4) if dock.proxy.index(r, dock.table.column_of("run")).data() == "deadbeef")
    ended = dock.proxy.index(row, dock.table.column_of("ended"))
    assert ended.data() == "unreadable: run.json is unreadable (JSONDecodeError)"
    assert ended.data(Qt.ItemDataRole.ForegroundRole).color() == GREY
    dock.select({"deadbeef"})
    assert not dock.rerun_button.isEnabled() and not dock.open_button.isEnabled() and dock.delete_button.isEnabled()
    assert dock.curves.items == [] and "1 unreadable" in dock.status.text()


def test_rerun_trains_the_same_config_then_open_model_goes_back(qtbot, make_window, home_runs):
    from desktop_denoiser.core.training import TrainConfig

    w = make_window()
    dock = open_runs(qtbot, w)
    wide = home_runs["wide"]
    dock.select({wide.run_id})
    assert dock.rerun()
    assert w.training_control.thread.process.config == TrainConfig.from_dict(wide.config)
    assert w.training_control.thread.process.config.to_dict() == wide.config
    assert not dock.rerun() and w.message_boxes[-1].text().startswith("A training is already running")
    w.message_boxes[-1].done(0)
    qtbot.waitUntil(lambda: not w.is_training(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: dock.table.rowCount() == 4, timeout=10_000)
    new = next(r for r in dock.table.runs if r.run_id not in {x.run_id for x in home_runs.values()})
    assert new.config == wide.config and new.state == "finished" and new.origin == "window"
    # the panel keeps the last run's curves after its end, hidden and shown again, with a caption
    panel = w.training
    shown = (list(panel.train_curve.xData), list(panel.val_curve.xData))
    assert len(shown[0]) >= 2 and shown[0][-1] == new.steps and shown[1] == [float(e["step"]) for e in new.epochs]
    w.training_dock.raise_()
    w.training_dock.hide()
    w.training_dock.show()
    assert (list(panel.train_curve.xData), list(panel.val_curve.xData)) == shown
    assert panel.curves_caption.text().startswith(f"Curves of the last run (run {new.short_id}, done): dense, noise uniform")
    qtbot.waitUntil(lambda: w._models.denoiser.name == new.model["name"] != "wide", timeout=TIMEOUT)
    dock.raise_()  # measured in the window, the run has its PSNR: the view re-reads it
    row = next(r for r in range(dock.proxy.rowCount()) if dock.proxy.index(r, 0).data(RUN_ROLE).run_id == new.run_id)
    qtbot.waitUntil(lambda: dock.proxy.index(row, dock.table.column_of("PSNR")).data().endswith(" dB"), timeout=TIMEOUT)
    # Open model: back to the first run's model
    dock.raise_()
    dock.select({wide.run_id})
    assert dock.open_button.isEnabled()
    dock.open_model()
    qtbot.waitUntil(lambda: w._models.denoiser.name == "wide", timeout=TIMEOUT)


def test_delete_never_offers_a_shipped_model(qtbot, make_window, home_runs, monkeypatch, tmp_path, recorded):
    from desktop_denoiser.core.store import ModelStore

    w = make_window(load_models=False)
    w.store = ModelStore(bundled_dir=recorded[1].user_dir, user_dir=tmp_path / "own")  # "wide" now ships with the app
    dock = open_runs(qtbot, w)
    wide = home_runs["wide"]
    dock.select({wide.run_id})
    asked = []

    def answer_models_too(text, models):  # the person's answer to the question: "delete the models too"
        asked.append((text, models))
        return True

    monkeypatch.setattr(dock, "ask_delete", answer_models_too)
    dock.delete_selected()
    assert asked[0][1] == [] and "wide ship(s) with the app and will be kept" in asked[0][0]
    assert not wide.folder.exists() and Path(wide.model["path"]).is_file() and dock.table.rowCount() == 2
