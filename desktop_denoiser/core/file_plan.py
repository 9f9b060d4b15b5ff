"""Where each output of ``desktop-denoiser denoise`` goes, decided before any model loads.

Outputs mirror the inputs' folders below the deepest folder that holds them all (a folder input
counts as itself, a file as its folder): ``denoise scans/ -o out`` writes ``out/x.png``,
``denoise a/ b/ -o out`` writes ``out/a/x.png`` and ``out/b/x.png``; ``recursive`` walks
subfolders and keeps their layout. Two inputs of one stem in one folder (``x.png``, ``x.jpg``)
get ``x-png.png`` and ``x-jpg.png``. An output that exists is skipped unless ``overwrite``; an
output that would replace one of the inputs is always skipped. An unusable input or output is
one sentence (a DenoiserError) here, before the models load; :mod:`filebatch` runs the plan.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import os
import stat
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .errors import ConfigError, ImageError, SaveError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}

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
