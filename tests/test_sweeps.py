"""Sweeps (issue 14): the grid, its refusals, a real tiny sweep (local and through Ray), its
record, its chart and the ``sweep`` command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_denoiser.core import paths, sweep_chart, sweep_record
from desktop_denoiser.core.errors import ConfigError
from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.sweeps import AxisValues, Sweep, parse_values
from desktop_denoiser.core.training import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
LEVELS = (0.3, 0.9)
EVAL = 200


def _base(**changes) -> TrainConfig:
    settings = dict(arch="dense", noise=NoiseSpec("uniform"), epochs=1, subset=300, batch_size=32, patience=None,
                    seed=0, val_limit=200)
    return TrainConfig(**{**settings, **changes})


def _tiny_sweep(prefix: str = "tiny") -> Sweep:
    return Sweep(_base(), (AxisValues("noise_level", LEVELS),), prefix=prefix, eval_limit=EVAL)


# ------------------------------------------------------------------------------------------
# the grid


def test_two_axes_expand_to_their_product_in_order_keeping_the_base():
    base = _base(batch_size=64, seed=7, learning_rate=0.002, noise=NoiseSpec.parse("uniform:0.5"))
    sweep = Sweep(base, (AxisValues("bottleneck", (16, 32, 64)), AxisValues("noise_level", (0.3, 0.6, 0.9))), prefix="g")
    points = sweep.points()
    assert len(points) == 9
    assert [(p.settings["bottleneck"], p.settings["noise_level"]) for p in points] == [
        (b, n) for b in (16, 32, 64) for n in (0.3, 0.6, 0.9)]
    assert [p.index for p in points] == list(range(9))
    first, last = points[0].config, points[-1].config
    assert (first.bottleneck, first.noise) == (16, NoiseSpec("uniform", {"level": 0.3}))
    assert (last.bottleneck, last.noise) == (64, NoiseSpec("uniform", {"level": 0.9}))
    for p in points:  # everything not swept is the base's
        assert (p.config.arch, p.config.batch_size, p.config.seed, p.config.learning_rate, p.config.epochs,
                p.config.subset) == ("dense", 64, 7, 0.002, 1, 300)
    assert [p.name for p in points[:2]] == ["g-16-0.3", "g-16-0.6"]
    assert base.noise.params["level"] == 0.5 and base.bottleneck is None  # the base itself is untouched
    assert sweep.x_axis.name == "noise_level" and sweep.line_axis.name == "bottleneck"
    assert [str(n) for n in sweep.noises()] == ["uniform:level=0.3", "uniform:level=0.6", "uniform:level=0.9"]


def test_from_settings_folds_single_values_into_the_base_and_puts_the_x_axis_inside():
    sweep = Sweep.from_settings(_base(), {"noise_level": [0.3, 0.6], "arch": ["dense", "conv"], "epochs": [2],
                                          "subset": [], "learning_rate": [0.01]})
    assert [a.name for a in sweep.axes] == ["arch", "noise_level"]  # one line per architecture, its runs in a row
    assert (sweep.base.epochs, sweep.base.learning_rate) == (2, 0.01)
    assert [(p.config.arch, p.config.noise.params["level"], p.config.epochs) for p in sweep.points()] == [
        ("dense", 0.3, 2), ("dense", 0.6, 2), ("conv", 0.3, 2), ("conv", 0.6, 2)]


def test_other_axes_set_their_fields():
    sweep = Sweep(_base(noise=NoiseSpec.parse("gaussian:0.2")),
                  (AxisValues("noise", ("uniform", "salt-and-pepper")), AxisValues("subset", (100, 200))))
    configs = sweep.configs()
    assert [(c.noise.kind, c.subset) for c in configs] == [("uniform", 100), ("uniform", 200),
                                                            ("salt-and-pepper", 100), ("salt-and-pepper", 200)]
    assert configs[0].noise.params == {"level": 0.9}  # another kind takes its own defaults
    lr = Sweep(_base(), (AxisValues("learning_rate", (1e-3, 1e-2)), AxisValues("epochs", (1, 2))))
    assert [(c.learning_rate, c.epochs) for c in lr.configs()] == [(1e-3, 1), (1e-3, 2), (1e-2, 1), (1e-2, 2)]
    levels = Sweep(_base(noise=NoiseSpec("gaussian")), (AxisValues("noise_level", (0.1, 0.4)),))
    assert [c.noise.params["sigma"] for c in levels.configs()] == [0.1, 0.4]  # gaussian's level is its sigma


@pytest.mark.parametrize("make, words", [
    (lambda: Sweep.from_settings(_base(), {"arch": ["dense", "conv"], "bottleneck": [8, 16], "noise_level": [0.3, 0.6]}),
     ["at most 2 settings", "architecture", "bottleneck size", "noise level"]),
    (lambda: Sweep(_base(), (("colour", (1, 2)),)), ["cannot vary 'colour'"]),
    (lambda: Sweep(_base(), ()), ["needs a setting with more than one value"]),
    (lambda: parse_values("noise_level", "0.3,abc"), ["'abc' is not a number", "--noise-level"]),
    (lambda: parse_values("bottleneck", "8,2.5"), ["'2.5' is not a whole number"]),
    (lambda: parse_values("epochs", "1,,2"), ["comma-separated"]),
    (lambda: Sweep(_base(), (("noise_level", (0.3, 5.0)),)), ["level=5 is out of range"]),
    (lambda: Sweep(_base(), (("noise_level", (0.3, 0.3)),)), ["repeats 0.3"]),
    (lambda: Sweep(_base(), (("arch", ("dense", "resnet")),)), ["Unknown architecture 'resnet'"]),
    (lambda: Sweep(_base(), (("arch", ("dense", "classifier")),)), ["trains denoisers"]),
    (lambda: Sweep(_base(), (("arch", ("dense", "unet")), ("bottleneck", (8, 16)))), ["bottleneck can only be set"]),
    (lambda: Sweep(_base(noise=NoiseSpec("mixed")), (("noise_level", (0.3, 0.6)),)), ["'mixed' has no level"]),
    (lambda: Sweep(_base(), (("epochs", (0, 1)),)), ["Epochs must be at least 1"]),
    (lambda: Sweep(_base(), (("noise", ("uniform", "none")),)), ["needs a noise"]),
    (lambda: Sweep(_base(), (("epochs", (1, 2)),), prefix="x" * 99), ["too long"]),
])
def test_bad_sweeps_are_refused_with_a_clear_message(make, words):
    with pytest.raises(ConfigError) as info:
        make()
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------------------------------
# a real tiny sweep


def _store(tiny_models, tmp_path):
    from desktop_denoiser.core.store import ModelStore

    return ModelStore(bundled_dir=tiny_models.folder, user_dir=tmp_path / "models")


def _check_finished(record, store):
    assert record.status == "finished" and [r.status for r in record.runs] == ["finished", "finished"]
    assert [b.label for b in record.baseline] == [f"uniform:level={v:g}" for v in LEVELS]
    for run, base in zip(record.runs, record.baseline):
        f = run.figures
        assert f.images == EVAL and f.noise == base.label and f.classifier == "classifier"
        assert 0 < f.psnr < 40 and 0 <= f.accuracy_denoised <= 1
        # the baseline is the noisy input under the same evaluation: the run's own noisy figures
        assert base.figures.psnr_noisy == pytest.approx(f.psnr_noisy, abs=1e-9)
        assert base.figures.accuracy_noisy == pytest.approx(f.accuracy_noisy, abs=1e-9)
        entry = store.find(run.model)
        assert entry.path == Path(run.model_path) and entry.figures.psnr == pytest.approx(f.psnr)
        assert run.run_id == entry.meta["run_id"] and run.run_source == "model"
    low, high = record.baseline
    assert low.figures.psnr_noisy > high.figures.psnr_noisy  # more noise, worse noisy input
    assert low.figures.accuracy_noisy > high.figures.accuracy_noisy


def test_a_tiny_local_sweep_records_its_runs_figures_and_baseline(tiny_models, tmp_path):
    from desktop_denoiser.core.sweep_run import Callbacks, SweepRunner

    store = _store(tiny_models, tmp_path)
    events = []
    callbacks = Callbacks(on_run_start=lambda i, n, p: events.append(("start", i, n, p.name)),
                          on_progress=lambda i, n, p: events.append(("progress", i, n)),
                          on_run_end=lambda i, n, r: events.append(("end", i, n, r.status)))
    record = SweepRunner(_tiny_sweep(), store, callbacks).run()
    _check_finished(record, store)
    assert [r.model for r in record.runs] == ["tiny-0.3", "tiny-0.9"]
    starts_ends = [e for e in events if e[0] != "progress"]
    assert starts_ends == [("start", 0, 2, "tiny-0.3"), ("end", 0, 2, "finished"),
                           ("start", 1, 2, "tiny-0.9"), ("end", 1, 2, "finished")]
    assert {e[1:] for e in events if e[0] == "progress"} == {(0, 2), (1, 2)}
    # the record on disk, in the user's data folder, says the same
    assert record.path == paths.user_data_dir() / "sweeps" / f"{record.id}.json"
    again = sweep_record.read(record.path)
    assert again.to_dict() == record.to_dict()
    assert sweep_record.load(record.id[:12]).id == record.id
    assert json.loads(record.path.read_text())["axes"] == [{"name": "noise_level", "label": "noise level", "values": [0.3, 0.9]}]
    # a second sweep of the same names never overwrites: NAME-2
    second = SweepRunner(Sweep(_base(), (AxisValues("noise_level", LEVELS),), prefix="tiny", eval_limit=50), store).run()
    assert [r.model for r in second.runs] == ["tiny-0.3-2", "tiny-0.9-2"]
    assert store.find("tiny-0.3").figures.images == EVAL
    _chart_checks(record, tmp_path)


def _chart_checks(record, tmp_path):
    data = sweep_chart.chart_data(record)
    assert [p.key for p in data.panels] == ["accuracy", "psnr"]
    for panel in data.panels:
        assert len(panel.series) == 2
        model, baseline = panel.series
        assert not model.is_baseline and baseline.is_baseline and baseline.label == "noisy input"
        assert model.xs == baseline.xs == LEVELS == data.x_values
    acc, psnr = data.panels
    assert acc.series[0].ys == pytest.approx(tuple(100 * r.figures.accuracy_denoised for r in record.runs))
    assert psnr.series[1].ys == pytest.approx(tuple(b.figures.psnr_noisy for b in record.baseline))
    assert not data.categorical and not data.log_x and "noise level" in data.x_label
    image = sweep_chart.render(data)
    path = tmp_path / "chart.png"
    image.save(path)
    with Image.open(path) as im:
        assert im.size == (1400, 620)
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, lines, colours: not one colour
    assert (pixels != 255).any(axis=2).mean() > 0.01


def test_a_two_axis_chart_has_a_line_per_value_of_the_second_axis():
    sweep = Sweep(_base(), (AxisValues("bottleneck", (2, 8, 64)), AxisValues("arch", ("dense", "conv"))))
    record = sweep_record.SweepRecord.new(sweep, "local", Path("/nowhere"), "chart-test")
    from desktop_denoiser.core.figures import ModelFigures

    for i, run in enumerate(record.runs[:-1]):
        run.status, run.figures = "finished", ModelFigures(psnr=10.0 + i, accuracy_denoised=0.5 + i / 20)
    record.baseline = [sweep_record.BaselineRecord(n.to_dict(), str(n), ModelFigures(psnr_noisy=8.0, accuracy_noisy=0.4))
                       for n in sweep.noises()]
    data = sweep_chart.chart_data(record)
    assert data.x_values == (2, 8, 64) and data.log_x  # the bottleneck goes along x, on a log scale
    labels = [s.label for s in data.panels[1].series]
    assert labels == ["dense", "conv", "noisy input"]
    assert data.panels[1].series[0].ys == (10.0, 12.0, 14.0)
    assert data.panels[1].series[1].ys == (11.0, 13.0, None)  # the unfinished run is a gap
    assert data.panels[1].series[2].ys == (8.0, 8.0, 8.0)
    assert len(np.unique(np.asarray(sweep_chart.render(data)).reshape(-1, 3), axis=0)) > 50


def test_cancel_after_the_first_run_keeps_it_and_skips_the_rest(tiny_models, tmp_path):
    from desktop_denoiser.core.sweep_run import Callbacks, SweepRunner

    store = _store(tiny_models, tmp_path)
    sweep = Sweep(_base(), (AxisValues("noise_level", (0.3, 0.6, 0.9)),), prefix="cut", eval_limit=EVAL)
    runner = SweepRunner(sweep, store)
    runner.callbacks = Callbacks(on_run_end=lambda i, n, r: runner.cancel())
    record = runner.run()
    assert record.status == "cancelled"
    assert [r.status for r in record.runs] == ["finished", "skipped", "skipped"]
    assert record.runs[0].figures.measured and record.runs[1].model is None
    assert [e.name for e in store.entries() if e.name.startswith("cut")] == ["cut-0.3"]
    assert [r.status for r in sweep_record.read(record.path).runs] == ["finished", "skipped", "skipped"]


def test_cancel_in_the_middle_of_a_run_keeps_nothing_of_it(tiny_models, tmp_path):
    from desktop_denoiser.core.sweep_run import Callbacks, SweepRunner

    store = _store(tiny_models, tmp_path)
    runner = SweepRunner(_tiny_sweep("mid"), store)
    runner.callbacks = Callbacks(on_progress=lambda i, n, p: runner.cancel())
    record = runner.run()
    assert [r.status for r in record.runs] == ["cancelled", "skipped"] and record.status == "cancelled"
    assert not [e for e in store.entries() if e.name.startswith("mid")]


def test_the_ray_backend_refuses_clearly_without_ray(monkeypatch, tmp_path):
    from desktop_denoiser.core import sweep_ray
    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.core.sweep_run import make_runner

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    with pytest.raises(ConfigError, match=r"install the ray extra: pip install 'desktop-denoiser\[ray\]'"):
        make_runner(_tiny_sweep(), ModelStore(user_dir=tmp_path), "ray")
    assert sweep_ray.MISSING == "install the ray extra: pip install 'desktop-denoiser[ray]'"
    assert not (paths.user_data_dir() / "sweeps").exists()  # refused before any record


def test_a_ray_sweep_records_what_the_local_backend_gives(tiny_models, tmp_path):
    ray = pytest.importorskip("ray")
    from desktop_denoiser.core.sweep_ray import RaySweepRunner
    from desktop_denoiser.core.sweep_run import SweepRunner

    store = _store(tiny_models, tmp_path)
    local = SweepRunner(_tiny_sweep("local"), store).run()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = RaySweepRunner(_tiny_sweep("ray"), store).run()
        assert ray.is_initialized()  # a sweep leaves an instance it did not start running
    finally:
        ray.shutdown()
    _check_finished(remote, store)
    assert remote.backend == "ray" and local.backend == "local"
    assert [r.model for r in remote.runs] == ["ray-0.3", "ray-0.9"]
    assert [b.to_dict() for b in remote.baseline] == [b.to_dict() for b in local.baseline]
    for a, b in zip(local.runs, remote.runs):
        assert (a.settings, a.config, a.status, a.stop_reason) == (b.settings, b.config, b.status, b.stop_reason)
        fa, fb = a.figures.to_metrics(), b.figures.to_metrics()
        assert fa.keys() == fb.keys()
        for key, value in fa.items():  # same seeds: the same model, up to float rounding across threads
            if isinstance(value, float):
                assert math.isfinite(fb[key]) and fb[key] == pytest.approx(value, abs=1e-3), key
            else:
                assert fb[key] == value, key


# ------------------------------------------------------------------------------------------
# the command


def _cli(*args, home, cwd, bundled):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["DESKTOP_DENOISER_HOME"] = str(home)
    env["DESKTOP_DENOISER_BUNDLED"] = str(bundled)
    return subprocess.run([sys.executable, "-m", "desktop_denoiser", "sweep", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _errors(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("desktop-denoiser")]


def test_the_sweep_command_runs_lists_and_shows(tiny_models, tmp_path):
    home, figure = tmp_path / "home", tmp_path / "chart.png"
    run = dict(home=home, cwd=tmp_path, bundled=tiny_models.folder)
    proc = _cli("--arch", "dense", "--noise-level", "0.3,0.9", "--subset", "300", "--epochs", "1", "--batch-size", "32",
                "--eval-limit", EVAL, "--name", "cli", "--figure", figure, **run)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sweep ") and "2 runs: noise level 0.3, 0.9" in lines[0]
    assert lines[1].startswith("[1/2] noise level 0.3: PSNR ") and "accuracy" in lines[1] and "noisy input" in lines[1]
    assert lines[1].split()[-2] == "cli-0.3," and lines[2].startswith("[2/2] noise level 0.9: PSNR ")
    assert "finished" in lines[3] and "2 finished" in lines[3] and lines[4] == f"wrote {figure}"
    sweep_id = lines[0].split()[1].rstrip(":")
    with Image.open(figure) as im:
        assert im.format == "PNG" and im.size == (1400, 620)
    assert (home / "models" / "cli-0.3.keras").is_file() and (home / "sweeps" / f"{sweep_id}.json").is_file()

    listed = _cli("--list", **run)
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith(f"{sweep_id}  finished") and "2/2 runs" in line for line in listed.stdout.splitlines())
    shown = _cli("show", sweep_id, "--figure", tmp_path / "again.png", **run)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith(f"sweep {sweep_id}: finished, local backend")
    assert [line for line in shown.stdout.splitlines() if line.startswith("[")] == lines[1:3]
    assert (tmp_path / "again.png").is_file()
    exists = _cli("show", sweep_id, "--figure", figure, **run)  # never replaced without --overwrite
    assert exists.returncode == 1 and "--overwrite" in _errors(exists)[0]


def test_the_sweep_command_refuses_bad_sweeps_in_one_line(tiny_models, tmp_path):
    run = dict(home=tmp_path / "home", cwd=tmp_path, bundled=tiny_models.folder)
    three = _cli("--arch", "dense,conv", "--bottleneck", "8,16", "--noise-level", "0.3,0.6", **run)
    assert three.returncode == 1 and len(_errors(three)) == 1 and "at most 2 settings" in _errors(three)[0]
    bad = _cli("--noise-level", "0.3,x", **run)
    assert bad.returncode == 2 and "'x' is not a number" in _errors(bad)[0] and "Traceback" not in bad.stderr
    stray = _cli("list", **run)
    assert stray.returncode == 2 and "sweep show ID" in _errors(stray)[0]
    unknown = _cli("show", "nope", **run)
    assert unknown.returncode == 1 and "No sweep 'nope'" in _errors(unknown)[0]
    assert not (tmp_path / "home" / "models").exists()  # nothing was trained
