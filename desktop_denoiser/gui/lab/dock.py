"""The autoencoder lab's dock: one tab per view, following the window's active denoiser.

:class:`LabDock` owns a :class:`~.session.LabSession` and the views. While the dock is hidden
the lab costs nothing: no frame hook, no jobs, and a model change only marks it stale (it is
rebuilt when shown). The host is the main window: ``store``, ``inference``, ``run_job(fn,
done)``, ``schedule_update()``, ``show_digit(digit, name)`` and the ``frame_shown`` signal.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QTabWidget, QVBoxLayout, QWidget

from .compare_view import CompareView
from .inside_view import InsideView
from .interpolate_view import InterpolateView
from .iterate_view import IterateView
from .manifold_view import ManifoldView
from .map_view import MapView
from .session import LabSession

SHORTCUT = "Ctrl+Shift+L"  # Ctrl+L is Model › Load model…
WIDTH = 560  # the dock's width when it first opens docked
MAIN_WIDTH = 1040  # what the window keeps for its own parts then (it grows to make room, within the screen)


class LabDock(QDockWidget):
    def __init__(self, host):
        super().__init__("Autoencoder lab", host)
        self.setObjectName("lab_dock")
        self.host = host
        self._sized = False  # room made once per run (afterwards the person's sizes stay)
        self.session = LabSession(host, self)
        s = self.session
        self.map_view, self.manifold_view = MapView(s), ManifoldView(s)
        self.interpolate_view, self.iterate_view = InterpolateView(s), IterateView(s)
        self.inside_view, self.compare_view = InsideView(s), CompareView(s, host.store)
        self.views = [self.map_view, self.manifold_view, self.interpolate_view, self.iterate_view,
                      self.inside_view, self.compare_view]
        self.tabs = QTabWidget()
        for view in self.views:
            self.tabs.addTab(view, view.tab_title)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        self.setWidget(body)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        action = self.toggleViewAction()
        action.setText("Autoencoder &lab")
        action.setShortcut(QKeySequence(SHORTCUT))
        action.setStatusTip("The latent map, manifold, interpolation, iteration, layers and a comparison "
                            "of the active denoiser")
        s.lab_changed.connect(self._lab_changed)
        s.map_changed.connect(self._map_changed)
        s.status.connect(self._status)
        self.map_view.digit_chosen.connect(host.show_digit)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.visibilityChanged.connect(self._visibility)
        host.frame_shown.connect(self.show_frame)
        host.inference.models_ready.connect(s.models_loaded)
        self.hide()
        self._tab_changed(self.tabs.currentIndex())

    @property
    def current_view(self):
        return self.views[self.tabs.currentIndex()]

    def show_frame(self, frame) -> None:
        """Every frame the window shows; only kept while hidden (the views catch up when shown)."""
        self.session.frame = frame
        if self.session.active:
            self.current_view.frame_changed(frame)

    def _visibility(self, visible: bool) -> None:
        self.session.set_active(visible)
        if visible:
            self._make_room()
            self.current_view.shown()

    def _tab_changed(self, index: int) -> None:
        for i, view in enumerate(self.views):
            view.current = i == index
        if self.session.active:
            self.views[index].shown()

    def _lab_changed(self, lab) -> None:
        for view in self.views:
            view.lab_changed(lab)
        self._status(self.session.text)

    def _map_changed(self, latent_map) -> None:
        for view in self.views:
            view.map_changed(latent_map)

    def _status(self, text: str) -> None:
        lab = self.session.lab
        if text or lab is None:
            self.status.setText(text or " ")
        elif lab.has_code:
            self.status.setText(f"<b>{lab.name}</b>: its bottleneck is {lab.bottleneck.description}")
        else:
            self.status.setText(f"<b>{lab.name}</b>: no bottleneck to map (why: the Inside tab)")

    def _make_room(self) -> None:
        """The first time the lab opens docked: widen the window (within its screen) so that its
        own parts keep their width, and give the dock WIDTH."""
        host = self.host
        if self._sized or self.isFloating() or host.isMaximized() or host.isFullScreen():
            return
        self._sized = True
        main = max(MAIN_WIDTH, host.centralWidget().minimumSizeHint().width())
        if host.width() < main + WIDTH and host.screen() is not None:
            screen = host.screen().availableGeometry()
            room = screen.right() + 1 - host.frameGeometry().left() - (host.frameGeometry().width() - host.width())
            host.resize(max(host.width(), min(main + WIDTH, room)), host.height())
        # after the window's resize has been laid out
        QTimer.singleShot(0, lambda: host.resizeDocks([self], [max(min(WIDTH, host.width() - main), 460)],
                                                      Qt.Orientation.Horizontal))

    # settings ----------------------------------------------------------------------------------

    def restore_settings(self, settings) -> None:
        self.tabs.setCurrentIndex(int(settings.value("lab/tab", 0) or 0))

    def save_settings(self, settings) -> None:
        settings.setValue("lab/tab", self.tabs.currentIndex())

