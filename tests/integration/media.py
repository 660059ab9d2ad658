"""media.py - helpers shared by the integration suites: make small test media with the
ffmpeg and vips command-line tools, run `cct convert`, and inspect results with ffprobe."""
import json
import subprocess


def run(cmd, **kw):
    """Runs a command, returns CompletedProcess; never raises on a non-zero exit."""
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ffmpeg(*args):
    r = run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args])
    assert r.returncode == 0, f"ffmpeg {' '.join(args)} failed: {r.stderr}"


def make_audio(path, seconds=1.0, rate=44100, channels=2):
    """A sine tone in whatever format path's extension names (ffmpeg's default encoder)."""
    extra = []
    if str(path).endswith((".ogg",)):
        extra = ["-c:a", "libvorbis"]
    elif str(path).endswith((".opus",)):
        extra = ["-c:a", "libopus"]
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
           "-ac", str(channels), *extra, str(path))


def make_video(path, seconds=1.0, size="64x48", rate=10, audio=True):
    """A test pattern (with a tone when audio) in the container path's extension names."""
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    ext = str(path).rsplit(".", 1)[-1]
    codecs = {
        "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        "mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        "mkv": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        "webm": ["-c:v", "libvpx-vp9", "-c:a", "libopus"],
        "avi": ["-c:v", "mpeg4", "-c:a", "libmp3lame"],
        "mpeg": ["-c:v", "mpeg2video", "-c:a", "mp2"],
        "wmv": ["-c:v", "wmv2", "-c:a", "wmav2"],
    }.get(ext, [])
    if not audio:
        codecs = [c for i, c in enumerate(codecs) if not (c == "-c:a" or (i and codecs[i - 1] == "-c:a"))]
    ffmpeg(*args, *codecs, "-shortest", str(path))


def make_image(path, size="64x48"):
    """A test-pattern image; vips writes formats ffmpeg's image muxers lack (avif, heic)."""
    ext = str(path).rsplit(".", 1)[-1]
    if ext in ("avif", "heic", "tiff", "webp"):
        png = str(path) + ".src.png"
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=1", "-frames:v", "1", png)
        r = run(["vips", "copy", png, str(path)])
        assert r.returncode == 0, r.stderr
    else:
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=1", "-frames:v", "1", str(path))


def probe(path):
    """ffprobe's view of a file: {'format': {...}, 'streams': [...]}, or None if unreadable."""
    r = run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
             str(path)])
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def cct_convert(cct_bin, src, dst, *extra, timeout=300):
    """Runs `cct convert src dst [extra...]`; returns CompletedProcess."""
    return run([cct_bin, "convert", str(src), str(dst), *extra], timeout=timeout)
