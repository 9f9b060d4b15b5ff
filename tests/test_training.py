"""desktop_denoiser.core.training: real (small) runs of the one trainer."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest

from desktop_denoiser.core import data as data_mod
from desktop_denoiser.core import models, training
from desktop_denoiser.core.errors import ConfigError
from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.training import TrainConfig, Trainer
from conftest import fail_metadata_writes  # noqa: E402

NOISE = NoiseSpec.parse("uniform:0.5")


def _config(**overrides) -> TrainConfig:
    """A fast denoiser run: the dense network on a few hundred images."""
    base = dict(arch="dense", noise=NOISE, epochs=2, batch_size=32, subset=300, val_limit=200, patience=None, seed=0)
    base.update(overrides)
    return TrainConfig(**base)


def _steps_per_epoch(cfg: TrainConfig) -> int:
    return cfg.subset // cfg.batch_size


def _validation(cfg: TrainConfig):
    split = data_mod.train_val_split(data_mod.load_mnist(cfg.mnist), cfg.val_fraction, cfg.seed, cfg.subset)
    return Trainer(cfg)._validation_set(split, models.get(cfg.arch).kind)


@pytest.fixture
def capture_model(monkeypatch):
    """Make the dense builder remember the model it builds (to look at weights during the run)."""
    box = {}
    arch = models.get("dense")

    def build():
        box["model"] = arch.build()
        return box["model"]

    monkeypatch.setitem(models.ARCHITECTURES, "dense", dataclasses.replace(arch, build=build))
    return box


@pytest.fixture
def every_batch(monkeypatch):
    """Report progress after every batch (not throttled)."""
    monkeypatch.setattr(training, "PROGRESS_INTERVAL", 0.0)


# ----------------------------------------------------------------------------------------------
# a small real run, with every progress report


@pytest.fixture(scope="module")
def dense_run(mnist):
    reports, epochs, statuses = [], [], []
    cfg = _config(subset=640, epochs=2, val_limit=300)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "PROGRESS_INTERVAL", 0.0)
        result = Trainer(cfg, on_progress=reports.append, on_epoch=epochs.append, on_status=statuses.append).run()
    return cfg, result, reports, epochs, statuses


def test_small_run_lowers_the_validation_loss(dense_run):
    cfg, result, _, epochs, _ = dense_run
    assert result.stop_reason == "completed" and not result.cancelled
    assert [e.epoch for e in result.history] == [1, 2]
    assert epochs == result.history  # on_epoch saw every epoch
    first, second = result.history
    assert second.val_loss < first.val_loss
    assert second.val_metric > first.val_metric  # PSNR in dB
    assert 5.0 < first.val_metric < 40.0
    assert result.best_epoch == 2
    assert result.steps == 2 * _steps_per_epoch(cfg)
    assert result.images_per_s > 0
    assert result.kind == "denoiser"
    assert result.device


def test_progress_reports(dense_run):
    cfg, result, reports, _, statuses = dense_run
    per_epoch = _steps_per_epoch(cfg)
    assert [p.step for p in reports] == list(range(1, result.steps + 1))
    for p in reports:
        assert 0.0 <= p.fraction <= 1.0
        assert p.epochs == 2 and p.batches == per_epoch
        assert p.batch == p.step - (p.epoch - 1) * per_epoch
        assert 1 <= p.batch <= p.batches
        assert math.isfinite(p.loss) and p.loss > 0
        assert p.elapsed >= 0
        if p.step >= 3:
            assert p.images_per_s > 0
            assert p.eta is not None and p.eta >= 0
        else:
            assert p.eta is None
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert reports[-1].eta == pytest.approx(0.0, abs=1e-6)
    assert [p.elapsed for p in reports] == sorted(p.elapsed for p in reports)
    assert statuses[0].startswith("Loading MNIST")
    assert any(s.startswith("Training dense") for s in statuses)


def test_returned_model_is_the_best_epochs(dense_run):
    cfg, result, _, _, _ = dense_run
    val_x, val_y = _validation(cfg)
    loss = result.model.evaluate(val_x, val_y, batch_size=500, verbose=0, return_dict=True)["loss"]
    best = min(e.val_loss for e in result.history)
    assert result.best_epoch == 1 + int(np.argmin([e.val_loss for e in result.history]))
    assert loss == pytest.approx(best, abs=1e-4)


def test_progress_is_throttled_but_each_epoch_end_is_reported(mnist):
    reports = []
    cfg = _config(epochs=2)
    Trainer(cfg, on_progress=reports.append).run()
    steps = [p.step for p in reports]
    assert steps == sorted(set(steps))
    per_epoch = _steps_per_epoch(cfg)
    assert per_epoch in steps and 2 * per_epoch in steps  # each epoch's last batch


def test_same_seed_gives_the_same_losses(mnist):
    cfg = _config(subset=200, epochs=2)
    a, b = Trainer(cfg).run(), Trainer(cfg).run()
    assert len(a.history) == len(b.history) == 2
    for ea, eb in zip(a.history, b.history):
        assert ea.loss == pytest.approx(eb.loss, abs=1e-5)
        assert ea.val_loss == pytest.approx(eb.val_loss, abs=1e-5)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
    c = Trainer(dataclasses.replace(cfg, seed=1)).run()
    assert c.history[0].loss != pytest.approx(a.history[0].loss, abs=1e-5)


# ----------------------------------------------------------------------------------------------
# cancel


def test_cancel_from_progress_stops_within_one_batch(mnist, every_batch):
    seen = []
    trainer = None

    def on_progress(p):
        seen.append(p.step)
        if p.step == 3:
            trainer.cancel()

    trainer = Trainer(_config(epochs=3), on_progress=on_progress)
    result = trainer.run()
    assert result.steps in (3, 4)
    assert result.stop_reason == "cancelled" and result.cancelled
    assert max(seen) == result.steps
    assert result.history == [] and result.best_epoch is None  # no validation after a cancel
    assert result.model is not None


def test_cancel_from_another_thread(mnist, every_batch):
    reached, resume = threading.Event(), threading.Event()
    box = {}

    def on_progress(p):
        if p.step == 3:
            reached.set()
            assert resume.wait(60)

    trainer = Trainer(_config(epochs=3), on_progress=on_progress)
    worker = threading.Thread(target=lambda: box.setdefault("result", trainer.run()), daemon=True)
    worker.start()
    assert reached.wait(120), "training never reached step 3"
    trainer.cancel()  # from this (the main) thread, while the training thread waits at step 3
    trainer.cancel()  # idempotent
    assert trainer.cancelled
    resume.set()
    worker.join(120)
    assert not worker.is_alive()
    result = box["result"]
    assert result.steps in (3, 4)
    assert result.stop_reason == "cancelled"


def test_cancel_before_the_first_batch_ends(mnist):
    trainer = None

    def on_status(text):
        if text.startswith("Training"):
            trainer.cancel()  # just before fit starts

    trainer = Trainer(_config(epochs=3), on_status=on_status)
    result = trainer.run()
    assert result.steps == 1  # the batch in flight finishes, then the run stops
    assert result.stop_reason == "cancelled" and result.cancelled
    assert result.history == [] and result.best_epoch is None


def test_cancel_during_the_second_epoch_keeps_the_first(mnist, capture_model, every_batch):
    cfg = _config(epochs=3)
    per_epoch = _steps_per_epoch(cfg)
    recorded = {}
    trainer = None

    def on_epoch(e):
        recorded[e.epoch] = [w.copy() for w in capture_model["model"].get_weights()]

    def on_progress(p):
        if p.step == per_epoch + 2:
            trainer.cancel()

    trainer = Trainer(cfg, on_progress=on_progress, on_epoch=on_epoch)
    result = trainer.run()
    assert result.stop_reason == "cancelled"
    assert result.steps == per_epoch + 3
    assert [e.epoch for e in result.history] == [1] and result.best_epoch == 1
    for got, want in zip(result.model.get_weights(), recorded[1]):
        np.testing.assert_array_equal(got, want)


def test_cancel_before_run_reports_cancelled(mnist):
    trainer = Trainer(_config())
    trainer.cancel()
    result = trainer.run()
    assert result.steps == 0 and result.history == [] and result.best_epoch is None
    assert result.cancelled
    assert result.stop_reason == "cancelled"


# ----------------------------------------------------------------------------------------------
# best weights, early stopping, time budget


def _spoil_after_epoch_one(capture_model, recorded):
    """on_epoch: record the weights of each epoch, and wreck them after epoch 1 so that every
    later epoch is worse (a small learning rate cannot recover)."""
    rng = np.random.default_rng(0)

    def on_epoch(e):
        model = capture_model["model"]
        recorded[e.epoch] = ([w.copy() for w in model.get_weights()], e.val_loss)
        if e.epoch == 1:
            model.set_weights([rng.normal(0.0, 3.0, w.shape).astype(w.dtype) for w in model.get_weights()])

    return on_epoch


def test_best_epoch_weights_are_returned(mnist, capture_model):
    recorded = {}
    cfg = _config(epochs=3, learning_rate=1e-4, lr_schedule="constant")
    result = Trainer(cfg, on_epoch=_spoil_after_epoch_one(capture_model, recorded)).run()
    assert result.stop_reason == "completed"
    assert len(result.history) == 3
    losses = [e.val_loss for e in result.history]
    assert losses[0] < losses[1] and losses[0] < losses[2]
    assert result.best_epoch == 1
    for got, want in zip(result.model.get_weights(), recorded[1][0]):
        np.testing.assert_array_equal(got, want)
    assert not all(np.array_equal(g, w) for g, w in zip(result.model.get_weights(), recorded[3][0]))
    val_x, val_y = _validation(cfg)
    loss = result.model.evaluate(val_x, val_y, batch_size=500, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(losses[0], abs=1e-4)


def test_early_stopping_with_patience(mnist, capture_model):
    recorded = {}
    cfg = _config(epochs=8, patience=2, learning_rate=1e-4, lr_schedule="constant")
    result = Trainer(cfg, on_epoch=_spoil_after_epoch_one(capture_model, recorded)).run()
    assert result.stop_reason == "early stopping"
    assert [e.epoch for e in result.history] == [1, 2, 3]  # two epochs without improvement
    assert result.best_epoch == 1
    assert result.steps == 3 * _steps_per_epoch(cfg)
    for got, want in zip(result.model.get_weights(), recorded[1][0]):
        np.testing.assert_array_equal(got, want)


def test_time_budget_stops_early(mnist):
    reports = []
    cfg = _config(epochs=200, time_budget=0.5)
    result = Trainer(cfg, on_progress=reports.append).run()
    assert result.stop_reason == "time budget"
    assert not result.cancelled
    assert 1 <= result.steps < 200 * _steps_per_epoch(cfg)
    assert 1 <= len(result.history) < 200
    assert result.best_epoch is not None  # the partial epoch is validated and kept
    assert reports[-1].fraction == pytest.approx(1.0)
    assert reports[-1].step == result.steps


# ----------------------------------------------------------------------------------------------
# the classifier


def test_classifier_learns(mnist):
    cfg = TrainConfig(arch="classifier", noise=NoiseSpec("none"), epochs=2, batch_size=32, subset=2000, val_limit=500,
                      patience=None, seed=0)
    result = Trainer(cfg).run()
    assert result.kind == "classifier"
    assert len(result.history) == 2
    assert result.history[-1].val_metric > 0.80  # accuracy on the validation set
    assert result.history[-1].val_loss < result.history[0].val_loss
    assert tuple(result.model.output_shape) == (None, 10)


def test_classifier_noise_corrupts_about_half_of_each_batch(mnist):
    """--noise for the classifier: a random half of its training digits are corrupted too."""
    import tensorflow as tf


    cfg = TrainConfig(arch="classifier", noise=NoiseSpec("uniform", {"level": 0.9}), subset=2000, seed=0)
    split = data_mod.train_val_split(mnist, cfg.val_fraction, cfg.seed, cfg.subset)
    x, y = next(iter(Trainer(cfg)._train_dataset(split, "classifier", 512, tf)))
    blank = (x.numpy()[..., 0] == 0).mean(axis=(1, 2))  # uniform noise leaves no pixel at exactly 0
    corrupted = blank < 0.05
    assert 0.4 < corrupted.mean() < 0.6
    assert np.all(blank[~corrupted] > 0.3)  # the others are augmented clean digits on a blank ground
    assert y.shape == (512,)


def test_augment_digits_keeps_range_and_shape(mnist):
    import tensorflow as tf

    x = (mnist.x_test[:64].astype(np.float32) / 255.0)[..., None]
    out = training.augment_digits(tf.constant(x), tf.constant([1, 2], tf.int64)).numpy()
    again = training.augment_digits(tf.constant(x), tf.constant([1, 2], tf.int64)).numpy()
    assert out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, again)
    assert not np.allclose(out, x)
    # a mild augmentation: the digit keeps most of its ink
    ratio = out.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert np.all((ratio > 0.2) & (ratio < 4.0)), ratio


# ----------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize(
    "overrides",
    [
        dict(epochs=0),
        dict(batch_size=0),
        dict(learning_rate=1.5),
        dict(learning_rate=-0.1),
        dict(val_fraction=0.0),
        dict(val_fraction=0.6),
        dict(time_budget=0),
        dict(lr_schedule="step"),
        dict(arch="resnet"),
        dict(noise=NoiseSpec("none")),  # a denoiser needs noise
    ],
)
def test_bad_config_is_a_config_error(overrides):
    with pytest.raises(ConfigError):
        Trainer(_config(**overrides))


def test_config_defaults_and_dict():
    cfg = TrainConfig(arch="conv")
    assert cfg.lr == models.get("conv").learning_rate
    d = cfg.to_dict()
    assert d["noise"] == {"kind": "mixed", "params": {}}
    assert d["learning_rate"] == cfg.lr
    assert TrainConfig(arch="classifier", noise=NoiseSpec("none")).validate().arch == "classifier"


# ----------------------------------------------------------------------------------------------
# train_and_save: the name is reserved before the training, the figures never lost quietly


class _NeverRun(Trainer):
    def run(self):
        raise AssertionError("the training started although its name or folder could not be used")


def test_a_name_too_long_is_refused_before_the_training_starts(tmp_path):
    """It used to be refused at save, after the whole training (then thrown away)."""
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore(bundled_dir=tmp_path / "b", user_dir=tmp_path / "u")
    with pytest.raises(ConfigError) as info:
        workflows.train_and_save(_NeverRun(_config()), store, "n" * 300)
    assert "too long (300 characters" in str(info.value)
    assert not (tmp_path / "b").exists() and not (tmp_path / "u").exists()


def test_a_training_in_a_process_refuses_a_bad_name_before_it_starts(tmp_path):
    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.core.training_process import TrainingProcess

    with pytest.raises(ConfigError):
        TrainingProcess(_config(), ModelStore(tmp_path / "b", tmp_path / "u"), name="n" * 300)


def test_the_name_is_reserved_for_the_whole_run(mnist, tmp_path):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore(bundled_dir=tmp_path / "b", user_dir=tmp_path / "u")
    seen = {}

    class Watching(Trainer):
        def run(self):
            with store.reserve("mine") as other:  # another run asks for the name meanwhile
                seen["during"] = other.name
            return super().run()

    statuses = []
    _, entry = workflows.train_and_save(Watching(_config(epochs=1)), store, "mine", statuses.append, eval_limit=50)
    assert seen["during"] == "mine-2" and entry.name == "mine"
    assert not any(s.startswith("A model named") for s in statuses)  # no note: the name was free
    _, second = workflows.train_and_save(Trainer(_config(epochs=1)), store, "mine", statuses.append, eval_limit=50)
    assert second.name == "mine-2"
    assert "A model named mine exists or is being trained; this one will be saved as mine-2." in statuses


def test_figures_that_cannot_be_written_leave_the_saved_model_and_say_so(mnist, tmp_path, monkeypatch):
    """The disk fills up after the model was saved, while its figures are written."""
    import json

    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.store import ModelStore

    (tmp_path / "b").mkdir()
    store = ModelStore(bundled_dir=tmp_path / "b", user_dir=tmp_path / "u")
    fail_metadata_writes(monkeypatch)
    statuses = []
    result, entry = workflows.train_and_save(Trainer(_config(epochs=1)), store, "full", statuses.append, eval_limit=50)
    assert entry.name == "full" and entry.meta["metrics"] == {}
    on_disk = json.loads(entry.path.with_suffix(".json").read_text())
    assert on_disk["metrics"] == {} and on_disk["run_id"] == entry.meta["run_id"]
    assert store.load("full", "denoiser").entry.name == "full"  # the model is whole and usable
    assert statuses[-1] == (f"Saved full to {entry.path}, but its test figures were not written (Could not save "
                            f"{entry.path.with_suffix('.json')}: No space left on device); measure it again with: "
                            "desktop-denoiser evaluate --model full --save")
    assert sorted(p.name for p in store.write_dir.iterdir()) == ["full.json", "full.keras"]  # the user's folder
    assert list((tmp_path / "b").iterdir()) == []  # never the writable bundled one (issue 12)


def test_running_is_true_only_during_run(mnist):
    seen = []
    trainer = Trainer(_config(epochs=1), on_status=lambda s: seen.append(trainer.running))
    assert not trainer.running
    trainer.run()
    assert seen and all(seen) and not trainer.running
