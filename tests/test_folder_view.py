"""The window's folder view (File › Open folder…, issue 15), offscreen, with the real window, the
shipped models (read only), real threads and the labelled folder of test_digit_folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from desktop_denoiser.core import file_work  # noqa: E402
from test_digit_folder import BUNDLED, make_folder  # noqa: E402

TIMEOUT = 120_000


@pytest.fixture
def window(qtbot, tmp_path):
    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.gui.main_window import MainWindow

    store = ModelStore(bundled_dir=BUNDLED, user_dir=tmp_path / "user_models")
    w = MainWindow(store=store, settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitUntil(lambda: w._models is not None, timeout=TIMEOUT)
    yield w
    w.close()


@pytest.fixture
def digits(mnist, tmp_path) -> Path:
    root = tmp_path / "digits"
    make_folder(mnist, root)
    return root


def test_open_folder_shows_the_matrix_and_opens_a_digit_in_the_tiles(qtbot, window, digits, tmp_path):
    view = window.open_folder(str(digits))
    assert view.isVisible() and view is window.folder_view
    qtbot.waitUntil(lambda: view.result is not None, timeout=TIMEOUT)
    r = view.result
    assert r.root == digits and len(r) == 99 and r.noise is None and r.denoiser == "unet-mixed"
    m = r.confusion
    cells = np.array([[int(view.matrix.item(t, p).data(Qt.ItemDataRole.UserRole)) for p in range(10)] for t in range(10)])
    assert np.array_equal(cells, m) and cells.sum() == 99
    assert [view.matrix.item(t, 10).text() for t in range(10)] == [str(int(c)) for c in r.counts]
    assert view.matrix.item(7, 11).text() == "–" and view.matrix.item(0, 11).text() == f"{100 * r.per_digit[0]:.1f}%"
    assert f"{100 * r.accuracy:.1f}%" in view.summary.text()
    problems = view.problems.toPlainText().splitlines()
    assert len(problems) == 5 and any("broken.png" in p for p in problems)
    assert not window.message_boxes  # the problems are in the view, not one dialog per file
    assert len(view.thumbnails) == len(r.misread())

    # a cell of the matrix: its digits (on the diagonal, those read right)
    item = view.matrix.item(0, 0)
    qtbot.mouseClick(view.matrix.viewport(), Qt.MouseButton.LeftButton, pos=view.matrix.visualItemRect(item).center())
    assert view.selected == (0, 0) and len(view.thumbnails) == m[0, 0]
    assert {t.item.path for t in view.thumbnails} == {p for p, y in zip(r.paths, r.labels) if y == 0}

    # a thumbnail: its file in the tiles, as File › Open does
    thumb = view.thumbnails[0]
    path = thumb.item.path
    n = window.frames_shown
    with qtbot.waitSignal(window.image_opened, timeout=TIMEOUT) as opened:
        qtbot.mouseClick(thumb, Qt.MouseButton.LeftButton)
    assert opened.args == [True, str(path)]
    qtbot.waitUntil(lambda: window.frames_shown > n and window._last is not None
                    and window._last.probs_reconstruction is not None, timeout=TIMEOUT)
    assert np.allclose(window._last.clean, file_work.prepare_file(path).clean)
    assert window.inputs.currentIndex() == 1  # the Image tab

    # the report, from the view
    report = tmp_path / "own.html"
    assert view.export(str(report))
    assert report.read_text("utf-8").count("data:image/png;base64,") == 2 * len(r.misread())
    assert not view.export(str(report))  # never replaced without being asked
    assert "exists" in window.message_boxes[-1].text()


def test_an_unlabelled_folder_is_one_clear_message(qtbot, window, digits):
    view = window.open_folder(str(digits / "x"))
    qtbot.waitUntil(lambda: bool(window.message_boxes), timeout=TIMEOUT)
    box = window.message_boxes[-1]
    assert isinstance(box, QMessageBox) and "no digit subfolders 0/ to 9/" in box.text()
    assert view.result is None and "0/ to 9/" in view.summary.text() and not view.progress.isVisible()


def test_file_open_folder_asks_for_a_folder_and_opens_it(qtbot, window, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    action = next(a for a in file_menu.actions() if a.text() == "Open &folder…")
    assert action.shortcut().toString() == "Ctrl+Shift+O"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path)))
    opened = []
    monkeypatch.setattr(window, "open_folder", opened.append)
    action.trigger()
    assert opened == [str(tmp_path)] and window.settings.value("files/last_folder") == str(tmp_path)


def test_the_view_fits_a_laptop_screen_beside_the_tiles(qtbot, window, digits):
    """Opening the view keeps the window as wide as it was (1366 px, a common laptop): before, the
    dock's minimum width (its confusion matrix) beside the tiles widened the window to 1515 px, past
    the screen's edge, with the view's buttons cut off."""
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366, timeout=5_000)
    view = window.open_folder(str(digits))
    qtbot.waitUntil(lambda: view.result is not None, timeout=TIMEOUT)
    qtbot.wait(200)  # the layout settles after the matrix is filled
    assert window.width() == 1366
    assert view.width() >= 300 and view.export_button.isVisible()  # the dock still has room to work in
