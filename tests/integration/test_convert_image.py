"""test_convert_image.py - the image engine (libvips) through `cct convert`: every format into
every other, alpha flattening, EXIF rotation, animation, presets, metadata, and hostile input
(truncated file, decompression bomb, formats outside the allow-list). Results are checked with
the vips command-line tools and `file`."""
import struct
import subprocess
import zlib

import pytest

from media import cct_convert, ffmpeg, make_image, run

FORMATS = ["png", "jpg", "webp", "gif", "bmp", "tiff", "avif", "heic"]
LOADER = {"png": "pngload", "jpg": "jpegload", "webp": "webpload", "gif": "gifload",
          "bmp": "magickload", "tiff": "tiffload", "avif": "heifload", "heic": "heifload"}
MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
        "bmp": "image/bmp", "tiff": "image/tiff", "avif": "image/avif", "heic": "image/heic"}


def header(path, field=None):
    """vipsheader's one-line summary, or one field with -f."""
    cmd = ["vipsheader", str(path)] if field is None else ["vipsheader", "-f", field, str(path)]
    r = run(cmd)
    assert r.returncode == 0, f"vipsheader {path}: {r.stderr}"
    return r.stdout.strip()


def all_fields(path):
    r = run(["vipsheader", "-a", str(path)])
    assert r.returncode == 0, r.stderr
    return r.stdout


def size_of(path):
    w, h = header(path, "width"), header(path, "height")
    return int(w), int(h)


def mime_of(path):
    return run(["file", "--mime-type", "-b", str(path)]).stdout.strip()


def ok(cct_bin, src, dst, *extra):
    r = cct_convert(cct_bin, src, dst, *extra, timeout=120)
    assert r.returncode == 0, f"{src} -> {dst} failed: {r.stderr}"
    return r


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_exif_orientation(jpg_bytes, orientation):
    """A JPEG with an APP1 EXIF segment holding Make ("SecretCam") and Orientation
    (big-endian TIFF)."""
    make = b"SecretCam\0"
    make_at = 8 + 2 + 2 * 12 + 4  # right after the IFD
    ifd = (struct.pack(">H", 2) + struct.pack(">HHII", 0x010F, 2, len(make), make_at) +
           struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0" + make)
    payload = b"Exif\0\0" + b"MM\0\x2a" + struct.pack(">I", 8) + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpg_bytes[:2] == b"\xff\xd8"
    return jpg_bytes[:2] + app1 + jpg_bytes[2:]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("img-src")
    out = {}
    for fmt in FORMATS:
        p = d / f"src.{fmt}"
        make_image(p)
        out[fmt] = p
    return out


@pytest.mark.parametrize("src_fmt", FORMATS)
def test_every_pair(cct_bin, sources, tmp_path, src_fmt):
    for dst_fmt in FORMATS:
        dst = tmp_path / f"out.{dst_fmt}"
        extra = ("--preset", "high") if src_fmt == dst_fmt else ()
        ok(cct_bin, sources[src_fmt], dst, *extra)
        assert mime_of(dst) == MIME[dst_fmt], f"{src_fmt} -> {dst_fmt}: {mime_of(dst)}"
        assert header(dst).endswith(LOADER[dst_fmt]), header(dst)
        assert size_of(dst) == (64, 48), f"{src_fmt} -> {dst_fmt}: {size_of(dst)}"
        assert "uchar" in header(dst)


@pytest.mark.parametrize("dst_fmt", ["jpg", "bmp"])
def test_alpha_flattened_onto_white(cct_bin, tmp_path, dst_fmt):
    src = tmp_path / "alpha.png"
    # a black image, alpha 0 everywhere: flattened it must be white
    r = run(["vips", "black", str(tmp_path / "black.v"), "32", "16", "--bands", "4"])
    assert r.returncode == 0, r.stderr
    r = run(["vips", "cast", str(tmp_path / "black.v"), str(src), "uchar"])
    assert r.returncode == 0, r.stderr
    assert header(src, "bands") == "4"
    dst = tmp_path / f"flat.{dst_fmt}"
    ok(cct_bin, src, dst)
    assert header(dst, "bands") == "3"
    px = [float(v) for v in run(["vips", "getpoint", str(dst), "5", "5"]).stdout.split()]
    assert all(v >= 250 for v in px), px


def test_alpha_kept_for_webp(cct_bin, tmp_path):
    src = tmp_path / "a.png"
    make_image(tmp_path / "rgb.png")
    assert run(["vips", "bandjoin_const", str(tmp_path / "rgb.png"), str(src), "128"]).returncode == 0
    dst = tmp_path / "a.webp"
    ok(cct_bin, src, dst)
    assert header(dst, "bands") == "4"


def test_exif_orientation_applied(cct_bin, tmp_path):
    # 64x48, a white band on the top 8 rows; orientation 6 = rotate 90 degrees clockwise
    plain = tmp_path / "band.jpg"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x48", "-vf",
           "drawbox=x=0:y=0:w=64:h=8:color=white:t=fill", "-frames:v", "1", str(plain))
    src = tmp_path / "rot6.jpg"
    src.write_bytes(with_exif_orientation(plain.read_bytes(), 6))
    assert header(src, "orientation") == "6"
    assert "SecretCam" in all_fields(src)
    for fmt in ("jpg", "png"):
        dst = tmp_path / f"upright.{fmt}"
        ok(cct_bin, src, dst, *(("--preset", "high") if fmt == "jpg" else ()))
        assert size_of(dst) == (48, 64)
        right = [float(v) for v in run(["vips", "getpoint", str(dst), "45", "32"]).stdout.split()]
        left = [float(v) for v in run(["vips", "getpoint", str(dst), "2", "32"]).stdout.split()]
        assert min(right) > 200 and max(left) < 60, (right, left)
        fields = all_fields(dst)
        # the EXIF of the source is gone (jpegsave writes a minimal one of its own)
        assert "SecretCam" not in fields and "Orientation: 6" not in fields, fields


def test_icc_profile_kept_other_metadata_stripped(cct_bin, tmp_path):
    make_image(tmp_path / "p.png")
    src = tmp_path / "icc.jpg"
    assert run(["vips", "icc_transform", str(tmp_path / "p.png"), str(src), "srgb"]).returncode == 0
    assert "icc-profile-data" in all_fields(src)
    for fmt in ("webp", "png", "jpg"):
        dst = tmp_path / f"icc-out.{fmt}"
        ok(cct_bin, src, dst, *(("--preset", "balanced") if fmt == "jpg" else ()))
        fields = all_fields(dst)
        assert "icc-profile-data" in fields, fields
        assert "xmp-data" not in fields, fields


@pytest.mark.parametrize("src_fmt,dst_fmt", [("gif", "webp"), ("webp", "gif")])
def test_animation_kept_between_gif_and_webp(cct_bin, tmp_path, src_fmt, dst_fmt):
    gif = tmp_path / "anim.gif"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x24:rate=5:duration=1", str(gif))
    src = gif
    if src_fmt == "webp":
        src = tmp_path / "anim.webp"
        ok(cct_bin, gif, src)
    assert header(src, "n-pages") == "5"
    dst = tmp_path / f"out.{dst_fmt}"
    ok(cct_bin, src, dst)
    assert header(dst, "n-pages") == "5"
    assert size_of(dst) == (32, 24)


def test_animation_first_frame_otherwise(cct_bin, tmp_path):
    gif = tmp_path / "anim.gif"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x24:rate=5:duration=1", str(gif))
    dst = tmp_path / "first.png"
    ok(cct_bin, gif, dst)
    assert size_of(dst) == (32, 24)


def test_presets_downscale_and_shrink(cct_bin, tmp_path):
    src = tmp_path / "big.jpg"
    make_image(src, size="3000x2000")
    sizes = {}
    for preset in ("small", "balanced", "high"):
        dst = tmp_path / f"{preset}.jpg"
        ok(cct_bin, src, dst, "--preset", preset)
        sizes[preset] = dst.stat().st_size
        w, h = size_of(dst)
        assert max(w, h) == {"small": 1280, "balanced": 2560, "high": 3000}[preset], (w, h)
    assert sizes["small"] < sizes["balanced"] < sizes["high"], sizes
    # png -> png small: palette + downscale, smaller than the source
    png = tmp_path / "big.png"
    make_image(png, size="1600x1200")
    dst = tmp_path / "small.png"
    ok(cct_bin, png, dst, "--preset", "small")
    assert size_of(dst) == (1280, 960)
    assert dst.stat().st_size < png.stat().st_size


def test_same_format_needs_a_preset(cct_bin, sources, tmp_path):
    r = cct_convert(cct_bin, sources["png"], tmp_path / "same.png")
    assert r.returncode != 0 and "cannot convert png to png" in r.stderr, r.stderr


def test_truncated_png_is_a_clear_error(cct_bin, tmp_path):
    noise = tmp_path / "noise.v"
    assert run(["vips", "gaussnoise", str(noise), "256", "256"]).returncode == 0
    full = tmp_path / "noise.png"
    assert run(["vips", "cast", str(noise), str(full), "uchar"]).returncode == 0
    data = full.read_bytes()
    src = tmp_path / "trunc.png"
    src.write_bytes(data[: len(data) // 2])
    dst = tmp_path / "trunc.jpg"
    r = cct_convert(cct_bin, src, dst)
    assert r.returncode == 1, r.stderr
    assert "damaged or truncated" in r.stderr, r.stderr
    assert not dst.exists()


def test_decompression_bomb_refused_from_the_header(cct_bin, tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    src = tmp_path / "bomb.png"
    src.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
                    png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))
    r = cct_convert(cct_bin, src, tmp_path / "bomb.jpg", timeout=30)
    assert r.returncode == 1
    assert "too large" in r.stderr and "100000x100000" in r.stderr, r.stderr


def test_svg_with_external_reference_refused(cct_bin, tmp_path):
    secret = tmp_path / "secret.png"
    make_image(secret)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           f'width="64" height="48"><image xlink:href="file://{secret}" width="64" height="48"/>'
           f'</svg>')
    for name in ("ref.svg", "ref.png"):  # also when it pretends to be a png by its name
        src = tmp_path / name
        src.write_text(svg)
        dst = tmp_path / f"{name}.jpg"
        r = cct_convert(cct_bin, src, dst)
        assert r.returncode != 0, r.stderr
        assert "cannot convert" in r.stderr or "not accepted" in r.stderr, r.stderr
        assert not dst.exists() or dst.stat().st_size == 0


def test_bmp_that_is_not_a_bmp_refused(cct_bin, tmp_path):
    # only the BMP coder of ImageMagick is reachable: a TGA file is "other" for us
    src = tmp_path / "x.tga"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=16x16:rate=1", "-frames:v", "1", str(src))
    r = cct_convert(cct_bin, src, tmp_path / "x.png")
    assert r.returncode != 0 and "cannot convert" in r.stderr, r.stderr
