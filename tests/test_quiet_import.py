"""TensorFlow's C++ start-up chatter stays off stderr; everything else written meanwhile gets through."""

from __future__ import annotations

import re
import subprocess
import sys

from desktop_denoiser.core import device

CODE = r"""
import os, sys, threading, time
from desktop_denoiser.core import device
def other_thread():  # the window's GUI thread, writing while the inference thread imports
    for i in range(5):
        os.write(2, f"our line {i}\n".encode())
        time.sleep(0.2)
t = threading.Thread(target=other_thread); t.start()
device.import_tensorflow_quietly()
t.join()
print("imported", "tensorflow" in sys.modules)
print("after the import", file=sys.stderr)
"""


def test_tf_chatter_is_dropped_and_other_lines_pass():
    env_code = "import os; os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None);" + CODE
    proc = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "imported True"
    err = proc.stderr.splitlines()
    assert [line for line in err if line.startswith("our line")] == [f"our line {i}" for i in range(5)]
    assert "after the import" in err
    assert not [line for line in err if re.match(r"[IWEF]\d{4} ", line) or "absl::InitializeLog" in line], err


def test_the_filter_pattern():
    chatter = [b"I0000 00:00:1796117077.803154    8097 cudart_stub.cc:31] Could not find cuda drivers",
               b"E0000 00:00:1796117083.325406    8097 cuda_platform.cc:52] failed call to cuInit",
               b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"]
    ours = [b"Traceback (most recent call last):", b"Qt: warning", b"I0 is not a log line", b"desktop-denoiser: error: x"]
    assert all(device._TF_CHATTER.match(line) for line in chatter)
    assert not any(device._TF_CHATTER.match(line) for line in ours)
