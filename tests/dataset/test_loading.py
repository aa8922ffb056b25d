"""Every file either becomes an upright RGB image or is listed with its reason; sources never change."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lib_ti.dataset.loading import ImageSkipped, iter_images, list_files, load_image


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with(w: int, h: int, idat: bytes) -> bytes:
    """A PNG declaring w×h RGB with the given (possibly broken) pixel stream."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _huge_png_header(w: int, h: int) -> bytes:
    """A PNG whose header declares w×h (Pillow reads the size before any pixel)."""
    return _png_with(w, h, b"")


GRADIENT = Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))[..., None].repeat(3, 2))

#: (file name, bytes maker, expected reason fragment)
BAD_FILES = [
    ("empty.jpg", lambda: b"", "empty file"),
    ("notes.jpg", lambda: b"this is not a picture\n" * 20, "not an image"),
    ("random.bin", lambda: bytes(range(256)) * 8, "not an image"),
    ("truncated.jpg", lambda: _jpeg(GRADIENT.resize((400, 300)))[:1500], "truncated"),
    ("corrupt.png", lambda: _png_with(64, 48, b"\x78\x9c" + bytes(range(7, 250))), "corrupt"),
    ("bomb.png", lambda: _huge_png_header(40000, 40000), "huge"),
]


@pytest.mark.parametrize("name,make,reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_skipped_with_reason(tmp_path, name, make, reason):
    (tmp_path / name).write_bytes(make())
    GRADIENT.save(tmp_path / "good.png")
    skipped = []
    names = [li.name for li in iter_images(tmp_path, skipped=skipped)]
    assert names == ["good.png"]
    assert [s.name for s in skipped] == [name]
    assert reason in skipped[0].reason, skipped[0].reason


def test_our_own_pixel_limit_names_the_size(tmp_path):
    GRADIENT.resize((3000, 2000)).save(tmp_path / "big.png")
    with pytest.raises(ImageSkipped, match=r"huge image: 3000×2000 = 6 megapixels"):
        load_image(tmp_path / "big.png", max_pixels=1_000_000)


def _exif_rotated() -> bytes:
    """Stored landscape 80×40 (left half red), EXIF orientation 6: shown as portrait 40×80, red on top."""
    img = Image.new("RGB", (80, 40), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _jpeg(img, exif=exif.tobytes())


def _palette_transparent() -> bytes:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    img.paste(1, (0, 0, 16, 32))
    return _png(img, transparency=0)


def _rgba() -> bytes:
    img = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (16, 0, 32, 32))
    return _png(img)


def _gray16() -> bytes:
    arr = np.zeros((16, 32), np.uint16)
    arr[:, 16:] = 65535
    arr[:, :16] = 32896  # 128.5 * 256: half grey
    return _png(Image.fromarray(arr, "I;16"))


def _cmyk() -> bytes:
    return _jpeg(Image.new("CMYK", (32, 32), (0, 255, 255, 0)))  # pure red in CMYK


def _la() -> bytes:
    img = Image.new("LA", (16, 16), (50, 0))
    return _png(img)


#: (file name, maker, source mode, expected size, pixel probes {(x, y): (r, g, b)} with tolerance)
GOOD_FILES = [
    ("rotated.jpg", _exif_rotated, "RGB", (40, 80), {(20, 10): (255, 0, 0), (20, 70): (0, 0, 255)}),
    ("palette.png", _palette_transparent, "P", (32, 32), {(5, 5): (10, 200, 10), (25, 5): (255, 255, 255)}),
    ("rgba.png", _rgba, "RGBA", (32, 32), {(5, 5): (255, 255, 255), (25, 5): (0, 0, 255)}),
    ("gray16.png", _gray16, "I;16", (32, 16), {(5, 5): (128, 128, 128), (25, 5): (255, 255, 255)}),
    ("cmyk.jpg", _cmyk, "CMYK", (32, 32), {(16, 16): (255, 0, 0)}),
    ("la.png", _la, "LA", (16, 16), {(8, 8): (255, 255, 255)}),
]


@pytest.mark.parametrize("name,make,mode,size,probes", GOOD_FILES, ids=[g[0] for g in GOOD_FILES])
def test_modes_and_orientation_become_upright_rgb(tmp_path, name, make, mode, size, probes):
    path = tmp_path / name
    path.write_bytes(make())
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    li = load_image(path, max_side=512)
    assert li.image.mode == "RGB" and li.mode == mode
    assert li.size == size and li.image.size == size
    for (x, y), rgb in probes.items():
        assert np.abs(np.array(li.image.getpixel((x, y))) - rgb).max() <= 12, (x, y, li.image.getpixel((x, y)))
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


def test_matte_colour_is_used_for_transparency(tmp_path):
    (tmp_path / "a.png").write_bytes(_rgba())
    assert load_image(tmp_path / "a.png", matte=(0, 0, 0)).image.getpixel((5, 5)) == (0, 0, 0)


def test_big_jpeg_is_decoded_small_and_keeps_its_true_size(tmp_path):
    GRADIENT.resize((3000, 4000)).save(tmp_path / "big.jpg", quality=80)
    li = load_image(tmp_path / "big.jpg", max_side=512)
    assert li.size == (3000, 4000) and max(li.image.size) == 512


def test_listing_skips_hidden_files_and_caption_sidecars(tmp_path):
    for n in ("b.png", "a.jpg", ".hidden.png", "a.txt", "meta.json"):
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(b"x")
    assert [p.name for p in list_files(tmp_path)] == ["a.jpg", "b.png"]
    assert [str(p.relative_to(tmp_path)) for p in list_files(tmp_path, recursive=True)] == ["a.jpg", "b.png", "sub/c.png"]


@pytest.mark.parametrize("ext,fmt", [("bmp", "BMP"), ("gif", "GIF"), ("tif", "TIFF"), ("webp", "WEBP"),
                                     ("ppm", "PPM"), ("tga", "TGA"), ("jp2", "JPEG2000"), ("png", "PNG")])
def test_every_common_pillow_format_loads(tmp_path, ext, fmt):
    from PIL import features

    if fmt == "JPEG2000" and not features.check("jpg_2000"):
        pytest.skip("this Pillow build has no OpenJPEG")
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("this Pillow build has no WebP")
    GRADIENT.save(tmp_path / f"g.{ext}", format=fmt)
    li = load_image(tmp_path / f"g.{ext}", max_side=512)
    assert li.format == fmt and li.image.mode == "RGB" and li.image.size == (64, 48)
    assert abs(li.image.getpixel((63, 10))[0] - 255) <= 12 and li.image.getpixel((0, 10))[0] <= 12
