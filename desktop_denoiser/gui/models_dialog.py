"""Model › Manage: every model with its metadata; delete your own."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from ..core.errors import DenoiserError
from ..core.figures import ModelFigures
from .descriptions import describe_entry

COLUMNS = ("Name", "Kind", "Architecture", "Noise", "Test figures", "Created", "Where")


class ModelsDialog(QDialog):
    changed = Signal()

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.setWindowTitle("Models")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Shipped models: {store.bundled_dir}<br>Your models: {store.user_dir}"))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row.addWidget(self.delete_button)
        row.addWidget(close)
        layout.addLayout(row)
        self.resize(900, 360)
        self.refresh()

    def refresh(self) -> None:
        entries = self.store.entries()
        self.table.setRowCount(len(entries))
        for r, e in enumerate(entries):
            values = (e.name, e.kind, e.architecture, e.meta.get("noise_label", "") if e.kind == "denoiser" else "",
                      ModelFigures.of_entry(e).short(), str(e.meta.get("created", ""))[:10],
                      e.source if not e.error else f"{e.source} — unusable")
            for c, v in enumerate(values):
                item = QTableWidgetItem(str(v))
                item.setToolTip(describe_entry(e))
                item.setData(Qt.ItemDataRole.UserRole, e.name)
                self.table.setItem(r, c, item)

    def delete_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        name = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        try:
            self.store.delete(name)
        except DenoiserError as exc:
            QMessageBox.warning(self, "Delete model", str(exc))
            return
        self.refresh()
        self.changed.emit()
