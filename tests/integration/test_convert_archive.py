"""test_convert_archive.py - the archive engine (libarchive) through `cct convert`: any file into
each archive format, every archive repacked into every other, detection of tar-in-a-filter vs a
lone compressed file, and hostile archives (path traversal, absolute names, symlinks, bombs,
truncation, empty input). Results are listed and extracted with bsdtar and compared byte for
byte."""
import gzip
import io
import os
import subprocess
import tarfile
import zipfile

import pytest

from media import cct_convert, make_image, run

TARGETS = ["zip", "7z", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"]
BSDTAR_CREATE = {  # how each source archive is made
    "zip": ["--format", "zip"], "7z": ["--format", "7zip"], "tar.gz": ["-z"],
    "tar.bz2": ["-j"], "tar.xz": ["-J"], "tar.zst": ["--zstd"], "tar": ["--format", "pax"],
}


def names(archive):
    r = run(["bsdtar", "-tf", str(archive)])
    assert r.returncode == 0, f"bsdtar -tf {archive}: {r.stderr}"
    return [n for n in r.stdout.splitlines() if n]


def content(archive, name):
    r = subprocess.run(["bsdtar", "-xOf", str(archive), name], capture_output=True)
    assert r.returncode == 0, f"bsdtar -xOf {archive} {name}: {r.stderr!r}"
    return r.stdout


def convert_ok(cct_bin, src, dst, *extra):
    r = cct_convert(cct_bin, src, dst, *extra, timeout=120)
    assert r.returncode == 0, f"{src} -> {dst}: {r.stderr}"
    return r


def convert_fails(cct_bin, src, dst, timeout=60):
    r = cct_convert(cct_bin, src, dst, timeout=timeout)
    assert r.returncode != 0, f"{src} -> {dst} should have failed"
    assert not os.path.exists(dst) or os.path.getsize(dst) == 0, "a failed job left output"
    return r.stderr


@pytest.fixture(scope="module")
def blob(tmp_path_factory):
    p = tmp_path_factory.mktemp("arc") / "data.bin"
    p.write_bytes(os.urandom(150_000) + b"\0" * 50_000)
    return p


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A folder with a subfolder, two files; returns (folder, {name: bytes})."""
    d = tmp_path_factory.mktemp("tree")
    files = {"top.txt": b"hello archive\n" * 100, "sub/inner.bin": os.urandom(70_000)}
    for name, data in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    return d, files


@pytest.fixture(scope="module")
def sources(tmp_path_factory, tree):
    folder, _ = tree
    out = tmp_path_factory.mktemp("arc-src")
    made = {}
    for fmt, flags in BSDTAR_CREATE.items():
        p = out / f"src.{fmt}"
        r = run(["bsdtar", "-c", *flags, "-f", str(p), "-C", str(folder), "top.txt", "sub"])
        assert r.returncode == 0, r.stderr
        made[fmt] = p
    return made


@pytest.mark.parametrize("target", TARGETS)
def test_pack_a_file(cct_bin, blob, tmp_path, target):
    dst = tmp_path / f"out.{target}"
    convert_ok(cct_bin, blob, dst)
    assert names(dst) == ["data.bin"]
    assert content(dst, "data.bin") == blob.read_bytes()


def test_entry_name_gets_the_detected_extension(cct_bin, tmp_path):
    img = tmp_path / "photo"          # an upload stored without an extension
    make_image(tmp_path / "p.png")
    img.write_bytes((tmp_path / "p.png").read_bytes())
    convert_ok(cct_bin, img, tmp_path / "a.zip")
    assert names(tmp_path / "a.zip") == ["photo.png"]
    other = tmp_path / "notes"        # "other": no extension invented
    other.write_bytes(b"\x01\x02 just bytes \xff" * 10)
    convert_ok(cct_bin, other, tmp_path / "b.tar.gz")
    assert names(tmp_path / "b.tar.gz") == ["notes"]


@pytest.mark.parametrize("src_fmt", list(BSDTAR_CREATE))
def test_repack_every_archive(cct_bin, sources, tree, tmp_path, src_fmt):
    _, files = tree
    for target in TARGETS:
        if target == src_fmt:
            continue
        dst = tmp_path / f"re.{target}"
        convert_ok(cct_bin, sources[src_fmt], dst)
        listed = names(dst)
        assert set(files) <= set(listed), (src_fmt, target, listed)
        assert {n.rstrip("/") for n in listed} <= set(files) | {"sub"}, listed
        for name, data in files.items():
            assert content(dst, name) == data, (src_fmt, target, name)


def test_detection_lone_gzip_is_packed_as_a_file(cct_bin, tmp_path):
    src = tmp_path / "log.txt.gz"
    src.write_bytes(gzip.compress(b"not a tar at all\n" * 50))
    dst = tmp_path / "out.zip"
    convert_ok(cct_bin, src, dst)
    assert names(dst) == ["log.txt.gz"]
    assert content(dst, "log.txt.gz") == src.read_bytes()


def test_hostile_names_are_sanitised(cct_bin, tmp_path):
    src = tmp_path / "evil.zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("../evil", b"up one")
        z.writestr("/etc/abs.txt", b"absolute")
        z.writestr("ok/../../deeper", b"traversal")
        z.writestr("a" * 300 + "/b.txt", b"long")
    for target in ("tar.gz", "7z"):
        dst = tmp_path / f"clean.{target}"
        convert_ok(cct_bin, src, dst)
        listed = names(dst)
        assert len(listed) == 4, listed
        for n in listed:
            assert not n.startswith("/"), n
            assert ".." not in n.split("/"), n
            assert all(len(part) <= 255 for part in n.split("/")), n
        assert "evil" in listed and "etc/abs.txt" in listed and "ok/deeper" in listed, listed
        assert content(dst, "evil") == b"up one"


def test_links_are_dropped(cct_bin, tmp_path):
    src = tmp_path / "links.tar"
    with tarfile.open(src, "w") as t:
        data = b"regular file"
        info = tarfile.TarInfo("real.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        for name, kind, target in (("sym", tarfile.SYMTYPE, "/etc/passwd"),
                                   ("hard", tarfile.LNKTYPE, "real.txt")):
            li = tarfile.TarInfo(name)
            li.type, li.linkname = kind, target
            t.addfile(li)
        dev = tarfile.TarInfo("dev")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
        t.addfile(dev)
    zsrc = tmp_path / "links.zip"
    with zipfile.ZipFile(zsrc, "w") as z:
        z.writestr("real.txt", b"regular file")
        zi = zipfile.ZipInfo("sym")
        zi.create_system = 3
        zi.external_attr = (0o120777 << 16)
        z.writestr(zi, "/etc/passwd")
    for s in (src, zsrc):
        dst = tmp_path / f"{s.name}.tar.xz"
        convert_ok(cct_bin, s, dst)
        assert names(dst) == ["real.txt"], names(dst)
        assert content(dst, "real.txt") == b"regular file"


def test_declared_bomb_refused_before_reading(cct_bin, tmp_path):
    # a tar entry that says it holds 9 GiB (over the 8 GiB default) followed by 1 KiB
    info = tarfile.TarInfo("huge.bin")
    info.size = 9 << 30
    raw = info.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * 1024
    src = tmp_path / "bomb.tar.gz"
    src.write_bytes(gzip.compress(raw))
    err = convert_fails(cct_bin, src, tmp_path / "bomb.zip")  # refused on the declared size
    assert "archive expands beyond the limit" in err, err


def test_entry_larger_than_declared_refused(cct_bin, tmp_path):
    # a zip whose headers claim 1000 bytes for a 1 MiB deflated run of zeros
    src = tmp_path / "liar.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros", b"\0" * (1 << 20))
    data = bytearray(src.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(sig)
        data[at + off:at + off + 4] = (1000).to_bytes(4, "little")
    src.write_bytes(bytes(data))
    err = convert_fails(cct_bin, src, tmp_path / "liar.tar.gz")
    assert "cannot read the archive" in err or "more data than its header" in err, err


def test_real_zip_bomb_stops_at_the_limit(cct_bin, tmp_path):
    # a 100 MiB bomb against a 64 MiB limit (ARCHIVE_MAX_UNPACKED_MB; the default is 8 GiB)
    src = tmp_path / "bomb.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("zeros", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(100):
                f.write(chunk)
    r = subprocess.run([cct_bin, "convert", str(src), str(tmp_path / "b.tar.zst")],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, ARCHIVE_MAX_UNPACKED_MB="64"))
    assert r.returncode != 0 and "archive expands beyond the limit" in r.stderr, r.stderr


def ustar_header(name):
    """A 512-byte ustar header of an empty regular file (faster than tarfile for 100k)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = b"00000000000\0"
    h[136:148] = b"00000000000\0"
    h[148:156] = b" " * 8
    h[156] = ord("0")
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def test_too_many_entries(cct_bin, tmp_path):
    raw = b"".join(ustar_header(b"e%d" % i) for i in range(100_001)) + b"\0" * 1024
    src = tmp_path / "many.tar.gz"
    src.write_bytes(gzip.compress(raw, compresslevel=1))
    err = convert_fails(cct_bin, src, tmp_path / "many.zip", timeout=120)
    assert "more than 100000 entries" in err, err


def test_truncated_tar_gz(cct_bin, sources, tmp_path):
    data = sources["tar.gz"].read_bytes()
    src = tmp_path / "cut.tar.gz"
    src.write_bytes(data[: len(data) // 2])
    err = convert_fails(cct_bin, src, tmp_path / "cut.zip")
    assert "archive" in err.lower() and ("truncat" in err.lower() or "cannot read" in err), err


def test_empty_input(cct_bin, tmp_path):
    src = tmp_path / "empty.bin"
    src.write_bytes(b"")
    err = convert_fails(cct_bin, src, tmp_path / "empty.zip")
    assert "empty" in err, err


def test_utf8_names_survive_any_locale(cct_bin, tmp_path):
    src = tmp_path / "utf8.zip"
    name = "déjà vu/ファイル.txt"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr(name, b"unicode")
    for target in ("tar.gz", "7z"):
        dst = tmp_path / f"u.{target}"
        r = subprocess.run([cct_bin, "convert", str(src), str(dst)], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, LANG="C", LC_ALL="C"))
        assert r.returncode == 0, r.stderr
        listed = subprocess.run(["bsdtar", "-tf", str(dst)], capture_output=True, text=True,
                                env=dict(os.environ, LC_ALL="C.UTF-8")).stdout.splitlines()
        assert listed == [name], listed
