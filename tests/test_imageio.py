"""Tests for desktop_denoiser.core.imageio (safe loading, atomic PNG saving)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from scipy import ndimage as ndi

from desktop_denoiser.core import imageio
from desktop_denoiser.core.errors import DenoiserError, ImageError, SaveError
from desktop_denoiser.core.imageio import MAX_PIXELS, image_from_bytes, load_image, save_png, to_uint8
from desktop_denoiser.core.preprocess import DARK_ON_LIGHT, LIGHT_ON_DARK, MNIST_CENTRE, analyse, centre_of_mass, to_mnist

from desktop_denoiser.benchmarks.fuzz_images import fix_png_crcs as _fix_png_crcs  # noqa: E402 - the fuzzer's own repair

FUZZ_CRASHES = Path(__file__).resolve().parent / "data" / "fuzz_crashes"


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_test[:20].astype(np.float32) / 255.0


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _sample_image() -> Image.Image:
    rng = np.random.default_rng(0)
    a = np.zeros((30, 40, 3), np.uint8)
    a[5:25, 10:14] = 255
    a[8:12, 5:35, 1] = 180
    a += rng.integers(0, 20, a.shape, dtype=np.uint8)
    return Image.fromarray(a)


def _aligned(digit: np.ndarray) -> np.ndarray:
    cy, cx = centre_of_mass(digit)
    return ndi.shift(digit, (MNIST_CENTRE[0] - cy, MNIST_CENTRE[1] - cx), order=1, mode="constant")


# ----------------------------------------------------------------------------------------------
# Loading: every failure is an ImageError naming the file


def test_pillow_global_state():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS == 50_000_000


def test_load_valid_formats(tmp_path):
    im = _sample_image()
    for ext, fmt in [("png", "PNG"), ("jpg", "JPEG"), ("bmp", "BMP"), ("gif", "GIF"), ("tif", "TIFF"), ("webp", "WEBP")]:
        p = tmp_path / f"sample.{ext}"
        try:
            im.save(p, format=fmt)
        except (KeyError, OSError):
            continue  # codec not built into this Pillow
        out = load_image(p)
        assert out.size == (40, 30)
        out.load()  # fully decoded, detached from the file
        if fmt in ("PNG", "BMP", "TIFF"):
            assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(im))


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda d: d / "missing.png", "does not exist"),
        (lambda d: _mkdir(d / "folder.png"), "folder"),
        (lambda d: _write(d / "empty.png", b""), "empty"),
        (lambda d: _write(d / "notes.png", b"This is a text file, not a picture.\n" * 20), "not an image"),
        (lambda d: _write(d / "half.png", _png_bytes(_sample_image())[: len(_png_bytes(_sample_image())) // 2]), "corrupt"),
        (lambda d: _write(d / "header_only.png", _png_bytes(_sample_image())[:40]), "corrupt"),
        (lambda d: _write(d / "garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4), "corrupt"),
    ],
)
def test_load_failures(tmp_path, make, expect):
    path = make(tmp_path)
    with pytest.raises(ImageError) as info:
        load_image(path)
    msg = str(info.value)
    assert path.name in msg
    assert expect in msg
    assert msg.count(".") >= 1 and "\n" not in msg
    assert isinstance(info.value, DenoiserError)


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_corrupt_bytes_in_the_middle(tmp_path):
    data = bytearray(_png_bytes(_sample_image()))
    mid = len(data) // 2
    data[mid : mid + 16] = b"\x00\xff" * 8
    p = _write(tmp_path / "corrupt.png", bytes(data))
    with pytest.raises(ImageError, match="corrupt.png"):
        load_image(p)


def test_image_from_bytes_rules():
    assert image_from_bytes(_png_bytes(_sample_image())).size == (40, 30)
    for bad in (b"", b"hello", _png_bytes(_sample_image())[:100]):
        with pytest.raises(ImageError, match="clipboard"):
            image_from_bytes(bad)
    with pytest.raises(ImageError, match="paste"):
        image_from_bytes(b"\x89PNG\r\n\x1a\n", name="paste")
    with pytest.raises(ImageError):
        image_from_bytes(None)  # type: ignore[arg-type]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _bomb_png(w: int, h: int, rows: int = 64) -> bytes:
    """A tiny 1-bit PNG whose header claims w x h pixels (rows of zeros compress to nothing)."""
    row = b"\x00" * (1 + (w + 7) // 8)
    comp = zlib.compressobj(9)
    idat = comp.compress(row * min(h, rows)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [8000, 12000, 100_000])
def test_decompression_bomb_refused_quickly(tmp_path, side):
    p = _write(tmp_path / f"bomb{side}.png", _bomb_png(side, side))
    with pytest.raises(ImageError) as info:  # refused from the header, before any decoding
        load_image(p)
    assert "megapixel" in str(info.value) and p.name in str(info.value)


def test_just_under_the_limit_loads():
    im = image_from_bytes(_bomb_png(7000, 7000, rows=7000), name="big.png")  # 49 MP
    assert im.size == (7000, 7000)
    assert analyse(im).empty


def test_animated_png_and_gif_use_first_frame(tmp_path):
    first = Image.new("L", (20, 20), 0)
    first.paste(255, (2, 2, 6, 18))  # bar on the left
    second = Image.new("L", (20, 20), 0)
    second.paste(255, (14, 2, 18, 18))  # bar on the right
    for ext in ("png", "gif"):
        p = tmp_path / f"anim.{ext}"
        first.save(p, save_all=True, append_images=[second], duration=100, loop=0)
        with Image.open(p) as check:
            assert getattr(check, "n_frames", 1) == 2
        out = np.asarray(load_image(p).convert("L"))
        assert out[10, 4] > 200 and out[10, 16] < 50, ext


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 255, 255))
    im.paste((0, 0, 0), (0, 0, 10, 20))  # dark band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif, quality=95)
    out = load_image(p)
    assert out.size == (20, 40)
    assert np.asarray(out.convert("L"))[:10].mean() < 60  # the band is now at the top


# ----------------------------------------------------------------------------------------------
# File formats through to_mnist


def _dark_digit(digit: np.ndarray, scale: int = 3) -> np.ndarray:
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BILINEAR), dtype=np.float32)
    return np.clip(1.0 - big, 0, 1)  # dark ink on white


def _format_cases(digit: np.ndarray):
    dark = _dark_digit(digit)
    u8 = np.rint(dark * 255).astype(np.uint8)
    L = Image.fromarray(u8)
    yield "i16.png", Image.fromarray(np.rint(dark * 65535).astype(np.uint16)), {}, DARK_ON_LIGHT
    yield "palette.png", L.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=64), {}, DARK_ON_LIGHT
    rgba = np.zeros(u8.shape + (4,), np.uint8)
    rgba[..., 3] = np.where(u8 < 128, 255, 0)  # black ink, transparent paper
    p = Image.fromarray(rgba).convert("P")
    yield "palette_transparent.png", p, {"transparency": p.getpixel((0, 0))}, DARK_ON_LIGHT
    la = Image.merge("LA", [Image.new("L", L.size, 0), Image.fromarray(255 - u8)])  # ink in alpha
    yield "la.png", la, {}, DARK_ON_LIGHT
    yield "rgb.jpg", L.convert("RGB"), {"quality": 85}, DARK_ON_LIGHT
    yield "rgb.bmp", L.convert("RGB"), {}, DARK_ON_LIGHT
    yield "light.bmp", Image.fromarray(255 - u8), {}, LIGHT_ON_DARK
    yield "grey.tif", L, {}, DARK_ON_LIGHT


def test_file_formats_give_right_polarity_and_centred_digit(tmp_path, digits):
    for i, digit in enumerate(digits[:5]):
        for name, im, kw, polarity in _format_cases(digit):
            path = tmp_path / f"{i}_{name}"
            im.save(path, **kw)
            loaded = load_image(path)
            if name == "i16.png":
                assert loaded.mode.startswith("I")
            if name.startswith("palette"):
                assert loaded.mode == "P"
            a = analyse(loaded)
            assert a.polarity == polarity, name
            cy, cx = centre_of_mass(a.image)
            assert abs(cy - MNIST_CENTRE[0]) < 0.5 and abs(cx - MNIST_CENTRE[1]) < 0.5, name
            corr = np.corrcoef(a.image.ravel(), _aligned(digit).ravel())[0, 1]
            assert corr > (0.8 if name.startswith("palette_t") else 0.9), (name, corr)


# ----------------------------------------------------------------------------------------------
# Saving


def test_to_uint8():
    a = np.array([-0.5, 0.0, 0.5 / 255, 0.4, 1.0, 1.7, np.nan], np.float32)
    assert to_uint8(a).tolist() == [0, 0, 1, 102, 255, 255, 0]
    assert to_uint8(np.array([True, False])).tolist() == [255, 0]
    assert to_uint8(np.array([0, 65535], np.uint16)).tolist() == [0, 255]
    u = np.arange(256, dtype=np.uint8)
    assert to_uint8(u) is u


def test_save_png_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    save_png(tmp_path / "u8.png", u8)
    assert np.array_equal(np.asarray(load_image(tmp_path / "u8.png")), u8)

    f = rng.random((28, 28)).astype(np.float32)
    save_png(tmp_path / "f.png", f)
    assert np.array_equal(np.asarray(load_image(tmp_path / "f.png")), np.rint(f * 255).astype(np.uint8))

    rgb = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    save_png(tmp_path / "rgb.png", rgb)
    assert np.array_equal(np.asarray(load_image(tmp_path / "rgb.png")), rgb)

    u16 = rng.integers(0, 65536, (9, 7), dtype=np.uint16)
    save_png(tmp_path / "u16.png", u16)
    assert np.array_equal(np.asarray(load_image(tmp_path / "u16.png")).astype(np.uint16), u16)

    im = Image.fromarray(u8).convert("CMYK")
    save_png(tmp_path / "cmyk.png", im)
    assert load_image(tmp_path / "cmyk.png").size == (28, 28)

    save_png(tmp_path / "sub" / "dir" / "new.png", u8)  # folders are created
    assert (tmp_path / "sub" / "dir" / "new.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmyk.png", "f.png", "rgb.png", "sub", "u16.png", "u8.png"]


def test_save_png_bad_data(tmp_path):
    for bad in (np.zeros((2, 2, 2, 2)), np.zeros((0, 4)), np.zeros((3, 3, 7)), np.array([["x"]])):
        with pytest.raises(SaveError):
            save_png(tmp_path / "bad.png", bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_save_png_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SaveError, match="ro"):
            save_png(folder / "out.png", np.zeros((28, 28), np.uint8))
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_save_png_unwritable_folder_simulated(tmp_path, monkeypatch):
    """Same as the read-only test but works as root: the temporary file cannot be created."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(SaveError, match="Permission denied"):
        save_png(tmp_path / "out.png", np.zeros((28, 28), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_save_png_target_is_a_folder(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(SaveError):
        save_png(tmp_path / "taken.png", np.zeros((28, 28), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("encoder crashed")])
def test_save_png_failing_midway_keeps_old_file(tmp_path, monkeypatch, error):
    target = tmp_path / "result.png"
    old = np.full((28, 28), 7, np.uint8)
    save_png(target, old)
    before = target.read_bytes()

    def half_writer(image, tmp):
        data = _png_bytes(image)
        with open(tmp, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise error

    monkeypatch.setattr(imageio, "_write_png", half_writer)
    with pytest.raises(SaveError) as info:
        save_png(target, np.zeros((28, 28), np.uint8))
    assert "result.png" in str(info.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]  # no temporary file left
    assert np.array_equal(np.asarray(load_image(target)), old)


# ----------------------------------------------------------------------------------------------
# Fuzzing


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 5))
        if op == 0 and b:  # flip random bytes
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(0, len(b)))
                b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and b:  # truncate
            del b[int(rng.integers(0, len(b))) :]
        elif op == 2:  # insert random bytes
            i = int(rng.integers(0, len(b) + 1))
            b[i:i] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
        elif op == 3 and b:  # overwrite with random bytes
            i = int(rng.integers(0, len(b)))
            n = int(rng.integers(1, 16))
            b[i : i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif op == 4 and len(b) > 33:  # smash the header fields (sizes, depth, colour type)
            i = int(rng.integers(16, 29))
            b[i] = int(rng.integers(0, 256))
    return bytes(b)


def test_fuzz_load_image(tmp_path):
    rng = np.random.default_rng(12345)
    seeds = [
        _png_bytes(_sample_image()),
        _png_bytes(_sample_image().convert("L")),
        _png_bytes(_sample_image().convert("RGBA")),
        _png_bytes(_sample_image().convert("P")),
    ]
    outcomes = {"image": 0, "ImageError": 0}
    path = tmp_path / "fuzz.png"
    for i in range(300):
        data = _mutate(seeds[i % len(seeds)], rng)
        if i % 2:
            data = _fix_png_crcs(data)
        path.write_bytes(data)
        try:
            im = load_image(path)
        except ImageError:
            outcomes["ImageError"] += 1
            continue
        outcomes["image"] += 1
        out = to_mnist(im)
        assert out.shape == (28, 28) and np.isfinite(out).all()
    assert outcomes["image"] + outcomes["ImageError"] == 300
    assert outcomes["ImageError"] > 50 and outcomes["image"] > 10, outcomes


def _crash_files():
    if not FUZZ_CRASHES.is_dir():
        return []
    return sorted(p for p in FUZZ_CRASHES.iterdir() if p.is_file() and not p.name.startswith("."))


@pytest.mark.parametrize("path", _crash_files() or [None], ids=lambda p: p.name if p else "none")
def test_fuzz_regressions(path):
    """Inputs that once crashed the loader (saved by benchmarks/fuzz_images.py)."""
    if path is None:
        pytest.skip("no fuzz crash files recorded")
    try:
        im = load_image(path)
    except ImageError:
        return
    assert np.isfinite(to_mnist(im)).all()
