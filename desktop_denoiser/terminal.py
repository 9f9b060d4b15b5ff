"""What the command line prints on a terminal: progress bars with ETA, and file paths and
messages made to fit on one line."""

from __future__ import annotations

import time
from typing import Optional

from .core.durations import clock


def summary_line(s) -> str:
    return f"{s.written} written, {s.skipped} skipped, {s.failed} failed"


def quote_path(text: str) -> str:
    """A path as one tab-free field: as is, or in double quotes with C escapes when it holds a
    tab, a newline or another character that is not printable (or starts with a quote)."""
    if text.isprintable() and not text.startswith('"'):
        return text
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif c in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[c])
        elif "\udc80" <= c <= "\udcff":  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def one_line(message: Optional[str]) -> str:
    """A message that names a file with a newline in it still fits on one line."""
    text = message or ""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class FilesBar:
    """A progress bar for ``denoise`` on a terminal, for more than a few hundred files."""

    MIN_FILES = 300
    WIDTH = 28

    def __init__(self, stream, total: int):
        self.stream = stream
        self.total = total
        self.on = total > self.MIN_FILES and stream.isatty()
        self.t0 = time.monotonic()
        self.active = False

    def update(self, done: int, total: int) -> None:
        if not self.on:
            return
        fraction = done / max(total, 1)
        filled = int(round(self.WIDTH * fraction))
        elapsed = time.monotonic() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = clock((total - done) / rate) if rate > 0 else "--:--"
        self.stream.write(f"\r|{'█' * filled}{'·' * (self.WIDTH - filled)}| {100 * fraction:5.1f}%  {done}/{total} files  "
                          f"{rate:,.0f} files/s  ETA {eta}\x1b[K")
        self.stream.flush()
        self.active = True

    def say(self, line: str) -> None:
        self.clear()
        print(line, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.active:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.active = False


class ProgressBar:
    """A one-line terminal progress bar with ETA; plain lines when not on a terminal."""

    WIDTH = 28

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.last_plain = 0.0
        self.active = False

    def status(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def update(self, p) -> None:
        filled = int(round(self.WIDTH * p.fraction))
        bar = "█" * filled + "·" * (self.WIDTH - filled)
        eta = clock(p.eta) if p.eta is not None else "--:--"
        line = (f"epoch {p.epoch}/{p.epochs} |{bar}| {100 * p.fraction:5.1f}%  batch {p.batch}/{p.batches}  "
                f"loss {p.loss:.4f}  {p.images_per_s:,.0f} img/s  ETA {eta}")
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
            self.active = True
        elif time.monotonic() - self.last_plain > 10 or p.batch == p.batches:
            self.last_plain = time.monotonic()
            print(line, file=self.stream, flush=True)

    def epoch(self, e) -> None:
        self._clear()
        print(f"epoch {e.epoch}: loss {e.loss:.4f}  val_loss {e.val_loss:.4f}  {e.val_metric_text()}  ({e.seconds:.0f} s)",
              file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.active:
            self.stream.write("\r\x1b[K")
            self.active = False

    def close(self) -> None:
        self._clear()
        self.stream.flush()
