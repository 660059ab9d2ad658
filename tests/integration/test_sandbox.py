"""test_sandbox.py - every conversion runs in a sandboxed child: through `cct convert` and the
JOB_* settings, check that ordinary conversions still work inside it (audio, a 720p video under
the default memory limit, an image, an archive) and that each limit ends a job with a clear
message, without a partial output file and without a process left behind."""
import os
import pathlib
import signal
import subprocess
import time

import pytest

from media import ffmpeg, make_audio, make_image, make_video, probe, run


def env_with(**kw):
    env = dict(os.environ)
    for k in ("JOB_TIMEOUT_SECONDS", "JOB_CPU_SECONDS", "JOB_MEMORY_MB", "JOB_OUTPUT_MB"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in kw.items()})
    return env


def convert(cct_bin, src, dst, timeout=120, **limits):
    return run([cct_bin, "convert", str(src), str(dst)], env=env_with(**limits), timeout=timeout)


def processes_mentioning(text):
    """pids of live processes whose command line contains text (the sandbox child is a fork,
    so it carries the parent's command line)."""
    found = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in cmd and state != "Z":
            found.append(int(d.name))
    return found


def assert_clean(dst):
    assert not pathlib.Path(dst).exists(), "the partial output was left behind"
    assert processes_mentioning(str(dst)) == [], "a converter process outlived cct convert"


def random_file(path, mb):
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1024 * 1024))


@pytest.fixture(scope="module")
def asan(cct_bin):
    """The sanitizer build cannot limit the address space (ASan's shadow memory)."""
    return b"libasan.so" in pathlib.Path(cct_bin).read_bytes()  # DT_NEEDED of -fsanitize=address


# ---- conversions still work inside the sandbox -------------------------------------------

def test_image_converts(cct_bin, tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.webp"
    make_image(src, size="320x240")
    r = convert(cct_bin, src, dst)
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes()[:4] == b"RIFF" and dst.read_bytes()[8:12] == b"WEBP"


def test_archive_converts(cct_bin, tmp_path):
    src, dst = tmp_path / "in.bin", tmp_path / "out.tar.gz"
    random_file(src, 1)
    r = convert(cct_bin, src, dst)
    assert r.returncode == 0, r.stderr
    listing = run(["bsdtar", "-tzvf", str(dst)])
    assert listing.returncode == 0 and "1048576" in listing.stdout, listing.stdout


def test_audio_converts(cct_bin, tmp_path):
    src, dst = tmp_path / "in.wav", tmp_path / "out.mp3"
    make_audio(src, seconds=0.5)
    r = convert(cct_bin, src, dst)
    assert r.returncode == 0, r.stderr
    info = probe(dst)
    assert info and info["streams"][0]["codec_name"] == "mp3"


@pytest.mark.parametrize("target", ["webm", "mkv"])  # vp9, h264
def test_720p_video_fits_the_default_memory_limit(cct_bin, tmp_path, asan, target):
    """x264's and libvpx's threads reserve address space: 2 GiB must be enough for 720p."""
    src, dst = tmp_path / "in.mp4", tmp_path / f"out.{target}"
    make_video(src, seconds=1, size="1280x720", rate=10)
    r = convert(cct_bin, src, dst, timeout=300)
    assert r.returncode == 0, r.stderr
    info = probe(dst)
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert video and video[0]["height"] == 720


# ---- every limit gives a clear message and leaves nothing behind ---------------------------

def test_output_limit(cct_bin, tmp_path):
    src, dst = tmp_path / "in.bin", tmp_path / "out.tar.gz"
    random_file(src, 3)  # gzip cannot shrink random bytes: the archive passes 1 MB
    r = convert(cct_bin, src, dst, JOB_OUTPUT_MB=1)
    assert r.returncode == 1
    assert "the output grew beyond the 1 MB limit" in r.stderr, r.stderr
    assert_clean(dst)


def test_memory_limit(cct_bin, tmp_path, asan):
    if asan:
        pytest.skip("no address-space limit in the sanitizer build")
    src, dst = tmp_path / "big.png", tmp_path / "out.webp"
    make_image(src, size="4000x3000")
    r = convert(cct_bin, src, dst, JOB_MEMORY_MB=64)
    assert r.returncode == 1
    assert "ran out of memory (limit 64 MB)" in r.stderr, r.stderr
    assert_clean(dst)


@pytest.mark.parametrize("kind", ["archive", "video"])
def test_wall_clock(cct_bin, tmp_path, kind):
    """Jobs that need several seconds are stopped by JOB_TIMEOUT_SECONDS=1 (the message says
    the wall clock fired; no elapsed time is asserted: these machines are noisy)."""
    if kind == "archive":
        src, dst = tmp_path / "in.bin", tmp_path / "out.tar.xz"
        random_file(src, 30)  # xz needs several seconds for this
    else:
        src, dst = tmp_path / "in.mp4", tmp_path / "out.webm"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=60", "-c:v",
               "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(src))
    r = convert(cct_bin, src, dst, JOB_TIMEOUT_SECONDS=1)
    assert r.returncode == 1
    assert "the conversion took longer than 1 s" in r.stderr, r.stderr
    assert_clean(dst)


def test_cpu_limit(cct_bin, tmp_path):
    src, dst = tmp_path / "in.bin", tmp_path / "out.tar.xz"
    random_file(src, 30)
    r = convert(cct_bin, src, dst, timeout=120, JOB_CPU_SECONDS=1)
    assert r.returncode == 1
    assert "the conversion used more than 1 s of CPU time" in r.stderr, r.stderr
    assert_clean(dst)


def test_interrupt_cancels(cct_bin, tmp_path):
    """Ctrl-C on `cct convert` kills the child and removes the partial output."""
    src, dst = tmp_path / "in.bin", tmp_path / "out.tar.xz"
    random_file(src, 30)
    p = subprocess.Popen([cct_bin, "convert", str(src), str(dst)], env=env_with(),
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not dst.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # wait for the conversion child to start writing
    assert dst.exists() and len(processes_mentioning(str(dst))) == 2
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGINT
    assert "interrupted" in err, err
    assert_clean(dst)
