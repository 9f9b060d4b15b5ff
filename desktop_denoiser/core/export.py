"""Exporting a stored model to formats other programs load: ``desktop-denoiser models export``.

* ``savedmodel``: a TensorFlow SavedModel folder (Keras 3's ``model.export``), serving endpoint
  ``serve`` on float32 ``(N, 28, 28, 1)`` images in [0, 1];
* ``tflite``: a TensorFlow Lite flat buffer (converted from that SavedModel, float32);
* ``onnx``: an ONNX graph (``tf2onnx``, the optional extra ``desktop-denoiser[onnx]``).

Every export is checked before it gets its name: loaded back with its own runtime (TensorFlow,
the TFLite interpreter, ONNX Runtime) and run on MNIST test digits (noisy ones, with the
model's own noise, for a denoiser); its outputs must match the Keras model's within
:data:`TOLERANCE`. A failed check writes nothing. Files are written atomically, a folder is
built beside its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np

from . import atomic
from .errors import ConfigError, DenoiserError, SaveError

FORMATS = ("savedmodel", "tflite", "onnx")
TOLERANCE = 1e-4  # largest absolute difference from the Keras model's outputs
CHECK_DIGITS = 8
ONNX_OPSET = 17
ONNX_EXTRA = "ONNX export needs the optional extra: pip install 'desktop-denoiser[onnx]' (tf2onnx and onnxruntime)"


@dataclasses.dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    digits: int  # test digits the export was checked on
    max_difference: float  # largest absolute difference from the Keras model's outputs

    def describe(self) -> str:
        return (f"wrote {self.path} ({self.format}); checked on {self.digits} test digits: outputs within "
                f"{self.max_difference:.1e} of the Keras model's")


def check_inputs(entry, count: int = CHECK_DIGITS) -> np.ndarray:
    """``count`` MNIST test digits, float32 (N, 28, 28, 1); for a denoiser corrupted with its own
    noise (seeded). Seeded random images when MNIST is not available."""
    from . import data as data_mod
    from .noise import NoiseSpec

    try:
        mnist = data_mod.load_mnist((entry.meta.get("config") or {}).get("mnist"))
        x = data_mod.to_float(mnist.x_test[:count])
    except DenoiserError:
        x = np.random.default_rng(0).random((count, 28, 28), dtype=np.float32)
    if entry.kind == "denoiser":
        with contextlib.suppress(Exception):
            x = NoiseSpec.from_dict(entry.meta.get("noise") or {"kind": "none"}).apply(x, seed=0)
    return np.ascontiguousarray(np.asarray(x, np.float32).reshape(-1, 28, 28, 1))


def check_target(fmt: str, target: str | Path, overwrite: bool = False) -> Path:
    """``target`` as a Path when an export of ``fmt`` may be written there (else a ConfigError, before any work)."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format '{fmt}' (one of: {', '.join(FORMATS)}).")
    target = Path(target)
    if fmt != "savedmodel" and target.is_dir():
        raise ConfigError(f"{target} is a folder; a {fmt} export is one file.")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise ConfigError(f"{target} exists; give --overwrite to replace it.")
    if fmt == "onnx":
        _onnx_modules()
    return target


def export(model, entry, fmt: str, target: str | Path, overwrite: bool = False) -> Exported:
    """Export ``model`` (the Keras model of store ``entry``) as ``fmt`` to ``target``, checked."""
    target = check_target(fmt, target, overwrite)
    x = check_inputs(entry)
    expected = np.asarray(model(x, training=False), np.float32)
    with _work_folder(target) as work:
        saved = work / "savedmodel"
        _savedmodel(model, saved)
        if fmt == "savedmodel":
            diff = _check(expected, _run_savedmodel(saved, x), fmt)
            _move_folder(saved, target, overwrite)
        elif fmt == "tflite":
            content = _tflite(saved)
            diff = _check(expected, _run_tflite(content, x), fmt)
            atomic.write_bytes(target, content)
        else:
            content = _onnx(model)
            diff = _check(expected, _run_onnx(content, x), fmt)
            atomic.write_bytes(target, content)
    return Exported(target, fmt, len(x), diff)


def _check(expected: np.ndarray, got: np.ndarray, fmt: str) -> float:
    got = np.asarray(got, np.float32).reshape(expected.shape)
    diff = float(np.max(np.abs(got - expected)))
    if not np.isfinite(diff) or diff > TOLERANCE:
        raise SaveError(f"The {fmt} export gives outputs up to {diff:.2g} away from the Keras model's "
                        f"(more than {TOLERANCE:g}); nothing was written.")
    return diff


# ------------------------------------------------------------------------------------------
# the formats


def _savedmodel(model, folder: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the signature
        model.export(str(folder), format="tf_saved_model", verbose=False)


def _run_savedmodel(folder: Path, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    return loaded.serve(tf.constant(x)).numpy()


def _tflite(saved: Path) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    return converter.convert()


def _run_tflite(content: bytes, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(
            model_content=content,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _onnx_modules():
    try:
        import onnxruntime
        import tf2onnx
    except ImportError:
        raise ConfigError(ONNX_EXTRA + ".") from None
    return tf2onnx, onnxruntime


def _onnx(model) -> bytes:
    import tensorflow as tf

    tf2onnx, _ = _onnx_modules()
    spec = (tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image"),)
    with contextlib.redirect_stdout(io.StringIO()):
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET)
    return proto.SerializeToString()


def _run_onnx(content: bytes, x: np.ndarray) -> np.ndarray:
    _, onnxruntime = _onnx_modules()
    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


# ------------------------------------------------------------------------------------------
# folders


@contextlib.contextmanager
def _work_folder(target: Path):
    """A hidden temporary folder beside ``target`` (the same file system: renames are atomic), removed after."""
    folder = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise SaveError(f"Cannot write to {target.parent}: {exc.strerror or exc}") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _move_folder(source: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished folder ``source`` to ``target``; an existing ``target`` (when
    ``overwrite``) is moved aside first and removed once the new one is in place."""
    aside = None
    try:
        if target.exists() or target.is_symlink():
            if not overwrite:
                raise ConfigError(f"{target} exists; give --overwrite to replace it.")
            aside = source.parent / "previous"
            target.rename(aside)
        source.rename(target)
    except OSError as exc:
        if aside is not None and not target.exists():
            with contextlib.suppress(OSError):
                aside.rename(target)
        raise SaveError(f"Could not write {target}: {exc.strerror or exc}") from None
