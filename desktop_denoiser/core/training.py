"""The one trainer, used by the command line and the GUI.

* ``tf.data`` input: an endless, reshuffled stream of clean digits, corrupted batch by batch
  with stateless TF noise seeded from ``tf.data.Dataset.random`` — fresh noise every epoch,
  yet the same run twice gives the same numbers.
* A fixed, seeded validation set, evaluated at each epoch's end; early stopping; the best
  epoch's weights are kept and restored.
* A folder of one's own digits (``TrainConfig.data``, read and split by :mod:`training_data`):
  its training part mixed element by element with MNIST's (``mnist_ratio`` of each batch from
  MNIST), its held-out part the validation set; ``init`` starts from a stored model's weights.
* Per-batch progress (throttled, with images/s and ETA) and per-epoch losses through plain
  callables, so the CLI prints a bar and the GUI draws curves.
* :meth:`Trainer.cancel` may be called from any thread; training stops after the batch in
  flight and keeps the best weights so far.
* On a GPU when present (a ``tf.distribute`` strategy; mirrored across several).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
from typing import Callable, Optional

import numpy as np

from . import data as data_mod
from . import device, models, reconstruction_pool, training_data
from .augment import flag_ones
from .errors import ConfigError
from .noise import NoiseSpec

PROGRESS_INTERVAL = 0.1  # seconds between progress reports
PSNR, ACCURACY = "psnr", "accuracy"  # the validation metric of a denoiser, of the classifier


@dataclasses.dataclass
class TrainConfig:
    arch: str = "unet"
    noise: NoiseSpec = dataclasses.field(default_factory=lambda: NoiseSpec("mixed"))
    epochs: int = 10
    batch_size: int = 128
    learning_rate: Optional[float] = None  # None: the architecture's default
    subset: Optional[int] = None  # training images to use (None: all)
    val_fraction: float = 0.1
    val_limit: int = 5000  # validation images evaluated each epoch
    patience: Optional[int] = 3  # early stopping on validation loss (None: off)
    seed: int = 0
    time_budget: Optional[float] = None  # training seconds, then stop: CPU seconds of this process
    # on a CPU (fair when other programs share the cores), wall seconds on a GPU
    lr_schedule: str = "cosine"  # "cosine" (decays to 5% over the run) or "constant"
    mnist: Optional[str] = None
    bottleneck: Optional[int] = None  # code size of dense/conv (None: the article's 64 / 128)
    data: Optional[str] = None  # a folder of one's own digits to train on (training_data.py), None: MNIST only
    mnist_ratio: Optional[float] = None  # the MNIST share of each batch with a folder (None: DEFAULT_MNIST_RATIO)
    init: Optional[str] = None  # start from this stored model's weights (a name or .keras path), None: from scratch
    reconstructions: Optional[tuple] = None  # classifier: also train on these denoisers' reconstructions (reconstruction_pool.py)
    augment: str = "basic"  # the classifier's augmentation: "basic" or "handwriting" (augment.AUGMENTATIONS)
    flag_ones: float = 0.0  # the classifier: the share of 1s given a European flag (augment.flag_ones)

    def validate(self) -> "TrainConfig":
        arch = models.get(self.arch)
        if self.epochs < 1:
            raise ConfigError("Epochs must be at least 1.")
        if self.batch_size < 1:
            raise ConfigError("Batch size must be at least 1.")
        if self.learning_rate is not None and not (0 < self.learning_rate < 1):
            raise ConfigError("Learning rate must be between 0 and 1.")
        if not (0 < self.val_fraction < 0.5):
            raise ConfigError("The validation fraction must be between 0 and 0.5.")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ConfigError("The time budget must be positive.")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError("The learning-rate schedule must be 'cosine' or 'constant'.")
        models.check_bottleneck(self.arch, self.bottleneck)
        if self.augment not in ("basic", "handwriting"):
            raise ConfigError("The augmentation must be 'basic' or 'handwriting'.")
        if not 0 <= self.flag_ones <= 1:
            raise ConfigError("The share of flagged 1s must be from 0 to 1.")
        if self.flag_ones and arch.kind != "classifier":
            raise ConfigError("Only the classifier trains on flagged 1s (they need the labels).")
        if self.reconstructions and arch.kind != "classifier":
            raise ConfigError("Only the classifier trains on reconstructions; a denoiser makes them.")
        if arch.kind == "denoiser" and self.noise.kind == "none":
            raise ConfigError("A denoiser needs a noise to learn from; pick a noise other than 'none'.")
        if self.data is None and self.mnist_ratio not in (None, 1, 1.0):
            raise ConfigError("The MNIST share applies to a training on a folder; give the folder too (--data DIR).")
        if self.data is not None:
            from pathlib import Path

            if not str(self.data).strip():
                raise ConfigError("Choose the folder of digit images to train on.")
            if not Path(self.data).is_dir():
                raise ConfigError(f"No such folder of digit images: {self.data}")
            if self.mnist_ratio is not None and not (0 <= self.mnist_ratio < 1):
                raise ConfigError("The MNIST share must be from 0 (the folder alone) to below 1.")
        if self.init is not None and not str(self.init).strip():
            raise ConfigError("The model to start from has no name.")
        return self

    @property
    def mnist_share(self) -> float:
        """The MNIST share of each batch: 1 without a folder, else the ratio (or its default)."""
        if self.data is None:
            return 1.0
        return training_data.DEFAULT_MNIST_RATIO if self.mnist_ratio is None else float(self.mnist_ratio)

    @property
    def lr(self) -> float:
        """The learning rate: the one given, else the architecture's (a tenth of it when fine-tuning from ``init``)."""
        factor = training_data.FINE_TUNE_LR_FACTOR if self.init else 1.0
        return self.learning_rate or models.get(self.arch).learning_rate * factor

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["noise"] = self.noise.to_dict()
        d["learning_rate"] = self.lr
        d["mnist_ratio"] = self.mnist_share if self.data is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """The config of :meth:`to_dict` (a model's metadata "config"); unknown keys are ignored,
        missing ones take their defaults (older metadata has no "bottleneck")."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in dict(data).items() if k in fields}
        if isinstance(values.get("noise"), dict):
            values["noise"] = NoiseSpec.from_dict(values["noise"])
        return cls(**values)


@dataclasses.dataclass
class Progress:
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    step: int  # batches done in the whole run
    loss: float  # smoothed per-batch training loss
    images_per_s: float
    elapsed: float
    eta: Optional[float]
    fraction: float  # 0..1 of the whole run


@dataclasses.dataclass
class EpochResult:
    epoch: int  # 1-based
    loss: float
    val_loss: float
    val_metric: float  # PSNR (dB) for denoisers, accuracy for the classifier: see val_metric_name
    seconds: float
    step: int
    val_metric_name: str = PSNR  # which metric val_metric is: PSNR ("psnr", dB) or ACCURACY ("accuracy", 0..1)

    def val_metric_text(self) -> str:
        """The validation metric for people: "val PSNR 21.30 dB" or "val accuracy 97.10%"."""
        if self.val_metric_name == ACCURACY:
            return f"val accuracy {100 * self.val_metric:.2f}%"
        return f"val PSNR {self.val_metric:.2f} dB"


@dataclasses.dataclass
class TrainResult:
    model: object
    config: TrainConfig
    history: list
    best_epoch: Optional[int]  # None when no epoch finished
    cancelled: bool
    stop_reason: str  # "completed", "early stopping", "time budget", "cancelled"
    seconds: float
    device: str
    images_per_s: float
    steps: int
    data: dict = dataclasses.field(default_factory=dict)  # what it trained on: the "data" of its metadata (see _provenance)
    held_out: Optional[tuple] = None  # a folder's held-out part: (x (N, 28, 28) float in [0, 1], labels or None)

    @property
    def kind(self) -> str:
        return models.get(self.config.arch).kind


def init_entry(store, name: str, arch: str):
    """The stored model ``name`` to start a training of ``arch`` from (a ModelEntry): a
    ModelFileError when there is none, a ConfigError when it is of another architecture."""
    entry = store.find(name)
    if entry.error:
        raise ConfigError(f"Cannot start from {entry.name}: {entry.error}")
    found = entry.meta.get("architecture")
    if found != arch:
        raise ConfigError(f"Cannot start from {entry.name}: it is a {found or 'model of unknown architecture'}, not a "
                          f"{arch} (a training starts from a model of the architecture it trains).")
    return entry


def psnr_metric(y_true, y_pred):
    """Mean per-image PSNR in dB for images in [0, 1] (a Keras metric)."""
    import tensorflow as tf

    mse = tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3])
    return tf.reduce_mean(10.0 * tf.math.log(1.0 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0))


def augment_digits(images, seed, kind: str = "basic"):
    """Augment a batch (N, 28, 28, 1) for the classifier: ``kind`` "basic" (stroke width, shifts,
    rotation, scale) or "handwriting" (also slant, elastic distortion, low resolution, binarised);
    see :mod:`augment`."""
    from .augment import AUGMENTATIONS

    return AUGMENTATIONS[kind](images, seed)


class Trainer:
    """Train one architecture according to a :class:`TrainConfig`.

    ``on_progress(Progress)`` is called at most every :data:`PROGRESS_INTERVAL` seconds and at
    each epoch's last batch; ``on_epoch(EpochResult)`` after each validated epoch;
    ``on_status(str)`` for phases (loading data, building, training on DEVICE) and for each of
    the reader's problem lines about a folder; the attribute ``on_batch(step, loss)``, when set,
    after every batch (a record of runs, :mod:`run_recorder`). All are called on the training thread.

    With ``config.data`` the folder is read when the run starts, unless ``folder`` (a
    :class:`training_data.FolderData` of it) was read already; ``config.init`` is looked up in
    ``store`` (default: the user's and the bundled models).
    """

    def __init__(
        self,
        config: TrainConfig,
        on_progress: Callable[[Progress], None] | None = None,
        on_epoch: Callable[[EpochResult], None] | None = None,
        on_status: Callable[[str], None] | None = None,
        store=None,
        folder: Optional["training_data.FolderData"] = None,
    ):
        self.config = config.validate()
        self.store = store
        self.folder = folder
        self._init: Optional[dict] = None  # the model started from: name, path, run_id
        self.on_progress = on_progress or (lambda p: None)
        self.on_epoch = on_epoch or (lambda e: None)
        self.on_status = on_status or (lambda s: None)
        self.on_batch: Optional[Callable[[int, float], None]] = None  # (step, batch loss) after every batch
        self._cancel = threading.Event()
        self.running = False  # True while run() runs (loading, building, training)

    def cancel(self) -> None:
        """Ask the run to stop after the batch in flight (thread-safe, idempotent)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # ---------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self.running = True
        try:
            return self._run()
        finally:
            self.running = False

    def _run(self) -> TrainResult:
        import keras
        import tensorflow as tf

        cfg = self.config
        arch = models.get(cfg.arch)
        start = time.perf_counter()
        folder = self._folder(arch.kind)
        split = None
        if cfg.mnist_share > 0:
            self.on_status("Loading MNIST…")
            split = data_mod.train_val_split(data_mod.load_mnist(cfg.mnist), cfg.val_fraction, cfg.seed, cfg.subset)
        n_train = len(split.x_train) if folder is None else training_data.epoch_images(len(folder.x_train), cfg.mnist_share)
        batch_size = min(cfg.batch_size, n_train)
        steps = max(1, n_train // batch_size)

        where = device.describe()
        if self._cancel.is_set():  # cancelled while the data loaded: stop before building anything
            return self._result(None, None, start, where)
        keras.utils.set_random_seed(cfg.seed)
        init = self._init_model(arch)
        strategy = device.strategy()
        self.on_status(f"Building {arch.name} on {where}…")
        with strategy.scope():
            model = models.build(arch.name, cfg.bottleneck)
            if init is not None:
                self._start_from(model, init)
            # plain TF ops: skip autograph, whose source parsing holds the GIL (the GUI thread waits)
            metric = tf.autograph.experimental.do_not_convert(psnr_metric) if arch.kind == "denoiser" else "accuracy"
            model.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss=arch.loss, metrics=[metric])

        train_ds = self._train_dataset(split, arch.kind, batch_size, tf, folder)
        val_x, val_y = self._validation_set(split, arch.kind, folder)

        clock = time.perf_counter if device.gpus() else time.process_time
        monitor = _Monitor(self, steps, cfg.epochs, batch_size, val_x, val_y, start, clock)
        if self._cancel.is_set():
            return self._result(model, monitor, start, where)
        self.on_status(f"Training {arch.name} on {where}")
        model.fit(train_ds, epochs=cfg.epochs, steps_per_epoch=steps, callbacks=[_keras_callback(monitor)], verbose=0)
        monitor.restore_best(model)
        return self._result(model, monitor, start, where)

    def _result(self, model, monitor: Optional["_Monitor"], start: float, where: str) -> TrainResult:
        reason = monitor.stop_reason if monitor is not None and monitor.step else "cancelled"
        if monitor is not None and monitor.step == 0 and not self._cancel.is_set():
            reason = "completed"
        return TrainResult(
            model=model,
            config=self.config,
            history=monitor.history if monitor else [],
            best_epoch=monitor.best_epoch if monitor else None,
            cancelled=reason == "cancelled",
            stop_reason=reason,
            seconds=time.perf_counter() - start,
            device=where,
            images_per_s=monitor.mean_images_per_s() if monitor else 0.0,
            steps=monitor.step if monitor else 0,
            data=self._provenance(),
            held_out=None if self.folder is None else (data_mod.to_float(self.folder.x_val), self.folder.y_val),
        )

    # a folder of one's own digits, a model to start from ----------------------------------------

    def _folder(self, kind: str) -> Optional["training_data.FolderData"]:
        """The config's folder, read and split (once: a folder given to the trainer is used as it is)."""
        cfg = self.config
        if cfg.data is None:
            return None
        if self.folder is None:
            self.on_status(f"Reading {cfg.data}…")
            self.folder = training_data.read(cfg.data, kind, cfg.val_fraction, cfg.seed, on_problem=self.on_status)
        f = self.folder
        self.on_status(f"{len(f.folder)} images in {f.folder.root}: {len(f.x_train)} to train on, "
                       f"{len(f.x_val)} held out; MNIST share {cfg.mnist_share:.0%}.")
        return f

    def _init_model(self, arch):
        """The stored model ``config.init`` (a LoadedModel), or None; a ConfigError when it is not of this architecture."""
        cfg = self.config
        if cfg.init is None:
            return None
        from .store import ModelStore

        store = self.store or ModelStore()
        self.on_status(f"Loading {cfg.init} to start from…")
        loaded = store.load(str(init_entry(store, cfg.init, arch.name).path), arch.kind)
        self._init = {"name": loaded.entry.name, "path": str(loaded.entry.path), "run_id": loaded.entry.meta.get("run_id"),
                      "created": loaded.entry.meta.get("created")}
        return loaded

    def _start_from(self, model, init) -> None:
        try:
            model.set_weights(init.model.get_weights())
        except ValueError:
            raise ConfigError(f"{init.entry.name} has other layer sizes than this {self.config.arch} (another bottleneck?); "
                              "give the same settings to start from it.") from None

    def _provenance(self) -> dict:
        """Which data the model saw, for its metadata and its run: the folder (path, images per
        digit, fingerprint, split), the MNIST share and the model it started from."""
        cfg = self.config
        out = {"source": "mnist" if cfg.data is None else "folder" if cfg.mnist_share == 0 else "folder+mnist",
               "mnist_ratio": cfg.mnist_share, "init": self._init}
        if self.folder is not None:
            out["folder"] = self.folder.provenance()
        return out

    # the datasets -------------------------------------------------------------------------------

    def _train_dataset(self, split, kind, batch_size, tf, folder=None):
        """The endless training stream: MNIST's training part and, with a folder, the folder's,
        mixed element by element (:func:`training_data.mixed`), then batched and corrupted (a
        denoiser) or augmented (the classifier) alike."""
        cfg = self.config
        AUTOTUNE = tf.data.AUTOTUNE
        seeds = tf.data.Dataset.random(seed=cfg.seed).batch(2)

        def stream(images_u8, labels):
            items = images_u8[..., None] if labels is None else (images_u8[..., None], labels.astype(np.int64))
            ds = tf.data.Dataset.from_tensor_slices(items)
            return ds.shuffle(len(images_u8), seed=cfg.seed, reshuffle_each_iteration=True).repeat()

        classifier = kind != "denoiser"
        mnist_ds = folder_ds = None
        if split is not None and cfg.mnist_share > 0:
            mnist_ds = stream((split.x_train * 255).round().astype(np.uint8), split.y_train if classifier else None)
        if folder is not None:
            folder_ds = stream(folder.x_train, folder.y_train if classifier else None)
        ds = training_data.mixed(tf, mnist_ds, folder_ds, cfg.mnist_share, cfg.seed)
        ds = ds.batch(batch_size, drop_remainder=True)
        if kind == "denoiser":
            noise = cfg.noise

            @tf.autograph.experimental.do_not_convert  # plain TF ops: skip autograph's parsing
            def corrupt(clean_u8, seed):
                clean = tf.cast(clean_u8, tf.float32) / 255.0
                noisy = noise.apply_tf(clean[..., 0], seed)[..., None]
                return noisy, clean

            ds = tf.data.Dataset.zip((ds, seeds)).map(corrupt, num_parallel_calls=AUTOTUNE)
        else:
            noise = cfg.noise
            recon = self._reconstruction_batches(split, batch_size, stream, tf)  # None: no reconstructions

            @tf.autograph.experimental.do_not_convert
            def augment(batch, seed, pool=None):
                x_u8, y = batch
                x = tf.cast(x_u8, tf.float32) / 255.0
                if cfg.flag_ones:  # before the augmentation, which then slants and thickens the flag too
                    x = flag_ones(x, y, seed + tf.constant([0, 23], tf.int64), cfg.flag_ones)
                x = augment_digits(x, seed, cfg.augment)
                if noise.kind != "none":  # robust training: a random half of the digits corrupted
                    noisy = noise.apply_tf(x[..., 0], seed + tf.constant([0, 7], tf.int64))[..., None]
                    pick = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1, 1], seed + tf.constant([0, 11], tf.int64))
                    x = tf.where(pick < 0.5, noisy, x)
                if pool is not None:  # a share of each batch: the denoisers' reconstructions
                    x, y = reconstruction_pool.mix(x, y, pool, seed)
                return x, y

            parts = (ds, seeds) if recon is None else (ds, seeds, recon)
            ds = tf.data.Dataset.zip(parts).map(augment, num_parallel_calls=AUTOTUNE)
        options = tf.data.Options()
        options.deterministic = True
        return ds.with_options(options).prefetch(AUTOTUNE)

    def _reconstruction_batches(self, split, batch_size, stream, tf):
        """Batches of reconstructions of MNIST's training digits by ``config.reconstructions``
        (:func:`reconstruction_pool.build`, made once), or None."""
        cfg = self.config
        if not cfg.reconstructions or split is None:
            return None
        mnist_u8 = (split.x_train * 255).round().astype(np.uint8)
        pool = reconstruction_pool.build(cfg.reconstructions, mnist_u8, cfg.seed, self.store, self.on_status)
        return stream(pool, split.y_train).batch(batch_size, drop_remainder=True)

    def _validation_set(self, split, kind, folder=None):
        """The fixed validation set: MNIST's held-out part, or the folder's when training on a folder."""
        cfg = self.config
        if folder is not None:
            clean, labels = data_mod.to_float(folder.x_val[: cfg.val_limit]), folder.y_val
        else:
            clean, labels = split.x_val[: cfg.val_limit], split.y_val
        if kind == "denoiser":
            noisy = cfg.noise.apply(clean, seed=cfg.seed + 1_000_003)
            return noisy[..., None], clean[..., None]
        labels = labels[: cfg.val_limit]
        if cfg.reconstructions and folder is None:  # validate on what it trains for: half of it reconstructions
            half = len(clean) // 2
            recon = reconstruction_pool.build(cfg.reconstructions, (clean[half:] * 255).round().astype(np.uint8),
                                              cfg.seed + 1_000_003, self.store, self.on_status)
            clean = np.concatenate([clean[:half], data_mod.to_float(recon)])
        return clean[..., None], labels


def _keras_callback(monitor: "_Monitor"):
    """Wrap a :class:`_Monitor` in a real Keras callback (Keras is imported only here)."""
    import keras

    class _Callback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            monitor.on_train_begin()

        def on_epoch_begin(self, epoch, logs=None):
            monitor.on_epoch_begin(epoch)

        def on_train_batch_end(self, batch, logs=None):
            monitor.on_train_batch_end(self.model, batch, logs or {})

        def on_epoch_end(self, epoch, logs=None):
            monitor.on_epoch_end(self.model, epoch, logs)

    return _Callback()


class _Monitor:
    """Progress, cancel, time budget, validation, early stopping and best weights, in one place."""

    def __init__(self, trainer: Trainer, steps, epochs, batch_size, val_x, val_y, start, clock):
        self.clock = clock  # the time budget's clock
        self.budget_start = None
        self.trainer = trainer
        self.steps, self.epochs, self.batch_size = steps, epochs, batch_size
        self.val_x, self.val_y = val_x, val_y
        self.start = start
        self.fit_start = None
        self.history: list[EpochResult] = []
        self.best_epoch: Optional[int] = None
        self.best_val = math.inf
        self.best_weights = None
        self.stop_reason = "completed"
        self.step = 0
        self.epoch = 0
        self.epoch_start = 0.0
        self.smoothed = None
        self.prev_mean = 0.0
        self.last_report = 0.0
        self.rate_window: collections.deque = collections.deque(maxlen=50)  # (time, step) of recent batches
        self.wait = 0

    # hooks, called by the Keras callback -------------------------------------------------------

    def on_train_begin(self):
        self.fit_start = time.perf_counter()
        self.budget_start = self.clock()

    def on_epoch_begin(self, epoch):
        self.epoch = epoch
        self.epoch_start = time.perf_counter()
        self.prev_mean = 0.0

    def on_train_batch_end(self, model, batch, logs):
        now = time.perf_counter()
        self.step += 1
        k = batch + 1
        mean = float(logs.get("loss", 0.0))
        batch_loss = k * mean - (k - 1) * self.prev_mean if k > 1 else mean
        self.prev_mean = mean
        if not math.isfinite(batch_loss):
            batch_loss = mean
        self.smoothed = batch_loss if self.smoothed is None else 0.9 * self.smoothed + 0.1 * batch_loss
        self.rate_window.append((now, self.step))
        if self.trainer.on_batch is not None:  # a record of runs: every batch's own loss
            self.trainer.on_batch(self.step, batch_loss)
        cfg = self.trainer.config
        if self.trainer.cancelled:
            self.stop_reason = "cancelled"
            model.stop_training = True
        elif cfg.time_budget is not None and self.clock() - self.budget_start >= cfg.time_budget:
            self.stop_reason = "time budget"
            model.stop_training = True
        progress = self._progress(now, k)
        if cfg.lr_schedule == "cosine":
            # cosine decay over the run's progress (steps or time budget, whichever is further)
            factor = 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress.fraction)))
            model.optimizer.learning_rate.assign(cfg.lr * factor)
        if now - self.last_report >= PROGRESS_INTERVAL or k == self.steps or model.stop_training:
            self.last_report = now
            self.trainer.on_progress(progress)

    def on_epoch_end(self, model, epoch, logs):
        if self.stop_reason == "cancelled":
            return  # no validation after a cancel: stop now, keep the best so far
        loss = float((logs or {}).get("loss", math.nan))
        val = model.evaluate(self.val_x, self.val_y, batch_size=500, verbose=0, return_dict=True)
        metric_name = "psnr_metric" if "psnr_metric" in val else "accuracy"
        result = EpochResult(
            epoch=epoch + 1, loss=loss, val_loss=float(val["loss"]), val_metric=float(val.get(metric_name, math.nan)),
            seconds=time.perf_counter() - self.epoch_start, step=self.step,
            val_metric_name=PSNR if metric_name == "psnr_metric" else ACCURACY,
        )
        if logs is not None:
            logs["val_loss"] = result.val_loss
        self.history.append(result)
        if result.val_loss < self.best_val:
            self.best_val = result.val_loss
            self.best_epoch = epoch + 1
            self.best_weights = [w.copy() for w in model.get_weights()]
            self.wait = 0
        else:
            self.wait += 1
            patience = self.trainer.config.patience
            if patience is not None and self.wait >= patience and not model.stop_training:
                self.stop_reason = "early stopping"
                model.stop_training = True
        self.trainer.on_epoch(result)

    # helpers ---------------------------------------------------------------------------------

    def _progress(self, now, k) -> Progress:
        rate = self._steps_per_s()
        total = self.steps * self.epochs
        fraction = self.step / total
        budget = self.trainer.config.time_budget
        if budget is not None:
            fraction = max(fraction, (self.clock() - self.budget_start) / budget)
        fraction = min(1.0, fraction)
        elapsed = now - self.fit_start
        eta = elapsed * (1.0 - fraction) / fraction if fraction > 0 and self.step >= 3 else None
        return Progress(
            epoch=self.epoch + 1, epochs=self.epochs, batch=k, batches=self.steps, step=self.step,
            loss=float(self.smoothed), images_per_s=rate * self.batch_size, elapsed=now - self.start,
            eta=eta, fraction=fraction,
        )

    def _steps_per_s(self) -> float:
        if len(self.rate_window) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self.rate_window[0], self.rate_window[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def mean_images_per_s(self) -> float:
        if self.fit_start is None or self.step == 0:
            return 0.0
        return self.step * self.batch_size / max(time.perf_counter() - self.fit_start, 1e-9)

    def restore_best(self, model) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
