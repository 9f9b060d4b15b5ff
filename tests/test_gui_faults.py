"""Bad input and faults through the window: a clear message, nothing lost, the app keeps running."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")


from conftest import open_image  # noqa: E402
from desktop_denoiser.core.noise import NoiseSpec  # noqa: E402
from desktop_denoiser.core.training import TrainConfig  # noqa: E402

TIMEOUT = 120_000


def png_bytes(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **kw)
    return buf.getvalue()


def digit(mnist, i=0) -> np.ndarray:
    return mnist.x_test[i]


def assert_alive(qtbot, w):
    """The window still computes frames."""
    w.inputs.setCurrentIndex(2)
    n = w.frames_shown
    w.noise.seed.setValue(w.noise.seed.value() + 1)
    qtbot.waitUntil(lambda: w.frames_shown > n, timeout=30_000)


def last_message(w) -> str:
    assert w.message_boxes, "no message box was shown"
    box = w.message_boxes[-1]
    text = box.text()
    box.accept()
    return text


BAD_FILES = {
    "empty.png": b"",
    "text.png": b"this is not a PNG at all\n",
    "truncated.png": None,  # filled in from a real PNG cut in half
    "corrupt.png": None,  # bytes flipped in the middle of the image data
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_image_files_give_a_message(qtbot, window, tmp_path, mnist, name):
    data = BAD_FILES[name]
    good = png_bytes(Image.fromarray(digit(mnist)).resize((280, 280)))
    if name == "truncated.png":
        data = good[: len(good) // 2]
    elif name == "corrupt.png":
        mid = len(good) // 2
        data = good[:mid] + bytes(b ^ 0xFF for b in good[mid : mid + 64]) + good[mid + 64 :]
    path = tmp_path / name
    path.write_bytes(data)
    assert not open_image(qtbot, window, path)
    assert name in last_message(window)
    assert_alive(qtbot, window)


def test_huge_image_is_refused(qtbot, window, tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(path)  # 81 megapixels, a few kB on disk
    assert not open_image(qtbot, window, path)
    assert "megapixel" in last_message(window).lower()
    assert_alive(qtbot, window)


def _variants(mnist):
    d = 255 - digit(mnist)  # dark ink on white paper
    big = Image.fromarray(d).resize((140, 140), Image.BILINEAR)
    out = {
        "16bit.png": Image.fromarray((np.asarray(big).astype(np.uint16) * 257)).convert("I;16"),
        "palette.png": big.convert("P"),
        "grey_alpha.png": Image.merge("LA", (big, Image.new("L", big.size, 255))),
    }
    alpha = Image.fromarray(255 - np.asarray(big))  # ink only in the alpha channel
    rgba = Image.merge("RGBA", (*[Image.new("L", big.size, 0)] * 3, alpha))
    out["transparent.png"] = rgba
    return out


@pytest.mark.parametrize("name", ["16bit.png", "palette.png", "grey_alpha.png", "transparent.png"])
def test_unusual_png_modes_are_read_and_recognised(qtbot, window, tmp_path, mnist, name):
    window.noise.set_spec(NoiseSpec("none"))
    path = tmp_path / name
    _variants(mnist)[name].save(path)
    n = window.frames_shown
    assert open_image(qtbot, window, path)
    qtbot.waitUntil(lambda: window.frames_shown > n and window._last.probs_reconstruction is not None, timeout=30_000)
    assert window._last.analysis.polarity is not None
    assert window.prediction.current == int(mnist.y_test[0])


def test_animated_png_uses_the_first_frame(qtbot, window, tmp_path, mnist):
    window.noise.set_spec(NoiseSpec("none"))
    first = Image.fromarray(255 - digit(mnist, 0)).resize((84, 84))
    second = Image.fromarray(255 - digit(mnist, 1)).resize((84, 84))
    path = tmp_path / "animated.png"
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    n = window.frames_shown
    assert open_image(qtbot, window, path)
    qtbot.waitUntil(lambda: window.frames_shown > n and window._last.probs_reconstruction is not None, timeout=30_000)
    assert window.prediction.current == int(mnist.y_test[0])


@pytest.mark.parametrize("value", [0, 255])
def test_blank_images_show_no_prediction(qtbot, window, tmp_path, value):
    path = tmp_path / f"blank{value}.png"
    Image.new("L", (100, 100), value).save(path)
    n = window.frames_shown
    assert open_image(qtbot, window, path)
    qtbot.waitUntil(lambda: window.frames_shown > n, timeout=30_000)
    assert window._last.empty and window.prediction.digit.text() == "–"
    assert not window.message_boxes


def test_empty_canvas_and_single_dot(qtbot, window):
    window.inputs.setCurrentIndex(0)
    canvas = window.inputs.canvas
    canvas.clear()
    n = window.frames_shown
    window.noise.seed.setValue(window.noise.seed.value() + 1)
    qtbot.waitUntil(lambda: window.frames_shown > n, timeout=30_000)
    assert window._last.empty and window.prediction.digit.text() == "–"
    n = window.frames_shown
    canvas.add_stroke([(140, 140)])
    qtbot.waitUntil(lambda: window.frames_shown > n, timeout=30_000)
    assert np.isfinite(window._last.clean).all()
    assert not window.message_boxes


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "wrong_shape", "bad_metadata"])
def test_bad_model_files_give_a_message(qtbot, window, tmp_path, tiny_models, kind):
    path = tmp_path / f"{kind}.keras"
    real = (tiny_models.folder / f"{tiny_models.denoiser_name}.keras").read_bytes()
    if kind == "corrupt":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        path.write_bytes(real[: len(real) // 2])
    elif kind == "wrong_shape":
        # built in another process: TensorFlow on the GUI thread while the window's inference
        # thread runs TensorFlow is exactly what the app avoids (it can abort)
        code = ("import keras, sys; inp = keras.Input((32, 32, 3)); "
                "keras.Model(inp, keras.layers.Conv2D(3, 3, padding='same')(inp)).save(sys.argv[1])")
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, timeout=300)
    else:
        path.write_bytes(real)
        path.with_suffix(".json").write_text("{ not json")
    before = sorted(p.name for p in window.store.write_dir.glob("*"))
    window.import_model(str(path))
    qtbot.waitUntil(lambda: bool(window.message_boxes), timeout=30_000)
    text = last_message(window)
    assert path.name in text or "metadata" in text
    assert sorted(p.name for p in window.store.write_dir.glob("*")) == before  # nothing added
    assert_alive(qtbot, window)


def test_model_without_metadata_is_accepted(qtbot, window, tmp_path, tiny_models):
    path = tmp_path / "bare.keras"
    path.write_bytes((tiny_models.folder / f"{tiny_models.conv_name}.keras").read_bytes())
    window.import_model(str(path))
    qtbot.waitUntil(lambda: window._models.denoiser is not None and window._models.denoiser.name == "bare", timeout=TIMEOUT)
    assert not window.message_boxes


def test_failed_save_leaves_the_old_file_intact(qtbot, window, tmp_path, monkeypatch):
    window.inputs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: window._last is not None and window._last.reconstruction is not None, timeout=30_000)
    target = tmp_path / "recon.png"
    target.write_bytes(b"OLD CONTENT")

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    assert not window.save_reconstruction(str(target))
    monkeypatch.undo()
    assert "No space left" in last_message(window)
    assert target.read_bytes() == b"OLD CONTENT"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".recon")) == []  # no temp file left
    # a target folder that cannot exist (its parent is a file)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not window.save_reconstruction(str(blocker / "out.png"))
    text = last_message(window)
    assert "Cannot write" in text and str(blocker) in text
    assert_alive(qtbot, window)


def test_a_failure_inside_the_training_process_shows_a_message(qtbot, window, tmp_path):
    """A file that is not MNIST: the child process fails and the window says why."""
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    config = TrainConfig(arch="conv", noise=NoiseSpec("uniform"), epochs=1, subset=500, mnist=str(bad))
    assert window.start_training(config)
    qtbot.waitUntil(lambda: not window.is_training() and bool(window.message_boxes), timeout=TIMEOUT)
    text = last_message(window)
    assert "is not a readable mnist.npz" in text and str(bad) in text
    end = window.training.end
    assert end.failed and end.message == text and not end.saved
    assert window.training.details.text() == f"Training failed: {text}" and window.training.progress.format() == "failed"
    assert window.training.start.isEnabled() and not window.training.cancel.isEnabled()
    assert_alive(qtbot, window)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_training_process_shows_a_message(qtbot, window):
    """The system kills the training (as its out-of-memory killer would): a message, the app runs on."""
    config = TrainConfig(arch="conv", noise=NoiseSpec("uniform"), epochs=20, subset=5000, val_limit=100)
    assert window.start_training(config, "killed")
    thread = window._training
    seen = []
    thread.progress.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=TIMEOUT)
    os.kill(thread.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not window.is_training() and bool(window.message_boxes), timeout=TIMEOUT)
    text = last_message(window)
    assert "stopped by SIGKILL" in text and "out of memory" in text
    assert window.training.end.failed and window.training.progress.format() == "failed"
    assert thread.process.exitcode == -signal.SIGKILL
    assert "killed" not in [window.model_combo.itemData(i) for i in range(window.model_combo.count())]
    assert_alive(qtbot, window)


def test_cancel_during_the_first_batch(qtbot, window):
    config = TrainConfig(arch="unet", noise=NoiseSpec("uniform"), epochs=3, subset=3000, val_limit=200)
    statuses = []
    assert window.start_training(config, "first-batch")
    thread = window._training
    thread.status.connect(statuses.append)
    thread.progress.connect(lambda p: thread.cancel())  # cancel as soon as the first batch reports
    qtbot.waitUntil(lambda: not window.is_training(), timeout=TIMEOUT)
    assert thread.cancelled
    end = window.training.end
    assert end.cancelled and window.training.progress.format() == "cancelled"
    assert window.training.details.text().startswith(end.describe())
    assert (end.outcome.name, end.saved) in {("CANCELLED", True), ("CANCELLED_BEFORE_FIRST_BATCH", False)}
    assert_alive(qtbot, window)


def _threads() -> int:
    return len(os.listdir("/proc/self/task")) if Path("/proc/self/task").is_dir() else threading.active_count()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_fifty_start_cancel_cycles_do_not_leak(qtbot, window):
    config = TrainConfig(arch="conv", noise=NoiseSpec("uniform"), epochs=5, subset=1000, val_limit=100)

    turn = [0]

    def cycle():
        assert window.start_training(config, "cycle")
        turn[0] += 1
        if turn[0] % 2:  # every other time, while the child has started (it is stopped, not told)
            qtbot.wait(300)
        window.cancel_training()
        qtbot.waitUntil(lambda: not window.is_training(), timeout=TIMEOUT)
        qtbot.wait(5)

    for _ in range(5):  # warm up: TF thread pools, caches
        cycle()
    threads, rss, fds = _threads(), _rss_mb(), len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        cycle()
    qtbot.waitUntil(lambda: not window.training_control.ending, timeout=TIMEOUT)
    qtbot.wait(200)
    assert multiprocessing.active_children() == []  # every training process has ended and been reaped
    assert len(os.listdir("/proc/self/fd")) <= fds + 3, "file descriptors leak"
    assert _threads() <= threads + 3, f"threads grew from {threads} to {_threads()}"
    assert _rss_mb() - rss < 150, f"memory grew by {_rss_mb() - rss:.0f} MB"
    assert_alive(qtbot, window)


def test_closing_the_window_mid_training_stops_the_worker(qtbot, make_window):
    w = make_window()
    seen = []
    assert w.start_training(TrainConfig(arch="unet", noise=NoiseSpec("uniform"), epochs=50, subset=5000), "closing")
    thread = w._training
    thread.progress.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=TIMEOUT)
    w.close()
    assert not thread.isRunning()
    assert not w.inference.isRunning()
    assert thread.cancelled


def test_test_digits_load_in_the_background_or_say_how_to_get_them(qtbot, make_window, monkeypatch, tmp_path):
    w = make_window("mnist.ini", load_models=False)
    monkeypatch.setenv("DESKTOP_DENOISER_MNIST", str(tmp_path / "missing" / "mnist.npz"))
    w.inputs.setCurrentIndex(2)  # returns at once; the file is looked for in a thread
    assert not w.inputs.random_button.isEnabled()
    qtbot.waitUntil(lambda: "not found" in w.inputs.test_label.text(), timeout=30_000)
    assert "mnist.npz" in w.inputs.test_label.text() and not w.inputs.random_button.isEnabled()
    assert w.inputs.payload() is None or w.inputs.payload()[0] != "ready28"
    w2 = make_window("mnist2.ini", load_models=False)
    monkeypatch.undo()
    w2.inputs.setCurrentIndex(2)
    w2.inputs.random_test_digit()  # asked for while loading: done when the digits arrive
    qtbot.waitUntil(lambda: w2.inputs.random_button.isEnabled(), timeout=30_000)
    kind, image = w2.inputs.payload()
    assert kind == "ready28" and image.shape == (28, 28) and image.max() > 0.5
    assert f"<b>{w2.inputs.test_label_value()}</b>" in w2.inputs.test_label.text()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_or_a_device_is_refused_without_blocking(qtbot, window, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # nobody writes to it: open() without O_NONBLOCK would wait forever
    assert not open_image(qtbot, window, fifo, timeout=10_000)
    assert "pipe.png" in (text := last_message(window)) and "named pipe" in text
    if Path("/dev/zero").exists():  # endless: must be refused, not read until memory runs out
        assert not open_image(qtbot, window, "/dev/zero", timeout=10_000)
        assert "character device" in last_message(window)
    assert_alive(qtbot, window)


def test_a_slow_read_never_blocks_the_window(qtbot, window, tmp_path, monkeypatch, mnist):
    """The file is read in a background thread: the GUI thread's timers keep firing meanwhile,
    and an open replaced by a newer one is dropped."""
    from desktop_denoiser.core import imageio

    release = threading.Event()
    real = imageio.load_image

    def slow(path):
        if Path(path).name == "slow.png":
            release.wait(30)
        return real(path)

    monkeypatch.setattr(imageio, "load_image", slow)
    slow_path, fast_path = tmp_path / "slow.png", tmp_path / "fast.png"
    Image.fromarray(255 - digit(mnist, 0)).save(slow_path)
    Image.fromarray(255 - digit(mnist, 1)).save(fast_path)
    ticks = []
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    opened = []
    window.image_opened.connect(lambda ok, path: opened.append((ok, path)))
    window.open_image(str(slow_path))
    qtbot.wait(300)  # the slow read is still blocked in its thread
    assert len(ticks) >= 10, "the GUI thread was blocked by the read"
    assert opened == []
    assert open_image(qtbot, window, fast_path)  # a newer open: shown at once
    release.set()
    qtbot.wait(300)
    timer.stop()
    assert opened == [(True, str(fast_path))]  # the older, slower one was dropped
    assert window.inputs._image_path == str(fast_path)


def test_a_broken_user_model_never_hides_the_working_bundled_one(qtbot, make_window, tiny_models, tmp_path):
    """A user's unet-mixed.keras that is a zip but no model, beside a model whose metadata has the
    wrong types: the window comes up on the bundled default, says what failed, lists both."""
    import json
    import zipfile

    user = tmp_path / "user_models"
    user.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(user / "unet-mixed.keras", "w") as z:  # passes a zip check, fails to load
        z.writestr("config.json", "{\"class_name\": \"Nothing\"}")
        z.writestr("metadata.json", "{}")
    meta = json.loads((tiny_models.folder / "unet-mixed.json").read_text())
    (user / "unet-mixed.json").write_text(json.dumps(meta))
    (user / "weird.keras").write_bytes((tiny_models.folder / f"{tiny_models.conv_name}.keras").read_bytes())
    weird = json.loads((tiny_models.folder / f"{tiny_models.conv_name}.json").read_text())
    weird.update({"metrics": {"test_psnr": "high", "test_accuracy_denoised": None}, "created": 5})
    (user / "weird.json").write_text(json.dumps(weird))
    w = make_window()
    assert w._models.denoiser is not None and w._models.denoiser.name == "unet-mixed"
    assert w._models.denoiser.source == "bundled"
    assert w._models.classifier is not None
    qtbot.waitUntil(lambda: bool(w.message_boxes), timeout=TIMEOUT)
    text = last_message(w)
    assert "unet-mixed" in text and "could not be loaded" in text
    names = [w.model_combo.itemData(i) for i in range(w.model_combo.count())]
    assert "weird" in names
    w.select_denoiser("weird")  # its figures are unknown, it still loads and describes
    qtbot.waitUntil(lambda: w._models.denoiser is not None and w._models.denoiser.name == "weird", timeout=TIMEOUT)
    assert not w.message_boxes
    w.manage_models()  # the models dialog lists them all without a traceback
    assert not w.message_boxes
    assert_alive(qtbot, w)
