"""``desktop-denoiser denoise`` on folders (issue 11): mirrored outputs, nothing replaced unless
``--overwrite``, one-line errors for unusable inputs and outputs, parseable ``--classify``
records, and the batched run (worker processes, one model call per batch) giving the same
pixels as the one-at-a-time path.

Most runs are in-process (``cli.main`` with the tiny models); the few that check what a person
sees on a real terminal-less run go through a subprocess."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import in_process_cli, read_only_folder
from test_cli import CLASSIFY_LINE, ERROR_PREFIX, assert_one_error_line, run_cli
import test_cli

# test_cli's fixtures, shared; assigned rather than imported, so that ruff does not take the tests'
# parameters of the same names for redefinitions
cli, home = test_cli.cli, test_cli.home

SUMMARY = re.compile(r"^desktop-denoiser: (\d+) written, (\d+) skipped, (\d+) failed$")


@pytest.fixture
def main(tiny_models, monkeypatch, tmp_path, capsys):
    """cli.main in this process with the tiny models; returns (exit code, stdout, stderr lines)."""
    return in_process_cli(monkeypatch, capsys, tmp_path, tiny_models.folder)


def _digits(mnist, folder: Path, indices, name="img{:03d}.png", size=28) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, i in enumerate(indices):
        p = folder / name.format(k)
        im = Image.fromarray(mnist.x_test[i])
        if size != 28:
            im = im.resize((size, size))
        im.save(p)
        paths.append(p)
    return paths


def _summary(err_lines) -> tuple[int, int, int]:
    m = SUMMARY.match(err_lines[-1])
    assert m, err_lines[-1]
    return tuple(int(g) for g in m.groups())


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------------------
# 1. same names from two folders: the input tree is mirrored


def test_two_folders_of_same_named_files_give_200_outputs(main, mnist, tmp_path):
    a = _digits(mnist, tmp_path / "a", range(100))
    b = _digits(mnist, tmp_path / "b", range(100, 200))
    code, out, err = main("denoise", "a", "b", "-o", "out", "--classify")
    assert code == 0, err
    assert _summary(err) == (200, 0, 0)
    assert err == ["desktop-denoiser: 200 written, 0 skipped, 0 failed"]
    expected = {f"a/{p.name}" for p in a} | {f"b/{p.name}" for p in b}
    assert _tree(tmp_path / "out") == expected
    # each output is its own input's: a/img000 (digit 7) and b/img000 (another digit) differ
    assert (tmp_path / "out/a/img000.png").read_bytes() != (tmp_path / "out/b/img000.png").read_bytes()
    records = [CLASSIFY_LINE.match(line) for line in out.splitlines()]
    assert all(records) and len(records) == 200
    assert [r["path"] for r in records] == [f"a/{p.name}" for p in a] + [f"b/{p.name}" for p in b]
    labels = [int(mnist.y_test[i]) for i in range(200)]
    assert sum(int(r["digit"]) == y for r, y in zip(records, labels)) >= 180


def test_files_from_two_folders_and_one_folder_alone(main, mnist, tmp_path):
    _digits(mnist, tmp_path / "x", [0], name="same.png")
    _digits(mnist, tmp_path / "y", [1], name="same.png")
    code, _, err = main("denoise", "x/same.png", "y/same.png", "-o", "out")
    assert code == 0, err
    assert _tree(tmp_path / "out") == {"x/same.png", "y/same.png"}
    # one folder: its files go straight into the output folder (as before)
    code, _, err = main("denoise", "x", "-o", "out2")
    assert code == 0 and err == []  # one file: no summary line
    assert _tree(tmp_path / "out2") == {"same.png"}


def test_recursive_keeps_the_layout_and_skips_the_output_folder(main, mnist, tmp_path):
    root = tmp_path / "scans"
    _digits(mnist, root, [0, 1])
    _digits(mnist, root / "week1", [2])
    _digits(mnist, root / "week1" / "monday", [3, 4], name="m{:d}.jpg")
    code, _, err = main("denoise", "scans", "-o", "flat")
    assert code == 0, err
    assert _tree(tmp_path / "flat") == {"img000.png", "img001.png"}  # without --recursive: the top folder only
    code, _, err = main("denoise", "scans", "-o", "scans/cleaned", "--recursive")
    assert code == 0, err
    assert _summary(err) == (5, 0, 0)
    assert _tree(root / "cleaned") == {"img000.png", "img001.png", "week1/img000.png", "week1/monday/m0.png",
                                       "week1/monday/m1.png"}
    # run again: the outputs inside the input tree are not taken for inputs, and nothing is replaced
    code, _, err = main("denoise", "scans", "-o", "scans/cleaned", "--recursive")
    assert code == 0 and _summary(err) == (0, 5, 0)
    assert not (root / "cleaned" / "cleaned").exists()


def test_no_images_hints_at_recursive(main, mnist, tmp_path):
    _digits(mnist, tmp_path / "top" / "sub", [0])
    code, _, err = main("denoise", "top", "-o", "out")
    assert code == 1
    assert err == [f"{ERROR_PREFIX} No image files found in the inputs (add --recursive to look in subfolders)."]


# ----------------------------------------------------------------------------------------------
# 2. nothing is replaced unless --overwrite


def test_denoising_a_jpeg_into_its_folder_keeps_the_png_of_that_name(main, mnist, tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    Image.fromarray(mnist.x_test[0]).save(folder / "x.jpg")
    original = folder / "x.png"
    Image.fromarray(255 - mnist.x_test[5]).save(original)
    before = original.read_bytes()
    code, out, err = main("denoise", "a/x.jpg", "-o", "a")
    assert code == 0
    assert original.read_bytes() == before
    assert err == ["desktop-denoiser: skipped a/x.jpg: a/x.png already exists (--overwrite replaces it)"]
    code, out, err = main("denoise", "a/x.jpg", "-o", "a", "--overwrite")
    assert code == 0 and err == []
    assert original.read_bytes() != before
    assert Image.open(original).size == (28, 28)
    assert sorted(p.name for p in folder.iterdir()) == ["x.jpg", "x.png"]  # no temporary files left


def test_existing_outputs_are_skipped_and_counted(main, mnist, tmp_path):
    _digits(mnist, tmp_path / "in", range(3))
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    out = tmp_path / "out"
    out.mkdir()
    (out / "img001.png").write_bytes(b"mine")
    code, _, err = main("denoise", "in", "-o", "out")
    assert code == 1  # the broken file failed
    assert (out / "img001.png").read_bytes() == b"mine"
    assert "desktop-denoiser: skipped in/img001.png: out/img001.png already exists (--overwrite replaces it)" in err
    assert any(line.startswith(ERROR_PREFIX) and "broken.png" in line for line in err)
    assert _summary(err) == (2, 1, 1)
    assert _tree(out) == {"img000.png", "img001.png", "img002.png"}
    code, _, err = main("denoise", "in", "-o", "out", "--overwrite")
    assert _summary(err) == (3, 0, 1)
    assert (out / "img001.png").read_bytes() != b"mine"


def test_an_output_that_is_an_input_is_never_written(main, mnist, tmp_path):
    folder = tmp_path / "in"
    paths = _digits(mnist, folder, range(2))
    before = {p: p.read_bytes() for p in paths}
    code, _, err = main("denoise", "in", "-o", "in", "--overwrite")
    assert code == 0
    assert {p: p.read_bytes() for p in paths} == before
    assert _summary(err) == (0, 2, 0)
    assert "desktop-denoiser: skipped in/img000.png: in/img000.png is one of the inputs" in err
    code, _, err = main("denoise", "in/img000.png", "-o", "in/img000.png", "--overwrite")
    assert code == 1 and len(err) == 1 and "Refusing to overwrite the input" in err[0]


def test_create_files_never_replaces_a_file_created_meanwhile(tmp_path, monkeypatch):
    from desktop_denoiser.core import atomic

    target = tmp_path / "t.png"
    target.write_bytes(b"old")
    assert atomic.create_files([(target, b"new")]) == [False]
    assert target.read_bytes() == b"old"
    # the file appears after the first check: the hard link still refuses to replace it
    monkeypatch.setattr(atomic.os.path, "lexists", lambda p: False)
    many = [(tmp_path / f"n{i}.png", b"x%d" % i) for i in range(5)] + [(target, b"new")]
    assert atomic.create_files(many) == [True] * 5 + [False]
    assert target.read_bytes() == b"old"
    assert [(tmp_path / f"n{i}.png").read_bytes() for i in range(5)] == [b"x%d" % i for i in range(5)]
    monkeypatch.undo()
    assert atomic.create_files([(target, b"new")], replace=True) == [True]
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n0.png", "n1.png", "n2.png", "n3.png", "n4.png", "t.png"]


# ----------------------------------------------------------------------------------------------
# 3. one-line errors


@pytest.fixture
def locked(tmp_path):
    """A folder nobody can create anything in: mode 0555, or immutable when we are root."""
    folder = tmp_path / "locked"
    undo = read_only_folder(folder)
    yield folder
    undo()


def test_output_subfolder_under_a_read_only_folder(cli, digit_pngs, locked, tmp_path):
    source = digit_pngs[0][0]
    proc = cli("denoise", source, source.parent / digit_pngs[2][0].name, "-o", locked / "new" / "deeper")
    assert proc.returncode == 1
    line = assert_one_error_line(proc, "Cannot create the output folder", str(locked / "new" / "deeper"))
    assert "permitted" in line or "denied" in line
    assert not (locked / "new").exists()


def test_output_into_a_read_only_folder(main, mnist, locked, tmp_path):
    _digits(mnist, tmp_path / "in", range(2))
    code, _, err = main("denoise", "in", "-o", locked)
    assert code == 1
    assert err == [f"{ERROR_PREFIX} Cannot write into the output folder {locked}: permission denied (or a read-only "
                   "or immutable folder)."]


def test_output_under_a_file(cli, digit_pngs, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    proc = cli("denoise", digit_pngs[0][0], digit_pngs[1][0], "-o", notes / "out")
    assert proc.returncode == 1
    line = assert_one_error_line(proc, "Cannot create the output folder")
    assert line.endswith(f"{notes} is a file, not a folder.")
    assert notes.read_text() == "keep me"


def test_mkdir_failures_are_one_line(main, mnist, tmp_path, monkeypatch):
    _digits(mnist, tmp_path / "in", range(2))

    def refuse(self, *args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, _, err = main("denoise", "in", "-o", "new")
    assert code == 1
    assert err == [f"{ERROR_PREFIX} Cannot create the output folder new: read-only file system."]


def test_one_input_and_an_existing_text_file_as_output(main, digit_pngs, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    code, _, err = main("denoise", digit_pngs[0][0], "-o", notes)
    assert code == 1
    assert len(err) == 1 and err[0].startswith(ERROR_PREFIX)
    assert "several" not in err[0] and ".png" in err[0] and "notes.txt" in err[0]
    assert notes.read_text() == "keep me"


@pytest.mark.parametrize("output, words", [("out.png", ["out.png", "2 inputs need an output folder"]),
                                           ("out.jpg", ["PNG", "out.png"])])
def test_output_names_that_cannot_be_folders(main, digit_pngs, tmp_path, output, words):
    code, _, err = main("denoise", digit_pngs[0][0], digit_pngs[1][0], "-o", output)
    assert code == 1 and len(err) == 1
    for w in words:
        assert w in err[0]
    assert not (tmp_path / output).exists()


@pytest.mark.parametrize("args, words", [
    (("denoise", "IN.png", "-o", "out.png", "--seed", "-1"), ["--seed", "-1", "4294967295"]),
    (("denoise", "IN.png", "-o", "out.png", "--seed", "1180591620717411303424"), ["--seed", "1180591620717411303424"]),
    (("train", "--seed", "-1"), ["--seed", "-1"]),
    (("train", "--seed", "1180591620717411303424"), ["--seed", "0 to 4294967295"]),
    (("train", "--seed", "x"), ["--seed", "'x' is not a whole number"]),
    (("denoise", "IN.png", "-o", ""), ["--output", "must not be empty"]),
    (("denoise", "IN.png", "-o", "  "), ["--output", "must not be empty"]),
])
def test_bad_seeds_and_an_empty_output_are_usage_errors(args, words, digit_pngs, tmp_path):
    args = [str(digit_pngs[0][0]) if a == "IN.png" else a for a in args]
    proc = run_cli(*args, home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_error_line(proc, *words)
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == [tmp_path / "digits"]  # nothing written, not even a home folder


def test_largest_seed_is_accepted(main, digit_pngs, tmp_path):
    code, _, err = main("denoise", digit_pngs[0][0], "-o", "o.png", "--noise", "gaussian", "--seed", str(2**32 - 1))
    assert code == 0, err
    assert (tmp_path / "o.png").is_file()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_reported_as_a_fifo(main, mnist, tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    code, _, err = main("denoise", "pipe.png", "-o", "out.png")
    assert code == 1
    assert err == [f"{ERROR_PREFIX} pipe.png is a named pipe (FIFO), not an image file or folder."]
    # inside a folder: counted as failed, the other files are done
    folder = tmp_path / "in"
    _digits(mnist, folder, range(2))
    os.mkfifo(folder / "zpipe.png")
    code, _, err = main("denoise", "in", "-o", "out")
    assert code == 1
    assert f"{ERROR_PREFIX} in/zpipe.png is a named pipe (FIFO), not an image file." in err
    assert _summary(err) == (2, 0, 1)


def test_a_symlink_loop_and_a_broken_link(main, tmp_path):
    (tmp_path / "loop.png").symlink_to("loop.png")
    code, _, err = main("denoise", "loop.png", "-o", "out.png")
    assert code == 1
    assert err == [f"{ERROR_PREFIX} loop.png is a symbolic link loop."]
    (tmp_path / "dangling.png").symlink_to("gone.png")
    code, _, err = main("denoise", "dangling.png", "-o", "out.png")
    assert err == [f"{ERROR_PREFIX} dangling.png is a broken symbolic link (to gone.png)."]
    code, _, err = main("denoise", "missing.png", "-o", "out.png")
    assert err == [f"{ERROR_PREFIX} No such file or folder: missing.png"]


def _unquote(field: str) -> str:
    """Undo terminal.quote_path: a field in double quotes holds C escapes."""
    if not field.startswith('"'):
        return field
    assert field.endswith('"')
    body = field[1:-1]
    return re.sub(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|.)', lambda m: {
        "t": "\t", "n": "\n", "r": "\r", "\\": "\\", '"': '"'}.get(m[1]) or chr(int(m[1][1:], 16)), body)


def test_classify_records_stay_one_line_with_tabs_and_newlines_in_names(main, mnist, tmp_path):
    names = ["new\nline.png", "tab\there.png", 'say "hi".png', "plain.png", '"quoted.png', "back\\slash.png"]
    folder = tmp_path / "in"
    folder.mkdir()
    for k, name in enumerate(names):
        Image.fromarray(mnist.x_test[k]).save(folder / name)
    code, out, err = main("denoise", "in", "-o", "out", "--classify")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == len(names)
    found = []
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 3, line
        assert re.fullmatch(r"\d", fields[1]) and re.fullmatch(r"[01]\.\d{4}", fields[2])
        found.append(_unquote(fields[0]))
    assert sorted(found) == sorted(f"in/{n}" for n in names)
    assert 'in/plain.png\t' in out and 'in/say "hi".png\t' in out  # printable names are shown as they are
    assert '"in/new\\nline.png"\t' in out and '"in/tab\\there.png"\t' in out and 'in/"quoted.png\t' in out
    assert _tree(tmp_path / "out") == {n for n in names}


def test_quote_path():
    from desktop_denoiser.terminal import quote_path as _quote_path

    assert _quote_path("a/b c.png") == "a/b c.png"
    assert _quote_path("C:\\scans\\x.png") == "C:\\scans\\x.png"
    assert _quote_path("a\tb") == '"a\\tb"'
    assert _quote_path('"a') == '"\\"a"'
    assert _quote_path("a\\\nb") == '"a\\\\\\nb"'
    assert _quote_path("x\udcff.png") == '"x\\xff.png"'  # a file name that is not UTF-8
    assert _quote_path("bell\x07") == '"bell\\x07"'
    assert _unquote(_quote_path("odd\u2028name\\\t\"")) == "odd\u2028name\\\t\""


# ----------------------------------------------------------------------------------------------
# 4. the batched run: same pixels as one at a time, with or without worker processes


def test_batched_outputs_match_the_one_at_a_time_path(tiny_models, mnist, tmp_path):
    from desktop_denoiser.core import filebatch, inference
    from desktop_denoiser.core.noise import NoiseSpec

    store = tiny_models.store
    d = store.load(tiny_models.denoiser_name, "denoiser").model
    c = store.load(tiny_models.classifier_name, "classifier").model
    pipeline = inference.Pipeline(d, c)
    sources = _digits(mnist, tmp_path / "in", range(40), size=56)
    noise = NoiseSpec.parse("gaussian:0.2")
    results = {}
    for workers in (0, 2):
        out = tmp_path / f"out{workers}"
        plan = filebatch.plan([str(tmp_path / "in")], str(out))
        outcomes = []
        summary = filebatch.run(plan, lambda: pipeline, noise, seed=7, classify=True, workers=workers,
                                on_outcome=outcomes.append)
        assert (summary.written, summary.skipped, summary.failed) == (40, 0, 0)
        assert [o.job.source for o in outcomes] == sources  # in order
        results[workers] = ({p.name: p.read_bytes() for p in out.iterdir()}, [o.digit for o in outcomes])
    assert results[0] == results[2]  # the worker processes change nothing
    # against today's one-at-a-time path: prepare -> Pipeline.run -> the same pixels
    files, digits = results[0]
    agree = 0
    for k, source in enumerate(sources):
        one = pipeline.run(filebatch.prepare(source, noise, 7))
        expected = filebatch.output_pixels(one.reconstruction)
        got = np.asarray(Image.open(io.BytesIO(files[source.name])))
        assert got.dtype == np.uint8 and got.shape == (28, 28)
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # float rounding of batch vs single graph
        agree += one.digit == digits[k]
    assert agree >= 39


def test_encode_png_round_trips():
    from desktop_denoiser.core.filebatch import encode_png

    rng = np.random.default_rng(0)
    for shape in [(28, 28), (1, 1), (3, 500), (112, 112)]:
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        im = Image.open(io.BytesIO(encode_png(a)))
        assert im.format == "PNG" and im.mode == "L" and im.size == shape[::-1]
        assert np.array_equal(np.asarray(im), a)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("count, tty, bar", [(301, True, True), (301, False, False), (20, True, False)])
def test_progress_bar_on_a_terminal_for_many_files(main, mnist, tmp_path, monkeypatch, count, tty, bar):
    folder = tmp_path / "in"
    folder.mkdir()
    im = Image.fromarray(mnist.x_test[0])
    for k in range(count):
        im.save(folder / f"d{k:04d}.png")
    stream = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    from desktop_denoiser import cli

    assert cli.main(["denoise", "in", "-o", "out"]) == 0
    text = stream.getvalue()
    assert ("files/s" in text) == bar
    if bar:
        assert f"| 100.0%  {count}/{count} files" in text
        assert text.count("\r") >= 2
    final = text.split("\r\x1b[K")[-1] if bar else text
    assert final == f"desktop-denoiser: {count} written, 0 skipped, 0 failed\n"
    assert len(list((tmp_path / "out").iterdir())) == count


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_leaves_only_complete_outputs(tiny_models, mnist, tmp_path):
    """Ctrl+C (SIGINT to the whole process group, as a terminal sends it) in the middle of a
    folder: exit 130, a count of what was done, no traceback (the workers leave it to the
    parent), and every file in the output folder is a complete PNG: no half file, no temporary."""
    import signal
    import time

    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3000):
        Image.fromarray(mnist.x_test[k % 100]).save(folder / f"d{k:04d}.png")
    env = dict(os.environ, DESKTOP_DENOISER_BUNDLED=str(tiny_models.folder), DESKTOP_DENOISER_HOME=str(tmp_path / "home"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "desktop_denoiser", "denoise", "in", "-o", "out"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out = tmp_path / "out"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not any(out.glob("*.png")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == "desktop-denoiser: interrupted"
    m = re.fullmatch(r"desktop-denoiser: stopped: (\d+) written, 0 skipped, 0 failed before the interruption", lines[-2])
    assert m, err
    written = sorted(out.iterdir())
    assert 0 < int(m[1]) == len(written) < 3000  # the batches being written were finished, and counted
    assert all(p.name.startswith("d") and p.suffix == ".png" for p in written), [p.name for p in written][:5]
    for p in written:
        with Image.open(p) as im:
            im.load()
            assert im.size == (28, 28)


def test_worker_count():
    from desktop_denoiser.core import filebatch

    assert filebatch.worker_count(10) == 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert filebatch.worker_count(5000) == (0 if cores < 2 else min(cores, 8))


def test_a_blank_image_is_said_to_hold_no_digit(main, mnist, tmp_path):
    """Blank paper gets no digit (the classifier alone would guess one, e.g. '9, 27%')."""
    folder = tmp_path / "scans"
    _digits(mnist, folder, [0])
    Image.new("L", (120, 120), 255).save(folder / "blank.png")
    code, out, err = main("denoise", folder, "-o", tmp_path / "out", "--classify")
    assert code == 0
    records = dict(line.split("\t", 1) for line in out.splitlines())
    assert records[str(folder / "blank.png")] == "-\t-"
    digit, prob = records[str(folder / "img000.png")].split("\t")
    assert digit == str(int(mnist.y_test[0])) and float(prob) > 0.5
    assert f"desktop-denoiser: no digit found in {folder / 'blank.png'} (a blank image)" in err
    assert _summary(err) == (2, 0, 0)
    assert (tmp_path / "out" / "scans" / "blank.png").is_file() or (tmp_path / "out" / "blank.png").is_file()
