"""Before Qt opens a window: no display, or a missing X library, is one line and exit 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_denoiser.gui import display
from desktop_denoiser.gui.display import NoDisplayError, check


def test_no_display_at_all_is_one_clear_sentence():
    with pytest.raises(NoDisplayError) as err:
        check({}, platform="linux")
    text = str(err.value)
    assert "no display" in text and "DISPLAY" in text and "denoise" in text and "\n" not in text


@pytest.mark.parametrize("env", [{"QT_QPA_PLATFORM": "offscreen"}, {"QT_QPA_PLATFORM": "wayland"},
                                 {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}])
def test_a_chosen_platform_or_a_wayland_session_is_not_checked_for_x(env, monkeypatch):
    monkeypatch.setitem(display.XCB_LIBRARIES, "libdesktop-denoiser-absent.so.9", ("libabsent9", "absent"))
    check(env, platform="linux")  # no X libraries needed there


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_always_have_a_screen(platform):
    check({}, platform=platform)


def test_missing_x_libraries_are_named_with_the_install_commands(monkeypatch):
    monkeypatch.setitem(display.XCB_LIBRARIES, "libdesktop-denoiser-absent.so.9", ("libabsent9", "absent-libs"))
    with pytest.raises(NoDisplayError) as err:
        check({"DISPLAY": ":0"}, platform="linux")
    text = str(err.value)
    assert "libdesktop-denoiser-absent.so.9" in text
    assert "sudo apt-get install libabsent9" in text and "sudo dnf install absent-libs" in text
    assert "\n" not in text


def test_the_real_libraries_of_this_machine_are_all_known():
    """On a machine where the xcb plugin loads, the list finds nothing missing (no false alarm)."""
    plugin = display.xcb_plugin()
    if plugin is None or not sys.platform.startswith("linux"):
        pytest.skip("no xcb plugin here")
    missing = display.missing_xcb_libraries()
    if missing:
        pytest.skip(f"this machine lacks {missing} (the check itself is what reports it)")
    assert missing == []


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("gcc") is None, reason="needs gcc on Linux")
def test_a_plugin_whose_dependency_is_missing_is_reported(tmp_path, monkeypatch):
    """A real shared object linked to a library that is then removed: loading it names the library."""
    monkeypatch.setattr(display, "_loads", lambda soname: True)  # every known library is there
    dep_src, plug_src = tmp_path / "dep.c", tmp_path / "plug.c"
    dep_src.write_text("int dd_dep(void) { return 1; }\n")
    plug_src.write_text("int dd_dep(void);\nint dd_plugin(void) { return dd_dep(); }\n")
    dep = tmp_path / "libdd-gone.so.3"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libdd-gone.so.3", "-o", str(dep), str(dep_src)], check=True)
    plugin = tmp_path / "libqfake.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,--no-as-needed", "-o", str(plugin), str(plug_src), str(dep)],
                   check=True)
    dep.unlink()
    assert display.missing_xcb_libraries(plugin) == ["libdd-gone.so.3"]


def _cli_env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(changes)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux displays")
def test_the_command_without_a_display_exits_1_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "desktop_denoiser"], env=_cli_env(), capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("desktop-denoiser: error: There is no display")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux displays")
def test_a_display_nobody_answers_on_exits_1_with_one_line():
    if display.missing_xcb_libraries():
        pytest.skip("the X libraries are missing here (reported before the display is tried)")
    proc = subprocess.run([sys.executable, "-m", "desktop_denoiser"], env=_cli_env(DISPLAY=":917"), capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Cannot connect to the X display ':917'" in lines[0]
