"""Which device TensorFlow computes on, and the distribution strategy that uses it."""

from __future__ import annotations

import functools
import platform


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


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
