"""test_convert_av.py - the audio/video engine through `cct convert`: every pair of the audio
matrix, every pair of the video matrix, video -> gif, video -> audio, the quality presets, and
hostile or broken inputs (truncated, garbage, empty, playlists, rotation, odd sizes, cover art,
absurd frame sizes). Sources are tiny (1 s, 64x48, 10 fps) and made with the ffmpeg CLI; every
result is checked with ffprobe."""
import os
import struct

import pytest

from media import cct_convert, ffmpeg, make_audio, make_video, probe

AUDIO = ["mp3", "wav", "ogg", "opus", "aac", "m4a", "flac", "wma", "aiff"]
VIDEO = ["mp4", "webm", "avi", "mpeg", "wmv", "mkv", "mov"]

# target -> (ffprobe format_name, codec of the first audio stream)
AUDIO_OUT = {
    "mp3": ("mp3", "mp3"),
    "wav": ("wav", "pcm_s16le"),
    "ogg": ("ogg", "vorbis"),
    "opus": ("ogg", "opus"),
    "aac": ("aac", "aac"),
    "m4a": ("mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    "flac": ("flac", "flac"),
    "wma": ("asf", "wmav2"),
    "aiff": ("aiff", "pcm_s16be"),
}
# target -> (ffprobe format_name, video codec, audio codec)
VIDEO_OUT = {
    "mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
    "webm": ("matroska,webm", "vp9", "opus"),
    "avi": ("avi", "mpeg4", "mp3"),
    "mpeg": ("mpeg", "mpeg2video", "mp2"),
    "wmv": ("asf", "wmv2", "wmav2"),
    "mkv": ("matroska,webm", "h264", "aac"),
    "mov": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
}


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """Every source format, made once: {name: path}."""
    d = tmp_path_factory.mktemp("avsrc")
    out = {}
    for a in AUDIO:
        out[a] = d / f"src.{a}"
        make_audio(out[a])
    for v in VIDEO:
        out[v] = d / f"src.{v}"
        make_video(out[v])
    return out


def streams(info, kind):
    return [s for s in info["streams"] if s["codec_type"] == kind]


def duration(info):
    return float(info["format"].get("duration", 0))


def assert_duration(out_info, src_info, extra=0.0):
    want, got = duration(src_info), duration(out_info)
    # 5%, or 0.15 s on these 1 s clips: containers differ by a frame or an audio packet
    # (asf preroll, mp3 padding in avi, an 11th frame from the ffmpeg CLI's avi source)
    tol = max(0.05 * want, 0.15) + extra
    assert abs(got - want) <= tol, f"duration {got} vs source {want}"


def convert_ok(cct_bin, source, dst, *extra):
    r = cct_convert(cct_bin, source, dst, *extra)
    assert r.returncode == 0, f"{source} -> {dst}: {r.stderr}"
    info = probe(dst)
    assert info is not None, f"ffprobe cannot read {dst}"
    return info


def check_audio(info, to):
    fmt, codec = AUDIO_OUT[to]
    assert info["format"]["format_name"] == fmt
    a = streams(info, "audio")
    assert len(a) == 1 and a[0]["codec_name"] == codec, info["streams"]
    assert not streams(info, "video"), "an audio target must have no video stream"
    if to == "opus":
        assert int(a[0]["sample_rate"]) == 48000


def check_video(info, to, audio=True):
    fmt, vcodec, acodec = VIDEO_OUT[to]
    assert info["format"]["format_name"] == fmt
    v = streams(info, "video")
    assert len(v) == 1 and v[0]["codec_name"] == vcodec, info["streams"]
    assert v[0]["width"] % 2 == 0 and v[0]["height"] % 2 == 0
    a = streams(info, "audio")
    if audio:
        assert len(a) == 1 and a[0]["codec_name"] == acodec, info["streams"]
    else:
        assert not a
    if vcodec in ("h264", "vp9"):
        assert v[0]["pix_fmt"] == "yuv420p"
    return v[0]


@pytest.mark.parametrize("frm,to", [(f, t) for f in AUDIO for t in AUDIO if f != t])
def test_audio_matrix(cct_bin, src, tmp_path, frm, to):
    info = convert_ok(cct_bin, src[frm], tmp_path / f"out.{to}")
    check_audio(info, to)
    assert_duration(info, probe(src[frm]))


@pytest.mark.parametrize("frm,to", [(f, t) for f in VIDEO for t in VIDEO if f != t])
def test_video_matrix(cct_bin, src, tmp_path, frm, to):
    info = convert_ok(cct_bin, src[frm], tmp_path / f"out.{to}")
    v = check_video(info, to)
    assert (v["width"], v["height"]) == (64, 48)
    assert_duration(info, probe(src[frm]))


@pytest.mark.parametrize("frm", VIDEO)
def test_video_to_gif(cct_bin, src, tmp_path, frm):
    dst = tmp_path / "out.gif"
    r = cct_convert(cct_bin, src[frm], dst)
    assert r.returncode == 0, r.stderr
    r2 = ffprobe_count(dst)
    assert r2["codec_name"] == "gif" and int(r2["nb_read_frames"]) > 1
    assert r2["width"] == 64 and r2["height"] == 48
    # 1 s at 10 fps: about 10 frames (the gif's duration is their sum of delays)
    assert 8 <= int(r2["nb_read_frames"]) <= 12, r2


def ffprobe_count(path):
    import json
    import subprocess

    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=codec_name,width,height,nb_read_frames",
                        "-print_format", "json", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["streams"][0]


@pytest.mark.parametrize("to", AUDIO)
@pytest.mark.parametrize("frm", VIDEO)
def test_video_to_audio(cct_bin, src, tmp_path, frm, to):
    info = convert_ok(cct_bin, src[frm], tmp_path / f"out.{to}")
    check_audio(info, to)
    sa = streams(probe(src[frm]), "audio")[0]
    want = float(sa.get("duration", duration(probe(src[frm]))))
    assert abs(duration(info) - want) <= 0.15, (duration(info), want)


def test_video_without_audio(cct_bin, tmp_path):
    s = tmp_path / "silent.mp4"
    make_video(s, audio=False)
    r = cct_convert(cct_bin, s, tmp_path / "out.mp3")
    assert r.returncode != 0
    assert "no sound" in r.stderr
    assert not (tmp_path / "out.mp3").exists()
    info = convert_ok(cct_bin, s, tmp_path / "out.webm")
    check_video(info, "webm", audio=False)


# ---- presets ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_mp4(tmp_path_factory):
    """A 2 s 1280x720 clip: large enough for the presets to downscale."""
    p = tmp_path_factory.mktemp("avbig") / "big.mp4"
    make_video(p, seconds=2.0, size="1280x720", rate=10)
    return p


def test_presets_same_format(cct_bin, big_mp4, tmp_path):
    sizes, dims = {}, {}
    for preset in ("small", "balanced", "high"):
        dst = tmp_path / f"{preset}.mp4"
        info = convert_ok(cct_bin, big_mp4, dst, "--preset", preset)
        v = check_video(info, "mp4")
        dims[preset] = (v["width"], v["height"])
        sizes[preset] = os.path.getsize(dst)
        assert_duration(info, probe(big_mp4))
    assert dims["small"] == (854, 480)
    assert dims["balanced"] == (1280, 720)
    assert dims["high"] == (1280, 720)
    assert sizes["small"] < sizes["balanced"] < sizes["high"], sizes


def test_same_format_without_preset_refused(cct_bin, src, tmp_path):
    r = cct_convert(cct_bin, src["mp4"], tmp_path / "out.mp4")
    assert r.returncode != 0


@pytest.mark.parametrize("frm,to", [("webm", "webm"), ("mkv", "avi"), ("mp3", "mp3"),
                                    ("wav", "ogg"), ("flac", "m4a")])
def test_presets_other_formats(cct_bin, src, tmp_path, frm, to):
    sizes = {}
    for preset in ("small", "high"):
        dst = tmp_path / f"{preset}.{to}"
        info = convert_ok(cct_bin, src[frm], dst, "--preset", preset)
        (check_video if to in VIDEO_OUT else check_audio)(info, to)
        sizes[preset] = os.path.getsize(dst)
    assert sizes["small"] <= sizes["high"], sizes


def test_preset_small_portrait_keeps_aspect(cct_bin, tmp_path):
    s = tmp_path / "portrait.mkv"
    make_video(s, seconds=0.5, size="720x1280", audio=False)
    info = convert_ok(cct_bin, s, tmp_path / "out.mp4", "--preset", "small")
    v = check_video(info, "mp4", audio=False)
    # the box turns with the picture: a portrait clip fits 480x854
    assert (v["width"], v["height"]) == (480, 854)


# ---- details ------------------------------------------------------------------------------


def test_odd_dimensions(cct_bin, tmp_path):
    s = tmp_path / "odd.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=63x47:rate=10:duration=1", "-c:v", "ffv1", str(s))
    info = convert_ok(cct_bin, s, tmp_path / "out.mp4")
    v = check_video(info, "mp4", audio=False)
    assert (v["width"], v["height"]) == (62, 46)


def test_rotation_applied(cct_bin, src, tmp_path):
    s = tmp_path / "rot.mp4"
    # FFmpeg 5.1 has no -display_rotation; the rotate tag on a stream copy writes the matrix.
    ffmpeg("-i", str(src["mp4"]), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(s))
    assert streams(probe(s), "video")[0].get("side_data_list"), "no display matrix in source"
    for to in ("webm", "mov"):
        info = convert_ok(cct_bin, s, tmp_path / f"out.{to}")
        v = check_video(info, to)
        assert (v["width"], v["height"]) == (48, 64)
        assert not v.get("side_data_list"), "rotation must be applied, not carried"


def test_cover_art_and_tags(cct_bin, tmp_path):
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=1", "-frames:v", "1", str(cover))
    s = tmp_path / "tagged.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1", "-i",
           str(cover), "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "png",
           "-disposition:v", "attached_pic", "-metadata", "title=Hello Title",
           "-metadata", "artist=Some Artist", str(s))
    assert streams(probe(s), "video"), "source has no cover"
    for to in ("ogg", "flac", "wav", "m4a", "opus"):
        info = convert_ok(cct_bin, s, tmp_path / f"out.{to}")
        check_audio(info, to)
        tags = {k.lower(): v for k, v in info["format"].get("tags", {}).items()}
        for st in info["streams"]:
            tags.update({k.lower(): v for k, v in st.get("tags", {}).items()})
        if to != "wav":
            assert tags.get("title") == "Hello Title", (to, tags)
            assert tags.get("artist") == "Some Artist", (to, tags)


def test_surround_downmixed_for_mp3(cct_bin, tmp_path):
    s = tmp_path / "surround.wav"
    make_audio(s, rate=96000, channels=6)
    info = convert_ok(cct_bin, s, tmp_path / "out.mp3")
    a = streams(info, "audio")[0]
    assert a["channels"] == 2 and int(a["sample_rate"]) == 48000
    info = convert_ok(cct_bin, s, tmp_path / "out.flac")
    assert streams(info, "audio")[0]["channels"] == 6


def test_target_from_to_not_extension(cct_bin, src, tmp_path):
    dst = tmp_path / "blob.bin"
    r = cct_convert(cct_bin, src["wav"], dst, "--to", "ogg")
    assert r.returncode == 0, r.stderr
    assert probe(dst)["format"]["format_name"] == "ogg"


# ---- hostile and broken input -------------------------------------------------------------


def refused(cct_bin, source, dst):
    r = cct_convert(cct_bin, source, dst, timeout=60)
    assert r.returncode != 0, f"{source} was converted"
    assert r.returncode == 1, f"crash or signal: {r.returncode} {r.stderr}"
    assert "cct convert:" in r.stderr
    return r


def test_truncated_mp4(cct_bin, src, tmp_path):
    data = src["mp4"].read_bytes()
    for name, part in (("head.mp4", data[: len(data) // 2]), ("tail.mp4", data[len(data) // 2:])):
        s = tmp_path / name
        s.write_bytes(part)
        refused(cct_bin, s, tmp_path / "out.webm")


def test_truncated_faststart_mp4_keeps_what_decodes(cct_bin, tmp_path):
    s = tmp_path / "fs.mp4"
    make_video(s, seconds=1.0)
    full = tmp_path / "full.mp4"
    ffmpeg("-i", str(s), "-c", "copy", "-movflags", "+faststart", str(full))
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    r = cct_convert(cct_bin, cut, tmp_path / "out.mkv", timeout=60)
    assert r.returncode in (0, 1), r.stderr
    if r.returncode == 0:
        assert streams(probe(tmp_path / "out.mkv"), "video")


def test_random_bytes(cct_bin, tmp_path):
    s = tmp_path / "noise.mp3"
    s.write_bytes(os.urandom(4096))
    r = refused(cct_bin, s, tmp_path / "out.wav")
    assert "other" in r.stderr


def test_empty_file(cct_bin, tmp_path):
    s = tmp_path / "empty.mp3"
    s.write_bytes(b"")
    r = refused(cct_bin, s, tmp_path / "out.wav")
    assert "empty" in r.stderr


def test_playlists_not_followed(cct_bin, src, tmp_path):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(src["mp4"].read_bytes())
    hls = tmp_path / "list.m3u8"
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.ffconcat"
    concat.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    for s in (hls, concat):
        before = os.stat(secret).st_atime_ns
        r = refused(cct_bin, s, tmp_path / "out.mp3")
        assert "other" in r.stderr or "not a media file" in r.stderr
        assert not (tmp_path / "out.mp3").exists()
        del before  # atime is unreliable (noatime); the refusal itself is the proof


def test_absurd_frame_size(cct_bin, tmp_path):
    raw = tmp_path / "raw.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=0.3", "-c:v", "rawvideo",
           "-pix_fmt", "yuv420p", str(raw))
    b = bytearray(raw.read_bytes())
    i = b.find(b"strf")
    struct.pack_into("<ii", b, i + 12, 30000, 30000)
    i = b.find(b"avih")
    struct.pack_into("<II", b, i + 8 + 32, 30000, 30000)
    s = tmp_path / "huge.avi"
    s.write_bytes(bytes(b))
    r = cct_convert(cct_bin, s, tmp_path / "out.mp4", timeout=60)
    assert r.returncode in (1,), r.stderr
    assert "size" in r.stderr or "larger" in r.stderr or "other" in r.stderr, r.stderr
