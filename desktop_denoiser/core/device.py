"""Which device TensorFlow computes on, and the distribution strategy that uses it."""

from __future__ import annotations

import functools
import os
import platform
import re
import sys
import threading


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


# TensorFlow's C++ log lines (absl: "I0000 00:00:1796117077.803154    8097 cudart_stub.cc:31] ...")
# and the one absl prints before its logging is set up.
_TF_CHATTER = re.compile(rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]|"
                         rb"WARNING: All log messages before absl::InitializeLog\(\) is called)")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (absl, oneDNN, CUDA probing) kept off
    stderr, so that an error stays one line. Our own messages are printed after this.

    The chatter is written by C++ straight to file descriptor 2, so only a redirect of that
    descriptor can hold it back. It goes through a pipe whose reader passes every line that is
    not TensorFlow's log format on to the real stderr: other threads (the window's GUI thread
    while the inference thread imports) keep their stderr, tracebacks included.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError):
        return
    reader = threading.Thread(target=_pass_on_all_but_chatter, args=(read_end, saved), name="tf-chatter", daemon=True)
    reader.start()
    try:
        os.dup2(write_end, 2)
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA probing logs here
    except ImportError:
        pass
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(write_end)
        reader.join(5)
        os.close(saved)


def _pass_on_all_but_chatter(read_end: int, stderr_fd: int) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if not _TF_CHATTER.match(line):
                try:
                    os.write(stderr_fd, line)
                except OSError:
                    pass


@functools.lru_cache(maxsize=1)
def gpus() -> tuple:
    import tensorflow as tf

    found = tuple(tf.config.list_physical_devices("GPU"))
    for gpu in found:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            pass  # already initialised
    return found


def describe() -> str:
    """A one-line description of the compute device, e.g. ``GPU: NVIDIA T4`` or ``CPU: ... (2 cores)``."""
    import os

    import tensorflow as tf

    found = gpus()
    if found:
        names = []
        for gpu in found:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
            except (RuntimeError, ValueError):
                names.append(gpu.name)
        label = names[0] if len(set(names)) == 1 else ", ".join(names)
        return f"GPU: {label}" + (f" ×{len(found)}" if len(found) > 1 else "")
    return f"CPU: {_cpu_name()} ({os.cpu_count()} cores)"


def strategy():
    """MirroredStrategy over several GPUs, the one GPU, or TensorFlow's default (CPU)."""
    import tensorflow as tf

    found = gpus()
    if len(found) > 1:
        return tf.distribute.MirroredStrategy()
    if len(found) == 1:
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    return tf.distribute.get_strategy()


def use_one_thread() -> bool:
    """Run TensorFlow ops on one thread (call before TensorFlow's first op; returns whether it
    took effect). For one-image work, such as ``denoise`` on files: a 28×28 digit is too small
    to split across cores, and the hand-offs between pool threads cost more than they save
    (unet + classifier: about 2 ms per digit on one thread against 4 ms on two here)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow is already initialised: keep its pools
        return False
    return True


def one_thread() -> bool:
    """Whether TensorFlow was set to run ops on one thread."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() == 1
