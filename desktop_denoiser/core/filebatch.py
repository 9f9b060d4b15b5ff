"""Denoising many image files: where each output goes, decoding and preprocessing on every
core, the models in batches, and writes that never replace a file unless asked.

This is what ``desktop-denoiser denoise`` runs, for one file or a folder of thousands:

* :func:`plan` maps the inputs to outputs before any model loads. Outputs mirror the inputs'
  folders below the deepest folder that holds them all (a folder input counts as itself, a
  file as its folder): ``denoise scans/ -o out`` writes ``out/x.png``, ``denoise a/ b/ -o out``
  writes ``out/a/x.png`` and ``out/b/x.png``; ``recursive`` walks subfolders and keeps their
  layout. Two inputs of one stem in one folder (``x.png``, ``x.jpg``) get ``x-png.png`` and
  ``x-jpg.png``. An output that exists is skipped unless ``overwrite``; an output that would
  replace one of the inputs is always skipped.
* :func:`prepare` is the per-file preprocessing (decode, :func:`preprocess.to_mnist`, the
  optional noise), the same for one file as for a folder.
* :func:`run` decodes and preprocesses in worker processes (threads do not help: the work is
  many small numpy/Pillow calls under the GIL, and two threads ran at half the speed of one,
  see ``benchmarks/denoise_files.py``), feeds the denoiser (and the classifier, when asked)
  batches of :data:`CHUNK` digits, and has the workers encode and write the PNGs, atomically,
  with one flush to disk per batch, and without replacing anything that appeared meanwhile
  (:func:`atomic.create_files`).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import errno
import multiprocessing
import os
import signal
import stat
import struct
import zlib
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from . import atomic, imageio, preprocess
from .errors import ConfigError, DenoiserError, ImageError, SaveError
from .noise import NoiseSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
#: Digits per model call and per task sent to a worker process.
CHUNK = 128
#: Below this many files everything runs in this process (starting workers costs ~1 core-second).
MIN_FILES_FOR_WORKERS = 200

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclasses.dataclass
class Job:
    source: Path
    target: Path
    status: Optional[str] = None  # None: to do; SKIPPED or FAILED when decided while planning
    message: Optional[str] = None


@dataclasses.dataclass
class Plan:
    jobs: list[Job]
    output: Path
    single: bool  # one input file written to the output path itself
    problems: list[tuple[Path, str]]  # inputs found unusable while listing (counted as failed)

    @property
    def todo(self) -> list[Job]:
        return [j for j in self.jobs if j.status is None]


@dataclasses.dataclass
class Outcome:
    job: Job
    status: str  # WRITTEN, SKIPPED or FAILED
    message: Optional[str] = None  # why it was skipped or failed
    digit: Optional[int] = None  # with classify, the digit read from the reconstruction
    confidence: Optional[float] = None
    empty: bool = False  # no digit was found in the image (then no digit is read from it)


@dataclasses.dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


# ------------------------------------------------------------------------------------------
# planning


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def _stat(p: Path) -> os.stat_result:
    """``os.stat`` with every failure as one sentence (an ImageError)."""
    try:
        return os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise ImageError(f"{p} is a broken symbolic link (to {os.readlink(p)}).") from None
        raise ImageError(f"No such file or folder: {p}") from None
    except PermissionError:
        raise ImageError(f"Cannot read {p}: permission denied.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError(f"{p} is a symbolic link loop.") from None
        raise ImageError(f"Cannot read {p}: {exc.strerror or exc}.") from None


def _is_our_temporary(name: str) -> bool:
    return name.startswith(".") and ".tmp." in name  # atomic.py's ".NAME.XXXX.tmp.png"


def _list_folder(folder: Path, recursive: bool, skip_dirs: set, found: list, problems: list) -> bool:
    """Append the image files of ``folder`` (and its subfolders) to ``found``; returns whether
    it has subfolders. Entries with an image suffix that are not regular files are problems."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append((folder, f"Cannot read the folder {folder}: {exc.strerror or exc}."))
        return False
    subfolders = []
    for e in entries:
        path = folder / e.name
        try:
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            subfolders.append(path)
            continue
        if Path(e.name).suffix.lower() not in IMAGE_SUFFIXES or _is_our_temporary(e.name):
            continue
        try:
            mode = _stat(path).st_mode
        except ImageError as exc:
            problems.append((path, str(exc)))
            continue
        if stat.S_ISREG(mode):
            found.append(path)
        elif not stat.S_ISDIR(mode):  # (a symbolic link to a folder is not followed)
            problems.append((path, f"{path} is {_kind(mode)}, not an image file."))
    if recursive:
        for sub in subfolders:
            try:
                st = os.stat(sub)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in skip_dirs:  # the output folder, when it is inside
                _list_folder(sub, True, skip_dirs, found, problems)
    return bool(subfolders)


def expand_inputs(inputs: Iterable[str], recursive: bool = False, output: Optional[Path] = None
                  ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]], bool]:
    """The image files of ``inputs`` as ``(path, root)`` pairs, where ``root`` is the folder the
    path counts from (a folder input, or a file's own folder), and the problems found.

    An input that is missing, a broken link, a link loop, a FIFO or a device is an ImageError
    naming what it is. Returns ``(files, problems, has_subfolders)``."""
    files: list[tuple[Path, str]] = []
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()
    has_sub = False
    skip_dirs = set()
    if output is not None:
        try:
            st = os.stat(output)
            skip_dirs.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    for item in inputs:
        p = Path(item)
        mode = _stat(p).st_mode
        if stat.S_ISDIR(mode):
            found: list[Path] = []
            has_sub |= _list_folder(p, recursive, skip_dirs, found, problems)
            root = os.path.abspath(p)
            pairs = [(f, root) for f in found]
        elif stat.S_ISREG(mode):
            pairs = [(p, os.path.dirname(os.path.abspath(p)))]
        else:
            raise ImageError(f"{p} is {_kind(mode)}, not an image file or folder.")
        for f, root in pairs:
            key = os.path.abspath(f)
            if key not in seen:
                seen.add(key)
                files.append((f, root))
    return files, problems, has_sub


def _relative(path: Path, common: str) -> Path:
    rel = os.path.relpath(os.path.abspath(path), common)
    return Path(rel)


def _common_root(roots: Sequence[str]) -> str:
    try:
        return os.path.commonpath(roots)
    except ValueError:  # Windows: inputs on several drives
        return ""


def _mirror(files: list[tuple[Path, str]]) -> list[Path]:
    """Each file's output path relative to the output folder, as ``.png``."""
    common = _common_root(sorted({root for _, root in files}))
    rels = []
    for f, _ in files:
        if common:
            rel = _relative(f, common)
        else:  # no common folder: the drive becomes the first folder
            drive, rest = os.path.splitdrive(os.path.abspath(f))
            rel = Path(drive.strip(":\\/").replace(":", "") or "root") / rest.lstrip("\\/")
        rels.append(rel)
    stems = collections.Counter((r.parent, r.stem) for r in rels)
    out, taken = [], set()
    for r in rels:
        if stems[(r.parent, r.stem)] > 1:
            name = f"{r.stem}-{r.suffix.lstrip('.').lower()}"
        else:
            name = r.stem
        target = r.parent / f"{name}.png"
        n = 2
        while target in taken:  # e.g. x.png and x.PNG, or an input already named x-png.png
            target = r.parent / f"{name}-{n}.png"
            n += 1
        taken.add(target)
        out.append(target)
    return out


def plan(inputs: Sequence[str], output: str, recursive: bool = False, overwrite: bool = False) -> Plan:
    """Map the inputs to their outputs and decide what to skip; creates the output folder.

    One input file and an output named ``.png`` (that is not a folder) write that file; in every
    other case the output is a folder. Raises a DenoiserError (one sentence) for an unusable
    input or output, before any model is loaded."""
    if not str(output).strip():
        raise ConfigError("The output path is empty.")
    out = Path(output)
    files, problems, has_sub = expand_inputs(inputs, recursive, out)
    if not files and not problems:
        hint = " (add --recursive to look in subfolders)" if has_sub and not recursive else ""
        raise ImageError(f"No image files found in the inputs{hint}.")
    one_file = len(inputs) == 1 and stat.S_ISREG(_stat(Path(inputs[0])).st_mode)
    suffix = out.suffix.lower()
    if one_file and not out.is_dir() and (suffix == ".png" or os.path.lexists(out)):
        if suffix != ".png":
            raise ConfigError(f"{out} is a file and not a .png: for one input, give a .png file name or a folder as the output.")
        single = True
        _make_folder(out.parent if str(out.parent) else Path("."))
        jobs = [Job(files[0][0], out)]
    else:
        need = "a folder input needs" if len(inputs) == 1 and not one_file else f"{len(inputs)} inputs need"
        if os.path.lexists(out) and not out.is_dir():
            raise ConfigError(f"{out} is a file, not a folder: {need} an output folder.")
        if not out.is_dir() and suffix == ".png":
            raise ConfigError(f"{out} names a PNG file, but {need} an output folder.")
        if not out.is_dir() and suffix in IMAGE_SUFFIXES:
            raise ConfigError(f"The outputs are PNG files: name the output {out.with_suffix('.png')} or give a folder.")
        single = False
        _make_folder(out)
        jobs = [Job(f, out / rel) for (f, _), rel in zip(files, _mirror(files))]
    inputs_resolved = {os.path.realpath(f) for f, _ in files}
    for job in jobs:
        target = job.target
        if os.path.realpath(target) in inputs_resolved:
            if single:
                raise ImageError(f"Refusing to overwrite the input {target}; choose another output.")
            job.status, job.message = SKIPPED, f"{target} is one of the inputs"
        elif os.path.isdir(target):
            job.status, job.message = FAILED, f"Cannot write {target}: it is a folder."
        elif not overwrite and os.path.lexists(target):
            job.status, job.message = SKIPPED, f"{target} already exists (--overwrite replaces it)"
    return Plan(jobs=jobs, output=out, single=single, problems=problems)


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) or say in one sentence why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SaveError(f"Cannot create the output folder {folder}: a file of that name is in the way.") from None
    except NotADirectoryError:
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        detail = f"{blocker} is a file, not a folder" if blocker else "a part of the path is a file"
        raise SaveError(f"Cannot create the output folder {folder}: {detail}.") from None
    except OSError as exc:
        raise SaveError(f"Cannot create the output folder {folder}: {(exc.strerror or str(exc)).lower()}.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SaveError(f"Cannot write into the output folder {folder}: permission denied (or a read-only or immutable folder).")


# ------------------------------------------------------------------------------------------
# the work on one file


def prepare(source: Path, noise: Optional[NoiseSpec] = None, seed: int = 0) -> np.ndarray:
    """The per-file preprocessing: decode, bring to the MNIST convention, add the noise.

    Returns a (28, 28) float32 array in [0, 1]; raises ImageError for an unreadable file."""
    return prepare_digit(source, noise, seed)[0]


def prepare_digit(source: Path, noise: Optional[NoiseSpec] = None, seed: int = 0) -> tuple[np.ndarray, bool]:
    """:func:`prepare`, and whether no digit was found in the image (blank paper, an empty frame)."""
    analysis = preprocess.analyse(imageio.load_image(source))
    image = analysis.image
    if noise is not None:
        image = noise.apply(image, seed)
    return image, bool(analysis.empty)


def output_pixels(reconstruction: np.ndarray, size: int = 28) -> np.ndarray:
    """The uint8 pixels written for a (28, 28) reconstruction in [0, 1], at ``size``."""
    if size == 28:
        return imageio.to_uint8(reconstruction)
    return np.asarray(preprocess.from_mnist(reconstruction, size), np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """A greyscale (H, W) uint8 array as the bytes of an 8-bit PNG (a tenth of Pillow's time
    for a 28×28 image, which matters at thousands of files a second)."""
    a = np.ascontiguousarray(pixels, np.uint8)
    h, w = a.shape
    raw = np.zeros((h, w + 1), np.uint8)  # each row starts with its filter type, 0 (none)
    raw[:, 1:] = a

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def write(targets: Sequence[Path], pixels: Sequence[np.ndarray], overwrite: bool = False) -> list[tuple[str, Optional[str]]]:
    """Write output PNGs atomically, with one flush to disk for the lot; never replaces a file
    unless ``overwrite``. Returns ``(status, message)`` per file."""
    items = []
    for t, p in zip(targets, pixels):
        try:
            items.append((t, encode_png(p)))
        except MemoryError:
            items.append((t, None))
    ok = [(t, data) for t, data in items if data is not None]
    results = iter(atomic.create_files(ok, replace=overwrite))
    out = []
    for t, data in items:
        r = next(results) if data is not None else SaveError(f"Could not save {t}: not enough memory.")
        if r is True:
            out.append((WRITTEN, None))
        elif r is False:
            out.append((SKIPPED, f"{t} already exists (--overwrite replaces it)"))
        else:
            out.append((FAILED, str(r)))
    return out


# worker-process tasks (module-level so that a spawned process can import them) ----------------


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle


def _prepare_chunk(sources: list[str], noise: Optional[NoiseSpec], seed: int):
    images, errors, empties = [], [], []
    for s in sources:
        empty = False
        try:
            image, empty = prepare_digit(Path(s), noise, seed)
            images.append(image)
            errors.append(None)
        except ImageError as exc:
            images.append(None)
            errors.append(str(exc))
        except MemoryError:
            images.append(None)
            errors.append(f"Cannot open {Path(s).name}: not enough memory.")
        empties.append(empty)
    return images, errors, empties


def _write_chunk(targets: list[str], images: np.ndarray, size: int, overwrite: bool):
    """``images``: the batch's uint8 pixels at 28×28, else its (N, 28, 28) reconstructions."""
    pixels = images if size == 28 else [output_pixels(r, size) for r in images]
    return write([Path(t) for t in targets], pixels, overwrite)


# ------------------------------------------------------------------------------------------
# the run


class _Inline(cf.Executor):
    """Runs each task at once in this process (few files: workers would cost more)."""

    def submit(self, fn, /, *args, **kwargs):
        f = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            f.set_exception(exc)
        return f


def worker_count(files: int) -> int:
    """Worker processes for ``files`` files: one per usable core, none for small jobs."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if files < MIN_FILES_FOR_WORKERS or cores < 2:
        return 0
    return min(cores, 8)


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """Worker processes for :func:`run` (spawned: a fresh interpreter never inherits TensorFlow's threads)."""
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)


def run(plan_: Plan, load_pipeline: Callable[[], object], noise: Optional[NoiseSpec] = None, seed: int = 0,
        size: int = 28, classify: bool = False, overwrite: bool = False, workers: Optional[int] = None,
        on_outcome: Callable[[Outcome], None] = lambda o: None,
        on_progress: Callable[[int, int], None] = lambda done, total: None, summary: Optional[Summary] = None,
        pool: Optional[cf.Executor] = None) -> Summary:
    """Denoise the plan's files; ``load_pipeline()`` is called once the workers are starting,
    so that they start while the models load. Calls ``on_outcome`` for every file, in the
    plan's order (the skipped and failed ones decided while planning first), and
    ``on_progress(done, total)`` after each batch. ``workers``: worker processes (None: one
    per core when there are enough files; 0: all in this process). ``summary`` is counted into
    as the files are done (so it is up to date when the run is interrupted). ``pool``: an
    executor from :func:`process_pool` to use (and leave running) instead of starting one."""
    summary = Summary() if summary is None else summary
    for path, message in plan_.problems:
        summary.add(FAILED)
        on_outcome(Outcome(Job(path, path, FAILED, message), FAILED, message))
    for job in plan_.jobs:
        if job.status is not None:
            summary.add(job.status)
            on_outcome(Outcome(job, job.status, job.message))
    todo = plan_.todo
    if not todo:
        return summary
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    own_pool = pool is None
    if pool is not None:
        n_workers = workers or 2  # (how far ahead to queue work)
    else:
        n_workers = worker_count(len(todo)) if workers is None else workers
        pool = process_pool(n_workers) if n_workers else _Inline()
    # chunks in flight: many to prepare (the workers work ahead while the models load; 2,000
    # digits are 6 MB), a few to write
    ahead, behind = max(2, 8 * n_workers), max(2, 2 * n_workers)
    finished = False
    prepared: collections.deque = collections.deque()
    writing: collections.deque = collections.deque()
    try:
        nxt = 0

        def feed() -> None:
            nonlocal nxt
            while nxt < len(chunks) and len(prepared) < ahead:
                prepared.append(pool.submit(_prepare_chunk, [str(j.source) for j in chunks[nxt]], noise, seed))
                nxt += 1

        feed()  # the workers start (and import) while the models load
        pipeline = load_pipeline()
        done = 0

        def report(keep: int) -> None:
            """Hand on the finished chunks in order, waiting while more than ``keep`` are pending."""
            nonlocal done
            while writing and (len(writing) > keep or writing[0][0].done()):
                statuses = iter(writing[0][0].result())  # (a Ctrl+C while waiting loses no batch)
                _, jobs, results, digits, confs = writing.popleft()
                for job, (image_ok, error, empty), digit, conf in zip(jobs, results, digits, confs):
                    if not image_ok:
                        summary.add(FAILED)
                        on_outcome(Outcome(job, FAILED, error))
                        continue
                    status, message = next(statuses)
                    written = status == WRITTEN
                    summary.add(status)
                    on_outcome(Outcome(job, status, message, digit if written else None, conf if written else None,
                                       empty=empty))
                done += len(jobs)
                on_progress(done, len(todo))

        for chunk in chunks:
            images, errors, empties = prepared.popleft().result()
            feed()
            ok = [k for k, im in enumerate(images) if im is not None]
            results = [(im is not None, err, empty) for im, err, empty in zip(images, errors, empties)]
            digits: list = [None] * len(chunk)
            confs: list = [None] * len(chunk)
            if ok:
                x = np.stack([images[k] for k in ok])
                recon = pipeline.denoise(x)
                if classify:
                    probs = pipeline.classify(recon)
                    for k, p in zip(ok, probs):
                        if not empties[k]:  # a blank image has no digit to read (the classifier would guess)
                            digits[k], confs[k] = int(np.argmax(p)), float(np.max(p))
                images_out = imageio.to_uint8(recon) if size == 28 else recon  # (the whole batch at once)
                targets = [str(chunk[k].target) for k in ok]
                writing.append((pool.submit(_write_chunk, targets, images_out, size, overwrite), chunk, results, digits, confs))
            else:
                nothing: cf.Future = cf.Future()
                nothing.set_result([])
                writing.append((nothing, chunk, results, digits, confs))
            report(keep=behind)
        report(keep=0)
        finished = True
    except KeyboardInterrupt:
        # no new digit is started; the batches being written end within milliseconds: count them
        for f in prepared:
            f.cancel()
        if writing:
            try:
                report(keep=0)
            except (cf.BrokenExecutor, cf.CancelledError):
                pass
        raise
    except cf.BrokenExecutor:
        raise DenoiserError("A worker process stopped unexpectedly (out of memory?); the files written so far are "
                            "complete.") from None
    finally:
        if own_pool and isinstance(pool, cf.ProcessPoolExecutor):
            # On an error or Ctrl+C the tasks not started are dropped and the running ones (a
            # fraction of a second) end. Always wait: shutdown(wait=False) of a process pool can
            # fail at interpreter exit ("Bad file descriptor" from its wake-up pipe; CPython gh-83279).
            pool.shutdown(wait=True, cancel_futures=not finished)
    return summary
