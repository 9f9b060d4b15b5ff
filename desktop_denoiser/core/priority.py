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


def lower_process_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run a whole background process at a lower OS priority; call it first thing, before the
    process starts threads. Linux: the calling thread (the threads started later inherit it);
    other POSIX systems: the process's nice value; Windows: the below-normal priority class."""
    if sys.platform.startswith("linux"):
        lower_thread_priority(nice)
    elif sys.platform == "win32":
        try:
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), 0x00004000)  # BELOW_NORMAL_PRIORITY_CLASS
        except (AttributeError, OSError):
            pass
    else:
        try:
            os.nice(nice)
        except (AttributeError, OSError):
            pass
