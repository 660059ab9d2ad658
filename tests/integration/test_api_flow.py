"""test_api_flow.py - the whole flow over HTTP against a real `cct serve`: sign up, log in,
upload, poll until processed, download (by task, by file name, with Range), check the result
decodes as the asked format (ffprobe), list, delete, and the system endpoints."""
import re

import pytest

import media
from conftest import task_id_of, task_of

CASES = [
    # source, target, ffprobe format_name contains, codec of the first audio stream
    ("tone.wav", "mp3", "mp3", "mp3"),
    ("tone.ogg", "flac", "flac", "flac"),
    ("tone.mp3", "wav", "wav", "pcm_s16le"),
]


def tasks_in(body):
    """The task array of a list answer (bare or under "tasks")."""
    return body["tasks"] if isinstance(body, dict) else body


@pytest.mark.parametrize("src_name,target,fmt_name,codec", CASES)
def test_convert_and_download(server, token, tmp_path, src_name, target, fmt_name, codec):
    src = tmp_path / src_name
    media.make_audio(src, seconds=1.0)
    r = server.upload(token, src, target)
    assert r.status == 201, r
    t = task_of(r.json())
    assert t["status"] in ("uploaded", "queued", "processing", "processed"), t
    tid = t["id"]

    t = server.wait_task(token, tid)
    assert t["status"] == "processed", t
    stem = src_name.rsplit(".", 1)[0]

    # by task id
    r = server.get(f"/api/tasks/{tid}/result", token=token)
    assert r.status == 200, r
    assert f"{stem}.{target}" in (r.header("content-disposition") or ""), r.headers
    assert int(r.header("content-length")) == len(r.body) > 0
    out = tmp_path / f"result.{target}"
    out.write_bytes(r.body)
    info = media.probe(out)
    assert info is not None, f"ffprobe cannot read the {target} result"
    assert fmt_name in info["format"]["format_name"], info["format"]
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert audio and audio[0]["codec_name"] == codec, info["streams"]
    assert abs(float(info["format"]["duration"]) - 1.0) < 0.2, info["format"]

    # by file name (the original API's download path) gives the same bytes
    r2 = server.get(f"/api/files/{stem}.{target}", token=token)
    assert r2.status == 200, r2
    assert r2.body == r.body

    # a byte range
    r3 = server.get(f"/api/tasks/{tid}/result", token=token, headers={"Range": "bytes=10-109"})
    assert r3.status == 206, r3
    assert r3.body == r.body[10:110]
    assert r3.header("content-range") == f"bytes 10-109/{len(r.body)}"

    # the original is kept and comes back unchanged
    r4 = server.get(f"/api/tasks/{tid}/original", token=token)
    assert r4.status == 200, r4
    assert r4.body == src.read_bytes()
    r5 = server.get(f"/api/files/{src_name}", token=token)
    assert r5.status == 200 and r5.body == src.read_bytes(), r5

    # the task shows what happened
    assert t["progress"] == 100, t
    for key in ("id", "status"):
        assert key in t, t


def test_list_max_and_order(server, token, tmp_path):
    src = tmp_path / "a.wav"
    media.make_audio(src, seconds=0.3)
    ids = []
    for _ in range(3):
        r = server.upload(token, src, "mp3")
        assert r.status == 201, r
        ids.append(task_id_of(r.json()))
    for tid in ids:
        assert server.wait_task(token, tid)["status"] == "processed"

    r = server.get("/api/tasks", token=token)
    assert r.status == 200, r
    assert sorted(t["id"] for t in tasks_in(r.json())) == sorted(ids)

    r = server.get("/api/tasks?max=2&order=1", token=token)
    assert r.status == 200, r
    got = [t["id"] for t in tasks_in(r.json())]
    assert got == sorted(ids, reverse=True)[:2], got

    r = server.get("/api/tasks?max=2&order=0", token=token)
    got = [t["id"] for t in tasks_in(r.json())]
    assert got == sorted(ids)[:2], got

    # another user sees none of them
    other = server.new_user()
    r = server.get("/api/tasks", token=other)
    assert r.status == 200 and tasks_in(r.json()) == [], r


def test_delete_removes_task_and_files(server, token, tmp_path):
    src = tmp_path / "gone.wav"
    media.make_audio(src, seconds=0.3)
    before = set(server.files())
    r = server.upload(token, src, "flac")
    assert r.status == 201, r
    tid = task_id_of(r.json())
    assert server.wait_task(token, tid)["status"] == "processed"
    mine = set(server.files()) - before
    assert len(mine) >= 2, f"expected the original and the result in storage, got {mine}"

    r = server.request("DELETE", f"/api/tasks/{tid}", token=token)
    assert r.status == 204, r
    assert r.body == b""
    assert server.get(f"/api/tasks/{tid}", token=token).status == 404
    assert server.get(f"/api/tasks/{tid}/result", token=token).status == 404
    assert server.get("/api/files/gone.flac", token=token).status == 404
    assert server.request("DELETE", f"/api/tasks/{tid}", token=token).status == 404
    left = [p for p in mine if p.exists()]
    assert left == [], f"files of a deleted task are still there: {left}"


def test_formats_lists_targets(server):
    r = server.get("/api/formats")
    assert r.status == 200, r
    body = r.json()
    text = r.body.decode()
    for name in ("mp3", "wav", "flac", "png", "zip"):
        assert f'"{name}"' in text, name
    # wav can become mp3, and the answer says so somewhere next to wav
    formats = body["formats"] if isinstance(body, dict) and "formats" in body else body
    wav = next(f for f in formats if f.get("name") == "wav")
    assert "mp3" in wav["targets"], wav


def test_health_openapi_index(server):
    assert server.get("/healthz").status == 200
    r = server.get("/api/openapi.json")
    assert r.status == 200 and "openapi" in r.json()
    r = server.get("/")
    assert r.status == 200 and "text/html" in r.header("content-type")


def test_metrics_count_requests_and_tasks(server, token, tmp_path):
    src = tmp_path / "m.wav"
    media.make_audio(src, seconds=0.3)
    r = server.upload(token, src, "mp3")
    assert r.status == 201, r
    assert server.wait_task(token, task_id_of(r.json()))["status"] == "processed"
    r = server.get("/metrics")
    assert r.status == 200, r
    text = r.body.decode()

    def value(pattern):
        m = re.search(pattern, text, re.M)
        assert m, f"{pattern} not in metrics:\n{text}"
        return float(m.group(1))

    def requests(route, status):
        """Sum of cct_http_requests_total over samples with these labels (others ignored)."""
        total, seen = 0.0, False
        for m in re.finditer(r'^cct_http_requests_total\{(.*)\} (\S+)$', text, re.M):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            if labels.get("route") == route and labels.get("status") == str(status):
                total += float(m.group(2))
                seen = True
        assert seen, f"no cct_http_requests_total for {route} {status}:\n{text}"
        return total

    assert requests("/api/tasks", 201) >= 1
    assert requests("/api/tasks/{id}", 200) >= 1
    assert value(r'^cct_tasks\{status="processed"\} (\S+)$') >= 1
    assert value(r'^cct_conversion_seconds_count (\S+)$') >= 1
    assert value(r'^cct_stats_up (\S+)$') == 1


def test_archive_entry_keeps_the_uploaded_name(server, token, tmp_path):
    """Files are stored under opaque keys; the archive's entry is named as the user named it."""
    import io
    import zipfile

    src = tmp_path / "Interview take 2.wav"
    media.make_audio(src, seconds=0.5)
    r = server.upload(token, src, "zip")
    assert r.status == 201, r
    t = server.wait_task(token, task_of(r.json())["id"])
    assert t["status"] == "processed", t
    r = server.get(f"/api/tasks/{t['id']}/result", token=token)
    assert r.status == 200, r
    with zipfile.ZipFile(io.BytesIO(r.body)) as z:
        assert z.namelist() == ["Interview take 2.wav"]
        assert z.read("Interview take 2.wav") == src.read_bytes()
