"""Background work at a lower OS priority, so the program a person looks at gets the CPU first."""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 5


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread (and the threads it starts afterwards, such as TensorFlow's pools)
    at a lower OS priority. Linux only (nice values are per thread there); raising nice needs
    no privileges. Elsewhere it does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (AttributeError, OSError):
        pass
