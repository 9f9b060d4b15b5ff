"""The autoencoder lab's dock in the window, offscreen, on the tiny trained models (a U-Net, a
conv autoencoder with a 4×4×8 code, a classifier). No timing is asserted here (see
scripts/bench_lab_gui.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402

from desktop_denoiser.core.noise import NoiseSpec  # noqa: E402
from desktop_denoiser.gui.lab.iterate_view import step_change  # noqa: E402
from desktop_denoiser.gui.input_panel import IMAGE, TEST  # noqa: E402
from test_gui import drag  # noqa: E402

TIMEOUT = 120_000
MAP, MANIFOLD, INTERPOLATE, ITERATE, INSIDE, COMPARE = range(6)
DIGIT = re.compile(r"^\d\n\d+%$")  # a narrow tile's caption: the digit over its probability


def open_lab(qtbot, window, tab: int = MAP):
    dock = window.lab_dock
    dock.tabs.setCurrentIndex(tab)
    dock.show()
    qtbot.waitUntil(lambda: dock.session.active, timeout=10_000)
    return dock


def use_model(qtbot, window, name: str, with_map: bool = True):
    """Make ``name`` the window's denoiser and wait until the (visible) lab follows it."""
    session = window.lab_dock.session
    if window._models.denoiser.name != name:
        window.select_denoiser(name)
        qtbot.waitUntil(lambda: window._models.denoiser.name == name, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: session.lab is not None and session.lab.name == name, timeout=TIMEOUT)
    if with_map:
        qtbot.waitUntil(lambda: session.map is not None and session.map.model_name == name, timeout=TIMEOUT)
    return session


def show_test_digit(qtbot, window, index: int = 3, noise: str = "uniform:0.5"):
    """Test digit #index with ``noise`` as the input (MNIST loads in the background first)."""
    window.noise.set_spec(NoiseSpec.parse(noise))
    window.inputs.setCurrentIndex(TEST)
    qtbot.waitUntil(lambda: window.inputs.test_label_value() is not None, timeout=30_000)
    window.inputs.test_index.setValue(index)




def is_current(window, frame) -> bool:
    """The frame is of the input and noise the window holds now (not one still in flight)."""
    payload = window.inputs.payload()
    if payload is None or payload[0] != "ready28":
        return True
    expected = window.noise.spec().apply(payload[1], window.noise.seed_value())
    return np.allclose(frame.clean, payload[1]) and np.allclose(frame.noisy, expected, atol=1e-6)


def next_frame(qtbot, window, cond=lambda f: True):
    """A new frame (a new noise seed) of the current input that satisfies ``cond``."""
    n = window.frames_shown
    window.noise.seed.setValue(window.noise.seed.value() + 1)
    qtbot.waitUntil(lambda: window.frames_shown > n and window._last is not None and is_current(window, window._last)
                    and cond(window._last), timeout=30_000)
    return window._last


def has_markers(frame) -> bool:
    return frame.extras.get("lab") is not None


def test_the_lab_opens_from_the_view_menu_and_is_remembered(qtbot, make_window):
    w = make_window("lab.ini", load_models=False)
    w.show()
    action = w.lab_dock.toggleViewAction()
    view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert action in view_menu.actions() and action.shortcut().toString() == "Ctrl+Shift+L"
    assert w.lab_dock.isHidden()
    action.trigger()
    assert w.lab_dock.isVisible()
    w.lab_dock.tabs.setCurrentIndex(ITERATE)
    w.close()
    w2 = make_window("lab.ini", load_models=False)
    assert not w2.lab_dock.isHidden() and w2.lab_dock.tabs.currentIndex() == ITERATE


def test_markers_arrive_with_their_frame_and_follow_the_stroke(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window)
    session = use_model(qtbot, window, tiny_models.conv_name)
    assert len(session.map.points) == 5000 and session.map.method == "pca"
    assert dock.map_view.stack.currentWidget() is dock.map_view.plot
    show_test_digit(qtbot, window)
    frame = next_frame(qtbot, window, has_markers)
    live = frame.extras["lab"]
    assert live.model == tiny_models.conv_name and live.seconds > 0
    expected = session.map.markers(session.lab, noisy=frame.noisy, clean=frame.clean,
                                   reconstruction=frame.reconstruction)
    shown = dock.map_view.plot.marker_points()
    for name in ("clean", "noisy", "reconstruction"):
        np.testing.assert_allclose(live.markers.points[name], expected.points[name], atol=1e-3)
        np.testing.assert_allclose(shown[name], expected.points[name], atol=1e-3)
    xs, ys = dock.map_view.plot.arrow_line.getData()
    np.testing.assert_allclose([xs[0], ys[0]], expected.points["noisy"], atol=1e-3)
    np.testing.assert_allclose([xs[1], ys[1]], expected.points["reconstruction"], atol=1e-3)
    # drawing: every frame carries its own markers, and the plot shows the last frame's
    window.noise.set_spec(NoiseSpec("none"))
    window.inputs.setCurrentIndex(0)
    seen = []
    window.frame_shown.connect(lambda f: seen.append(f))
    drag(window.inputs.canvas, [(100, 60), (180, 60), (150, 150), (120, 240)])  # a 7
    qtbot.waitUntil(lambda: bool(seen) and has_markers(seen[-1]) and not window._timer.isActive()
                    and window.inference._pending is None, timeout=30_000)
    qtbot.wait(200)
    last = window._last
    expected = session.map.markers(session.lab, noisy=last.noisy, clean=last.clean, reconstruction=last.reconstruction)
    np.testing.assert_allclose(dock.map_view.plot.marker_points()["clean"], expected.points["clean"], atol=1e-3)
    assert all(has_markers(f) for f in seen if not f.empty)


def test_clicking_the_map_decodes_into_the_window_input(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window)
    session = use_model(qtbot, window, tiny_models.conv_name)
    plot = dock.map_view.plot
    qtbot.waitUntil(lambda: plot.isVisible(), timeout=10_000)
    lmap = session.map
    target = lmap.points[42]
    vb = plot.getPlotItem().getViewBox()
    view_pos = plot.mapFromScene(vb.mapViewToScene(QPointF(float(target[0]), float(target[1]))))
    n = window.frames_shown
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(view_pos.x(), view_pos.y()))
    qtbot.waitUntil(lambda: dock.map_view.decoded is not None, timeout=30_000)
    decoded, name = dock.map_view.decoded
    hit = re.search(r"test digit #(\d+)", name)  # the point under the pointer (within a few pixels of #42)
    assert hit is not None, name
    i = int(hit.group(1))
    assert np.hypot(*(lmap.points[i] - target)) < 0.05 * np.ptp(lmap.points[:, 0])
    code = lmap.codes[i]
    np.testing.assert_allclose(decoded, session.lab.decode(code)[0], atol=1e-5)
    qtbot.waitUntil(lambda: window.frames_shown > n and window.inputs.currentIndex() == IMAGE
                    and np.allclose(window._last.clean, decoded, atol=1e-6), timeout=30_000)
    image = window.tile_clean.view.image()
    pixels = np.array([[image.pixelColor(x, y).red() for x in range(28)] for y in range(28)])
    np.testing.assert_allclose(pixels, np.round(np.clip(decoded, 0, 1) * 255), atol=1)
    # a click between the points decodes that map position
    dock.map_view.decoded = None
    plot.clicked.emit(float(target[0]) + 1e3, float(target[1]), -1)
    qtbot.waitUntil(lambda: dock.map_view.decoded is not None, timeout=30_000)
    expected = session.lab.decode(lmap.code_at((float(target[0]) + 1e3, float(target[1]))))[0]
    np.testing.assert_allclose(dock.map_view.decoded[0], expected, atol=1e-5)


def test_interpolation_fills_twelve_tiles_with_digits(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window, INTERPOLATE)
    session = use_model(qtbot, window, tiny_models.conv_name)
    view = dock.interpolate_view
    show_test_digit(qtbot, window, 0, "none")
    frame = next_frame(qtbot, window)
    qtbot.waitUntil(lambda: view.result is not None and np.allclose(view.result.blend[0], frame.clean), timeout=30_000)
    r = view.result
    for row, probs in ((view.latent, r.latent_probs), (view.blend, r.blend_probs)):
        tiles = row.shown()
        assert len(tiles) == 12
        assert all(DIGIT.match(t.caption.text()) for t in tiles), [t.caption.text() for t in tiles]
        digits = [int(t.caption.text()[0]) for t in tiles]
        assert digits == list(np.argmax(probs, axis=1))
        assert [t.highlighted for t in tiles] == [False] + [a != b for a, b in zip(digits, digits[1:])]
    np.testing.assert_allclose(view.latent.tiles[0].array, r.latent[0])
    path = view.plot.paths["interpolation"].getData()
    np.testing.assert_allclose(np.stack(path, axis=1), session.map.place(r.codes), atol=1e-4)
    view.b.index.setValue(7)  # another end: recomputed
    qtbot.waitUntil(lambda: view.result is not r and "test digit #7" in view.about.text(), timeout=30_000)


def test_iteration_shows_distances_and_the_verdict(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window, ITERATE)
    session = use_model(qtbot, window, tiny_models.conv_name)
    view = dock.iterate_view
    show_test_digit(qtbot, window, 5)
    frame = next_frame(qtbot, window)
    qtbot.waitUntil(lambda: view.result is not None and np.allclose(view.result.images[0], frame.noisy), timeout=30_000)
    r = view.result
    assert ("<b>converged</b>" if r.converged else "did not converge") in view.verdict.text()
    tiles = view.row.shown()
    assert len(tiles) == min(len(r.images), 12) and tiles[0].title.text() == "<b>x</b>"
    assert all("Δ" in t.caption.text() for t in tiles[1:])
    assert step_change(r.distances[0]) in tiles[1].caption.text()
    xs, ys = view.curve.getOriginalDataset()  # the plot's y axis is logarithmic
    np.testing.assert_allclose(ys, np.maximum(r.distances, 1e-8), rtol=1e-6)
    path = np.stack(view.plot.paths["iteration"].getData(), axis=1)
    np.testing.assert_allclose(path, session.map.place(r.codes), atol=1e-4)
    view.max_steps.setValue(2)  # fewer steps: stopped at the limit (or converged within two)
    qtbot.waitUntil(lambda: view.result is not r and view.result.steps <= 2, timeout=30_000)


def test_inside_shows_a_map_per_channel_and_the_filters(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window, INSIDE)
    use_model(qtbot, window, tiny_models.conv_name)
    view = dock.inside_view
    show_test_digit(qtbot, window, 1)
    frame = next_frame(qtbot, window)
    qtbot.waitUntil(lambda: view.layers is not None and view.filters is not None and view.input_tile.array is not None
                    and np.allclose(view.input_tile.array, frame.noisy), timeout=30_000)
    assert not view.zero_skips.isVisibleTo(view) and not view.unet_note.isVisibleTo(view)
    for i, layer in enumerate(view.layers):
        view.layer.setCurrentIndex(i)
        want = min(layer.shape[-1], 64) if layer.is_feature_maps else 1
        assert view.shown_maps() == want, (layer.name, layer.shape)
    assert sum(not v.isHidden() for v in view.filter_views) == min(len(view.filters.kernels), 32)
    np.testing.assert_allclose(view.output_tile.array, frame.reconstruction, atol=1e-4)


def test_unet_zero_skips_changes_the_output(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window, INSIDE)
    use_model(qtbot, window, tiny_models.denoiser_name, with_map=False)
    view = dock.inside_view
    show_test_digit(qtbot, window, 2)
    frame = next_frame(qtbot, window)
    qtbot.waitUntil(lambda: view.output_tile.array is not None and view.input_tile.array is not None
                    and np.allclose(view.input_tile.array, frame.noisy), timeout=30_000)
    assert view.zero_skips.isVisibleTo(view) and "3,136" in view.unet_note.text()
    normal = view.output_tile.array.copy()
    np.testing.assert_allclose(normal, frame.reconstruction, atol=1e-4)
    view.zero_skips.setChecked(True)
    qtbot.waitUntil(lambda: "skips zeroed" in view.output_tile.title.text(), timeout=30_000)
    zeroed = view.output_tile.array
    assert np.abs(zeroed - normal).mean() > 1e-3
    view.zero_skips.setChecked(False)
    qtbot.waitUntil(lambda: "skips zeroed" not in view.output_tile.title.text(), timeout=30_000)
    np.testing.assert_allclose(view.output_tile.array, normal, atol=1e-5)


def test_compare_shows_every_denoiser_and_the_filters(qtbot, window, tiny_models):
    from desktop_denoiser.core.lab import compare as compare_mod

    dock = open_lab(qtbot, window, COMPARE)
    use_model(qtbot, window, tiny_models.conv_name)
    view = dock.compare_view
    show_test_digit(qtbot, window, 4)
    frame = next_frame(qtbot, window)
    qtbot.waitUntil(lambda: view.rows is not None and np.allclose(view.rows[0].image, frame.noisy), timeout=TIMEOUT)
    names = [r.name for r in view.rows]
    denoisers = [e.name for e in window.store.entries("denoiser") if not e.error]
    assert names == ["input", *denoisers, *compare_mod.filters()]
    assert {tiny_models.conv_name, tiny_models.denoiser_name} <= set(names)
    cells = [c for c in view.cells if not c.isHidden()]
    assert len(cells) == len(view.rows)
    assert all(np.isfinite(r.psnr) and np.isfinite(r.ssim) and 0 <= r.digit <= 9 for r in view.rows)
    assert [c.title.text() for c in cells] == [f"<b>{n}</b>" for n in names]
    assert all("dB" in c.caption.text() and "digit" in c.caption.text() for c in cells)
    row = names.index(tiny_models.conv_name)
    np.testing.assert_allclose(view.rows[row].image, frame.reconstruction, atol=1e-4)


def test_a_model_without_a_bottleneck_explains_why(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window)
    session = use_model(qtbot, window, tiny_models.denoiser_name, with_map=False)
    assert not session.lab.has_code and session.map is None
    for view in (dock.map_view, dock.manifold_view):
        assert view.stack.currentWidget() is view.note
        text = view.note.text()
        assert "has no" in text and "3,136" in text and "skip" in text and "dense-2d" in text
    show_test_digit(qtbot, window)
    frame = next_frame(qtbot, window)
    assert "lab" not in frame.extras and window.inference.frame_extras() == ()


def test_hiding_the_lab_removes_the_frame_hook(qtbot, window, tiny_models):
    dock = open_lab(qtbot, window)
    session = use_model(qtbot, window, tiny_models.conv_name)
    show_test_digit(qtbot, window)
    next_frame(qtbot, window, has_markers)
    assert window.inference.frame_extras() == ("lab",)
    dock.hide()
    assert not session.active and window.inference.frame_extras() == ()
    frame = next_frame(qtbot, window)
    assert "lab" not in frame.extras
    # a model chosen while the lab is hidden is not prepared for it
    window.select_denoiser(tiny_models.denoiser_name)
    qtbot.waitUntil(lambda: window._models.denoiser.name == tiny_models.denoiser_name, timeout=TIMEOUT)
    next_frame(qtbot, window)
    assert session.lab is None
    window.select_denoiser(tiny_models.conv_name)
    qtbot.waitUntil(lambda: window._models.denoiser.name == tiny_models.conv_name, timeout=TIMEOUT)
    dock.show()  # shown again: rebuilt for the model in use, markers come back
    use_model(qtbot, window, tiny_models.conv_name)
    next_frame(qtbot, window, has_markers)


def test_tsne_runs_in_the_background_and_cancels(qtbot, window, tiny_models):
    pytest.importorskip("sklearn")
    dock = open_lab(qtbot, window)
    session = use_model(qtbot, window, tiny_models.conv_name)
    pca = session.map
    steps = []
    session.progress.connect(lambda f, text: steps.append((f, text)))
    dock.map_view.method.setCurrentIndex(1)
    dock.map_view.method.activated.emit(1)
    assert session.tsne_running and not dock.map_view.progress.isHidden()
    qtbot.waitUntil(lambda: any(f > 0 for f, _ in steps), timeout=TIMEOUT)  # it reports its iterations
    show_test_digit(qtbot, window)
    next_frame(qtbot, window, has_markers)  # frames go on meanwhile (the thread is not the inference thread)
    dock.map_view.cancel.click()
    assert not session.tsne_running and dock.map_view.progress.isHidden()
    assert session.map is pca and dock.map_view.method.currentIndex() == 0
