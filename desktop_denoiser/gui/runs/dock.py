"""The Runs view (View › Runs, Ctrl+Shift+R): every recorded training, compared, reopened, re-run.

:class:`RunsDock` shows the runs of the user's data folder (``core.runs.all_runs``) in a
sortable table (:mod:`.table`) and the loss curves of the selected ones overlaid
(:mod:`.curves`). Its commands work through the host window: Open model (``use_model``),
Re-run (``start_training``: the window's one training at a time), Delete (``core.runs.delete``
and, when asked, ``ModelStore.delete``), Export figure (``core.run_figure``). It re-reads the
runs when shown, when a training ends or its model is measured, and every
:data:`POLL_MS` while a run it shows is running (the live curve of a training in flight: the
recorder writes the run after each epoch). Hidden, it reads nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDockWidget, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QMenu, QMessageBox, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from ...core import run_figure, runs
from ...core.errors import DenoiserError
from ...core.runs import RUNNING, Run
from .curves import RunCurves
from .table import RUN_ROLE, RunsTable, model_cell, sorted_proxy

SHORTCUT = "Ctrl+Shift+R"
POLL_MS = 2000  # while a run is in flight: how often its record is re-read
MAX_COLUMN = 220  # pixels
HEIGHT = 380  # the bottom docks' height when the view first opens docked


class RunsDock(QDockWidget):
    def __init__(self, host, folder: Optional[Path] = None):
        """``host`` is the main window; ``folder`` the runs folder (default: ``core.runs.runs_dir()``)."""
        super().__init__("Runs", host)
        self.setObjectName("runs_dock")
        self.host = host
        self.folder = folder
        self._sized = False
        self._control = None  # the window's TrainingControl (see follow)
        self.table = RunsTable(self)
        self.proxy = sorted_proxy(self.table, self)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # the newest first
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.doubleClicked.connect(lambda _index: self.open_model())
        self.curves = RunCurves()
        self.curves.setMinimumHeight(140)
        self._build(host)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.refresh)
        action = self.toggleViewAction()
        action.setText("&Runs")
        action.setShortcut(QKeySequence(SHORTCUT))
        action.setStatusTip("Every training recorded: compare their curves, open their models, re-run them")
        action.triggered.connect(lambda checked: self.raise_() if checked else None)  # its tab to the front
        self.visibilityChanged.connect(self._visibility)
        self.hide()

    def _build(self, host) -> None:
        self.open_button = QPushButton("Open model")
        self.open_button.setToolTip("Use the selected run's model in the window")
        self.open_button.clicked.connect(self.open_model)
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("Train again with the selected run's exact settings (seed included)")
        self.rerun_button.clicked.connect(self.rerun)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected runs' records (and, if you ask, their models)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.export_button = QPushButton("Export figure…")
        self.export_button.setToolTip("Save the selected runs' curves as a PNG (as 'runs compare --figure')")
        self.export_button.clicked.connect(self.export_dialog)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.rerun_button, self.delete_button, self.export_button, refresh):
            buttons.addWidget(b)
        buttons.addWidget(self.status, 1)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(self.curves)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.setWidget(body)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self._update_buttons()

    def follow(self, control) -> None:
        """Re-read the runs when a training of ``control`` (the window's TrainingControl) ends,
        when its new model has been measured (the run then has its figures), and after each run
        of a sweep."""
        self._control = control
        control.ended.connect(lambda _end: self.refresh_if_shown())
        control.measured.connect(lambda _figures, _entry: self.refresh_if_shown())
        control.sweep_ended.connect(lambda _end: self.refresh_if_shown())
        control.sweep_run_ended.connect(lambda _record: self.refresh_if_shown())

    # the runs ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read every run; the selection is kept (by run id)."""
        chosen = {r.run_id for r in self.selected_runs()}
        found = runs.all_runs(self.folder)
        ids = [r.run_id for r in self.table.runs]
        self.table.set_runs(found)
        if ids != [r.run_id for r in found]:
            self.select(chosen)
            self._fit_columns()
        self._selection_changed()
        in_flight = any(r.state == RUNNING for r in found) or (self._control is not None and self._control.is_training())
        if not (in_flight and self.isVisible()):
            self._poll.stop()
        elif not self._poll.isActive():
            self._poll.start()
        self._say_count(found)

    def _fit_columns(self) -> None:
        """Columns as wide as their contents, none wider than MAX_COLUMN (a long failure message is in its tooltip)."""
        self.view.resizeColumnsToContents()
        header = self.view.horizontalHeader()
        for i in range(header.count()):
            header.resizeSection(i, min(header.sectionSize(i), MAX_COLUMN))

    def refresh_if_shown(self) -> None:
        if self.isVisible():
            self.refresh()

    def _say_count(self, found: list[Run]) -> None:
        broken = sum(1 for r in found if r.error)
        running = sum(1 for r in found if r.state == RUNNING)
        text = f"{len(found)} run(s)" + (f", {running} running" if running else "") + \
            (f", {broken} unreadable" if broken else "")
        self.status.setText(text if found else f"No training recorded yet in {self.folder or runs.runs_dir()}.")

    def selected_runs(self) -> list[Run]:
        """The selected runs, in the table's order."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.proxy.index(r, 0).data(RUN_ROLE) for r in rows]

    def select(self, run_ids) -> None:
        """Select the rows of ``run_ids`` (nothing else)."""
        model = self.view.selectionModel()
        model.clearSelection()
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(RUN_ROLE).run_id in run_ids:
                model.select(self.proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                             | QItemSelectionModel.SelectionFlag.Rows)

    def _selection_changed(self, *_args) -> None:
        self.curves.show_runs(self.selected_runs())
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = self.selected_runs()
        one = chosen[0] if len(chosen) == 1 else None
        self.open_button.setEnabled(one is not None and not one.error and bool(one.model.get("saved")))
        self.rerun_button.setEnabled(one is not None and not one.error and bool(one.config))
        self.delete_button.setEnabled(bool(chosen))
        self.export_button.setEnabled(any(not r.error for r in chosen))

    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        for button in (self.open_button, self.rerun_button, self.delete_button, self.export_button):
            action = QAction(button.text(), menu)
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
            menu.addAction(action)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    # commands ----------------------------------------------------------------------------------

    def _one(self) -> Optional[Run]:
        chosen = self.selected_runs()
        return chosen[0] if len(chosen) == 1 else None

    def _model_entry(self, run: Run):
        """The store's entry of the run's model (None when it is gone: deleted, or not in the store)."""
        name, path = run.model.get("name"), run.model.get("path")
        if not name or not run.model.get("saved"):
            return None
        entry = next((e for e in self.host.store.entries() if e.name == name), None)
        if entry is None or (path and Path(path).resolve() != entry.path.resolve()):
            return None
        return entry

    def open_model(self) -> None:
        """Make the selected run's model the window's denoiser (or classifier)."""
        run = self._one()
        if run is None or run.error:
            return
        entry = self._model_entry(run)
        if entry is None:
            self.host.show_error("Open model", f"The model of run {run.short_id} is not in your models any more "
                                               f"({model_cell(run)}).")
            return
        if entry.error:
            self.host.show_error("Open model", f"{entry.name} is unusable: {entry.error}")
            return
        self.host.use_model(entry)
        self.status.setText(f"Loading {entry.name}…")

    def rerun(self) -> bool:
        """Train again with the selected run's configuration (refused while a training runs)."""
        from ...core.training import TrainConfig

        run = self._one()
        if run is None or run.error:
            return False
        try:
            config = TrainConfig.from_dict(run.config).validate()
        except (DenoiserError, TypeError, ValueError, KeyError) as exc:
            self.host.show_error("Re-run", f"The settings of run {run.short_id} cannot be used: {exc}")
            return False
        if not self.host.start_training(config, run.model.get("name") or ""):
            return False
        self.status.setText(f"Re-running {run.short_id}: the new run appears here when it starts.")
        self._poll.start()
        return True

    def delete_selected(self) -> None:
        """Ask, then delete the selected runs' records (and their models, when asked)."""
        chosen = self.selected_runs()
        if not chosen:
            return
        running = [r for r in chosen if r.state == RUNNING]
        if running:
            self.host.show_error("Delete runs", f"Run {running[0].short_id} is still running; cancel it or wait for it.")
            return
        models = [e for e in (self._model_entry(r) for r in chosen if not r.error) if e is not None]
        own = [e for e in models if e.source != "bundled"]
        shipped = [e for e in models if e.source == "bundled"]
        ids = ", ".join(r.short_id for r in chosen)
        text = (f"Delete the record of {len(chosen)} run(s) ({ids}): its settings, losses and figures?"
                + (f"\n\n{', '.join(e.name for e in shipped)} ship(s) with the app and will be kept." if shipped else ""))
        answer = self.ask_delete(text, [e.name for e in own])
        if answer is None:
            return
        self.delete_runs(chosen, own if answer else [])

    def ask_delete(self, text: str, models: list[str]) -> Optional[bool]:
        """The question: None to keep everything, else whether to delete the models too."""
        box = QMessageBox(QMessageBox.Icon.Question, "Delete runs", text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        check = None
        if models:
            check = QCheckBox(f"Also delete the model(s) {', '.join(models)}")
            box.setCheckBox(check)
        if box.exec() != QMessageBox.StandardButton.Yes:
            return None
        return bool(check is not None and check.isChecked())

    def delete_runs(self, chosen: list[Run], models: list) -> None:
        """Delete the records of ``chosen`` and the store's ``models`` (entries); say what went."""
        done, problems = [], []
        for run in chosen:
            try:
                runs.delete(run)
                done.append(run.short_id)
            except DenoiserError as exc:
                problems.append(str(exc))
        deleted_models = []
        for entry in models:
            try:
                self.host.store.delete(entry.name)
                deleted_models.append(entry.name)
            except DenoiserError as exc:
                problems.append(str(exc))
        if deleted_models:
            self.host.model_files.changed.emit()  # the window reloads if its model went
        self.refresh()
        said = f"Deleted {len(done)} run record(s)" + (f" and the model(s) {', '.join(deleted_models)}" if deleted_models else "")
        self.status.setText(said + ".")
        if problems:
            self.host.show_error("Delete runs", "\n".join(problems))

    def export_dialog(self) -> None:
        chosen = [r for r in self.selected_runs() if not r.error]
        if not chosen:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the curves", str(Path.home() / "runs.png"), "PNG images (*.png)")
        if path:
            self.export(chosen, path if path.lower().endswith(".png") else path + ".png")

    def export(self, chosen: list[Run], path: str) -> Optional[Path]:
        """The figure of ``runs compare --figure`` (the file dialog has asked before replacing a file)."""
        try:
            written = run_figure.write(chosen, path, overwrite=True)
        except DenoiserError as exc:
            self.host.show_error("Export figure", str(exc))
            return None
        self.status.setText(f"Saved {written}")
        return written

    # showing -----------------------------------------------------------------------------------

    def _visibility(self, visible: bool) -> None:
        if not visible:
            self._poll.stop()
            return
        self.refresh()
        if not self._sized and not self.isFloating():
            self._sized = True
            QTimer.singleShot(0, self._first_sizes)

    def _first_sizes(self) -> None:
        """The first time it opens docked: HEIGHT tall, the table three fifths of the width."""
        self.host.resizeDocks([self], [max(self.height(), HEIGHT)], Qt.Orientation.Vertical)
        width = self.splitter.width()
        self.splitter.setSizes([width * 3 // 5, width - width * 3 // 5])
