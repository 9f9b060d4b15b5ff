"""The folder view (File › Open folder…): how the models read a labelled folder of one's own digits.

:class:`FolderView` is a dock that reads the folder (``core.digit_folder.read_folder``, in a
background thread, decoding on every core, with a progress bar), then evaluates it in the
inference thread (``core.folder_evaluation.evaluate_folder`` through the host's ``run_job``),
and shows the accuracy overall and per digit, the confusion matrix (a shaded QTableWidget) and
the misread digits as clickable thumbnails. Clicking a cell of the matrix shows the digits of
that (true, read) pair; clicking a thumbnail opens its file in the tiles as File › Open does.
The problems met while reading (unreadable files, odd folders) are listed in the view, not one
dialog per file. Export writes the core report (``core.folder_report``: HTML or PNG).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QDockWidget, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QHeaderView,
                               QLabel, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..core import digit_folder, folder_evaluation, folder_report
from ..core.errors import DenoiserError
from .background import Background
from .tiles import PixelView, array_to_qimage

THUMBNAILS = 120  # thumbnails shown at once (the report lists more)
THUMB = 56  # px: a 28×28 digit at 2×
COLUMNS = 4  # thumbnails per row
REPORT_FILTER = "HTML report (*.html);;PNG figure (*.png)"


class Thumbnail(QFrame):
    """One digit: what the denoiser saw, its reconstruction, and what was read; a click opens the file."""

    clicked = Signal(str)  # the file's path

    def __init__(self, item: folder_evaluation.Misread, parent=None):
        super().__init__(parent)
        self.item = item
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{item.path}\ntrue {item.true}, read {item.predicted} "
                        f"({folder_report.percent(item.p_predicted)}), p({item.true}) = {folder_report.percent(item.p_true)}"
                        "\nClick to open it in the tiles")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 3, 3, 3)
        layout.setSpacing(2)
        row = QHBoxLayout()
        row.setSpacing(2)
        self.views = []
        for image in (item.noisy, item.reconstruction):
            view = PixelView(minimum=THUMB)
            view.setFixedSize(THUMB, THUMB)
            view.set_image(array_to_qimage(image))
            row.addWidget(view)
            self.views.append(view)
        layout.addLayout(row)
        self.caption = QLabel(f"{item.true} → {item.predicted} ({folder_report.percent(item.p_predicted)})")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.caption)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(str(self.item.path))
        super().mousePressEvent(event)


class _Progress(QObject):
    """Carries the reading's progress from its thread to the GUI thread (a queued signal)."""

    changed = Signal(int, int)


class FolderView(QDockWidget):
    """``host``: the main window (``run_job``, ``open_image``, ``noise``, ``show_error``, ``model_names``)."""

    evaluated = Signal(object)  # core.folder_evaluation.FolderEvaluation, once shown
    failed = Signal(str)  # why a folder could not be read or evaluated

    def __init__(self, host):
        super().__init__("Your own digits", host)
        self.setObjectName("folder_dock")
        self.host = host
        self.folder: Optional[digit_folder.DigitFolder] = None
        self.result: Optional[folder_evaluation.FolderEvaluation] = None
        self.selected: Optional[tuple[int, int]] = None  # the matrix cell shown, None: all misread
        self.thumbnails: list[Thumbnail] = []
        self._reading = 0  # the newest folder read (an older one that ends later is dropped)
        self._token = 0  # the newest evaluation
        self._busy_reading = False
        self._background = Background(self)
        self._progress = _Progress(self)
        self._progress.changed.connect(self._show_progress)
        self._build()

    # layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        body = QWidget()
        v = QVBoxLayout(body)
        self.summary = QLabel("File › Open folder… reads a folder with one subfolder per digit, 0/ to 9/.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.summary)
        buttons = QHBoxLayout()
        self.with_noise = QCheckBox("Add the window's noise")
        self.with_noise.setToolTip("Corrupt every digit with the noise set beside the tiles (seeded) before denoising")
        self.with_noise.toggled.connect(lambda _on: self.evaluate())
        self.again = QPushButton("Evaluate again")
        self.again.setToolTip("With the models and noise now chosen")
        self.again.clicked.connect(self.evaluate)
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("An HTML report (the misread digits as images) or a PNG figure")
        self.export_button.clicked.connect(self.export_dialog)
        buttons.addWidget(self.with_noise)
        buttons.addStretch(1)
        buttons.addWidget(self.again)
        buttons.addWidget(self.export_button)
        v.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        v.addWidget(self.progress)

        self.matrix = QTableWidget(10, 12)
        self.matrix.setHorizontalHeaderLabels([str(d) for d in range(10)] + ["images", "accuracy"])
        self.matrix.setVerticalHeaderLabels([str(d) for d in range(10)])
        self.matrix.setToolTip("Rows: the digit of the folder; columns: the digit read. Click a cell to see its digits.")
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.matrix.horizontalHeader().setMinimumSectionSize(26)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        self.matrix.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.matrix.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.matrix.cellClicked.connect(self.select_cell)
        left = self.matrix_box = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("Confusion matrix (rows: true digit, columns: read)"))
        lv.addWidget(self.matrix)
        lv.addStretch(1)
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.problems.setPlaceholderText("Files and folders left out while reading are listed here.")
        right = QWidget()
        pv = QVBoxLayout(right)
        pv.setContentsMargins(0, 0, 0, 0)
        self.problems_title = QLabel("Left out while reading")
        pv.addWidget(self.problems_title)
        pv.addWidget(self.problems, 1)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(right)
        top.setStretchFactor(1, 1)

        bottom = QWidget()
        bv = QVBoxLayout(bottom)
        bv.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.sheet_title = QLabel("Misread digits")
        self.show_all = QPushButton("All misread")
        self.show_all.setToolTip("Back to every misread digit, the worst first")
        self.show_all.clicked.connect(lambda: self.select_cell(-1, -1))
        head.addWidget(self.sheet_title, 1)
        head.addWidget(self.show_all)
        bv.addLayout(head)
        self.sheet = QWidget()
        self.sheet_grid = QGridLayout(self.sheet)
        self.sheet_grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.sheet)
        bv.addWidget(scroll, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(1, 1)
        v.addWidget(split, 1)
        # In a scroll area, so that the dock asks for little width: the matrix alone is about 420 px,
        # and the dock's minimum beside the tiles' 950 px widened the window past a 1366 px screen.
        holder = QScrollArea()
        holder.setWidgetResizable(True)
        holder.setFrameShape(QFrame.Shape.NoFrame)
        holder.setWidget(body)
        self.setWidget(holder)
        self._set_busy(False)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        if busy:
            self.progress.setFormat(text + " %v/%m" if text else "%v/%m")
        for w in (self.again, self.export_button):
            w.setEnabled(not busy and (self.folder is not None if w is self.again else self.result is not None))

    # reading and evaluating -----------------------------------------------------------------------

    def open_folder(self, path: str) -> None:
        """Read the folder in a background thread (decoding on every core), then evaluate it."""
        self._reading += 1
        self._token += 1  # an evaluation still running is of another folder: dropped
        token = self._reading
        self._busy_reading = True
        self.summary.setText(f"Reading {path}…")
        self.progress.setRange(0, 0)
        self._set_busy(True, "Reading files")

        def progress(done: int, total: int) -> None:
            try:
                self._progress.changed.emit(done, total)
            except RuntimeError:  # the view is gone
                pass

        self._background.run(lambda: digit_folder.read_folder(path, labelled=True, on_progress=progress),
                             lambda folder, error: self._read(token, path, folder, error), name="folder-reader")

    def _show_progress(self, done: int, total: int) -> None:
        if self.progress.isVisible():
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def _read(self, token: int, path: str, folder, error) -> None:
        if token != self._reading:
            return
        self._busy_reading = False
        if error is not None:
            text = str(error) if isinstance(error, DenoiserError) else f"Cannot read {path}: {error}"
            self._set_busy(False)
            self.summary.setText(text)
            self.failed.emit(text)
            self.host.show_error("Open folder", text)
            return
        self.folder = folder
        self.problems.setPlainText("\n".join(folder.problems))
        self.problems_title.setText(f"Left out while reading: {len(folder.problems)}" if folder.problems
                                    else "Left out while reading: nothing")
        self.evaluate()

    def evaluate(self) -> None:
        """Denoise and classify the folder's digits in the inference thread, with the models in use."""
        folder = self.folder
        if folder is None or self._busy_reading:
            return
        self._token += 1
        token = self._token
        noise = self.host.noise.spec() if self.with_noise.isChecked() else None
        seed = self.host.noise.seed_value()
        denoiser, classifier = self.host.model_names()
        self.summary.setText(f"Denoising and reading {len(folder)} digits of {folder.root}…")
        self.progress.setRange(0, 0)
        self._set_busy(True, "Denoising and reading")

        def job(pipeline):
            try:
                return folder_evaluation.evaluate_folder(pipeline, folder, noise, seed, denoiser or "-", classifier or "-",
                                                         on_progress=self._progress.changed.emit)
            except DenoiserError as exc:  # (no classifier yet, ...): said in the view, in the GUI thread
                return exc
            except Exception as exc:  # noqa: BLE001 - the view must hear how the job ended, and say it
                traceback.print_exc()
                return DenoiserError(f"The evaluation failed: {exc}")

        def done(result) -> None:
            if token != self._token:
                return
            if isinstance(result, DenoiserError):
                self._set_busy(False)
                self.summary.setText(str(result))
                self.failed.emit(str(result))
                self.host.show_error("Evaluate folder", str(result))
            else:
                self.show_result(result)

        self.host.run_job(job, done)

    # showing -------------------------------------------------------------------------------------

    def show_result(self, result: folder_evaluation.FolderEvaluation) -> None:
        self.result = result
        self._set_busy(False)
        head, acc = folder_report.summary_lines(result)
        problems = f"; {len(result.problems)} left out (below)" if result.problems else ""
        self.summary.setText(f"<b>{acc}</b><br>{head}{problems}")
        m, per, counts = result.confusion, result.per_digit, result.counts
        black = QColor(0, 0, 0)
        for t in range(10):
            total = int(m[t].sum())
            for p in range(10):
                item = QTableWidgetItem(str(int(m[t, p])) if m[t, p] else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QColor(*folder_report.cell_colour(int(m[t, p]), total, t == p)))
                item.setForeground(black)  # the shading is light in a dark theme too
                item.setData(Qt.ItemDataRole.UserRole, int(m[t, p]))
                item.setToolTip(f"true {t}, read {p}: {int(m[t, p])} of {total}")
                self.matrix.setItem(t, p, item)
            self.matrix.setItem(t, 10, QTableWidgetItem(str(int(counts[t]))))
            self.matrix.setItem(t, 11, QTableWidgetItem(folder_report.percent(per[t])))
        self.matrix.resizeColumnsToContents()
        self.matrix_box.setMinimumWidth(self.matrix.sizeHint().width())
        self.select_cell(-1, -1)
        self.evaluated.emit(result)

    def select_cell(self, row: int, column: int) -> None:
        """Show the digits of the matrix cell (row = true, column = read); (-1, -1): all misread."""
        if self.result is None:
            return
        if 0 <= row < 10 and 0 <= column < 10:
            self.selected = (row, column)
            items = self.result.cell(row, column)
            kind = "read right" if row == column else "misread"
            title = f"true {row}, read {column}: {len(items)} {kind}"
        else:
            self.selected = None
            items = self.result.misread()
            title = f"Misread digits: {len(items)} of {len(self.result)}, the worst first"
        if len(items) > THUMBNAILS:
            title += f" (the first {THUMBNAILS} shown; the report has more)"
        self.sheet_title.setText(title)
        self._fill_sheet(items[:THUMBNAILS])

    def _fill_sheet(self, items) -> None:
        for t in self.thumbnails:
            self.sheet_grid.removeWidget(t)
            t.hide()  # (deleteLater frees it on the next turn of the event loop; hidden now)
            t.setParent(None)
            t.deleteLater()
        self.thumbnails = []
        for k, item in enumerate(items):
            t = Thumbnail(item)
            t.clicked.connect(self.host.open_image)
            self.sheet_grid.addWidget(t, k // COLUMNS, k % COLUMNS)
            self.thumbnails.append(t)

    # export ----------------------------------------------------------------------------------------

    def export_dialog(self) -> None:
        if self.result is None:
            return
        start = str(Path.home() / f"{self.result.root.name or 'digits'}-report.html")
        path, chosen = QFileDialog.getSaveFileName(self, "Export the folder report", start, REPORT_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".png" if "png" in chosen.lower() else ".html"
            self.export(path, overwrite=True)  # the dialog asked before replacing a file

    def export(self, path: str, overwrite: bool = False) -> bool:
        """Write the report (``.html``) or the figure (``.png``) of the result shown."""
        if self.result is None:
            return False
        write = folder_report.write_figure if path.lower().endswith(".png") else folder_report.write_html
        try:
            written = write(self.result, path, overwrite=overwrite)
        except DenoiserError as exc:
            self.host.show_error("Export report", str(exc))
            return False
        self.host.statusBar().showMessage(f"Exported {written}", 4000)
        return True
