"""test_service_ops.py - running the service: `serve --help`, bad configuration, `migrate`,
clean SIGTERM, and durability: a worker killed mid-conversion, serve killed with its workers,
a shutdown during a conversion (the task is re-queued, not lost), and the retention sweeper
(a task aged in the real SQLite file expires and its files go)."""
import os
import signal
import sqlite3
import subprocess
import time

import pytest

import media
from conftest import task_id_of, _group_alive

VARIABLES = ["HOST", "PORT", "DATA_DIR", "DATABASE_URL", "QUEUE_URL", "STORAGE_DIR", "JWT_SECRET",
             "TOKEN_TTL_SECONDS", "MAX_UPLOAD_MB", "MAX_ACTIVE_TASKS", "RETENTION_HOURS",
             "SWEEP_INTERVAL_SECONDS", "WORKERS", "HTTP_THREADS", "HTTP_MAX_CONNECTIONS",
             "HTTP_MAX_CONNECTIONS_PER_IP", "LOGIN_MAX_ATTEMPTS", "LOGIN_WINDOW_SECONDS",
             "JOB_TIMEOUT_SECONDS", "JOB_CPU_SECONDS", "JOB_MEMORY_MB", "JOB_OUTPUT_MB",
             "ARCHIVE_MAX_UNPACKED_MB", "SHUTDOWN_GRACE_SECONDS", "LOG_LEVEL"]


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """Two minutes of audio (about 21 MB): long enough to catch its conversion in progress."""
    p = tmp_path_factory.mktemp("media") / "long.wav"
    media.make_audio(p, seconds=120.0)
    return p


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_serve_help_lists_every_variable(cct_bin):
    r = subprocess.run([cct_bin, "serve", "--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    for name in VARIABLES:
        assert name in r.stdout, f"{name} missing from `cct serve --help`:\n{r.stdout}"


@pytest.mark.parametrize("var,value", [("PORT", "99999"), ("WORKERS", "lots"),
                                       ("MAX_UPLOAD_MB", "0"), ("LOG_LEVEL", "loud")])
def test_bad_env_value_fails_with_one_line(cct_bin, tmp_path, var, value):
    env = clean_env(**{"DATA_DIR": tmp_path / "data", "PORT": 1, var: value})
    r = subprocess.run([cct_bin, "serve"], capture_output=True, text=True, env=env, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert var in lines[0] and value in lines[0], lines[0]
    assert not (tmp_path / "data").exists(), "a bad configuration must stop before touching DATA_DIR"


def test_migrate_creates_schema_and_is_idempotent(cct_bin, tmp_path):
    env = clean_env(DATA_DIR=tmp_path / "data")
    for _ in range(2):
        r = subprocess.run([cct_bin, "migrate"], capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "migrated" in r.stdout, r.stdout
    with sqlite3.connect(tmp_path / "data" / "cct.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "tasks"} <= tables, tables


def test_sigterm_exits_cleanly(make_server):
    s = make_server(workers=2)
    pids = s.wait_workers(2)
    assert s.stop(signal.SIGTERM) == 0, s.log()
    assert "shutting down" in s.log() and "stopped" in s.log()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not _group_alive(s.proc.pid)


def test_ctrl_c_to_the_group_stops_in_order(make_server):
    """Ctrl-C in a terminal sends SIGINT to serve and its workers at once: the workers leave
    it to serve (no restarts), and serve stops cleanly."""
    s = make_server(workers=2)
    s.wait_workers(2)
    os.killpg(s.proc.pid, signal.SIGINT)
    assert s.proc.wait(timeout=30) == 0, s.log()
    assert "restarting" not in s.log(), s.log()
    assert "stopped" in s.log()


def wait_status(s, token, tid, status, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = s.task(token, tid)
        if t["status"] == status:
            return t
        assert t["status"] not in ("failed", "expired"), t
        time.sleep(0.02)
    raise AssertionError(f"task {tid} never reached {status}: {t}\n{s.log()[-3000:]}")


def check_long_result(s, token, tid, tmp_path):
    t = s.wait_task(token, tid, timeout=120)
    assert t["status"] == "processed", t
    r = s.get(f"/api/tasks/{tid}/result", token=token)
    assert r.status == 200, r
    out = tmp_path / f"r{tid}.mp3"
    out.write_bytes(r.body)
    info = media.probe(out)
    assert info and abs(float(info["format"]["duration"]) - 120.0) < 1.0, info


def test_worker_killed_mid_conversion_job_runs_again(make_server, long_wav, tmp_path):
    s = make_server(workers=1)
    token = s.new_user()
    (worker,) = s.wait_workers(1)
    r = s.upload(token, long_wav, "mp3")
    assert r.status == 201, r
    tid = task_id_of(r.json())
    wait_status(s, token, tid, "processing")
    os.kill(worker, signal.SIGKILL)
    assert s.task(token, tid)["status"] == "processing", "conversion finished before the kill"
    # the supervisor notices, hands the job back and starts a new worker that finishes it
    s.wait_workers(1, exclude=(worker,))
    check_long_result(s, token, tid, tmp_path)
    assert "worker died" in s.log()


def test_serve_killed_with_workers_then_restart_runs_queued(make_server, long_wav, tmp_path):
    s = make_server(workers=1)
    token = s.new_user()
    (worker,) = s.wait_workers(1)
    s.freeze_worker(worker)  # tasks stay queued
    small = tmp_path / "small.wav"
    media.make_audio(small, seconds=0.5)
    ids = []
    for _ in range(2):
        r = s.upload(token, small, "mp3")
        assert r.status == 201, r
        ids.append(task_id_of(r.json()))
    assert [s.task(token, i)["status"] for i in ids] == ["queued", "queued"]
    s.kill_group(signal.SIGKILL)  # kill -9 serve and every worker: no clean-up at all
    assert s.proc.returncode == -signal.SIGKILL
    s.restart()
    for i in ids:
        assert s.wait_task(token, i)["status"] == "processed"
    assert "recovery after start" in s.log()


def test_serve_killed_alone_takes_its_workers_along(make_server):
    s = make_server(workers=2)
    pids = s.wait_workers(2)
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    alive = pids
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                 and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        if not alive:
            break
        time.sleep(0.05)
    assert alive == [], f"workers outlived a killed serve: {alive}"


def test_shutdown_during_conversion_requeues_the_task(make_server, long_wav, tmp_path):
    s = make_server(workers=1, SHUTDOWN_GRACE_SECONDS=1)
    token = s.new_user()
    s.wait_workers(1)
    r = s.upload(token, long_wav, "mp3")
    assert r.status == 201, r
    tid = task_id_of(r.json())
    wait_status(s, token, tid, "processing")
    assert s.stop(signal.SIGTERM) == 0, s.log()
    with sqlite3.connect(os.path.join(s.data_dir, "cct.db")) as db:
        (status,) = db.execute("SELECT status FROM tasks WHERE id = ?", (tid,)).fetchone()
    # cancelled and handed back (queued), or killed after the grace period (processing): both
    # are picked up again at the next start; never failed or lost
    assert status in ("queued", "processing"), status
    s.restart()
    check_long_result(s, token, tid, tmp_path)


def test_retention_sweeper_expires_old_tasks(make_server, tmp_path):
    s = make_server(workers=1, SWEEP_INTERVAL_SECONDS=1, RETENTION_HOURS=1)
    token = s.new_user()
    src = tmp_path / "old.wav"
    media.make_audio(src, seconds=0.3)
    before = set(s.files())
    ids = []
    for _ in range(2):
        r = s.upload(token, src, "mp3")
        assert r.status == 201, r
        ids.append(task_id_of(r.json()))
    for i in ids:
        assert s.wait_task(token, i)["status"] == "processed"
    old, young = ids
    files = set(s.files()) - before
    assert len(files) == 4, files
    time.sleep(1.5)  # a sweep or two pass: nothing is old yet
    assert s.task(token, old)["status"] == "processed"

    # age one task by two hours in the real database file
    with sqlite3.connect(os.path.join(s.data_dir, "cct.db"), timeout=10) as db:
        n = db.execute("UPDATE tasks SET created_at = created_at - 7200 WHERE id = ?", (old,)).rowcount
    assert n == 1
    t = s.wait_task(token, old, states=("expired",), timeout=15)
    assert t["status"] == "expired", t
    assert s.get(f"/api/tasks/{old}/result", token=token).status == 404
    assert s.get(f"/api/tasks/{old}/original", token=token).status == 404
    left = {str(p) for p in s.files()}
    assert len(set(map(str, files)) - left) == 2, "the aged task's two files should be gone"
    assert s.task(token, young)["status"] == "processed"
    assert s.get(f"/api/tasks/{young}/result", token=token).status == 200


def test_one_address_cannot_hold_every_connection(make_server):
    """Connections from one address stop at HTTP_MAX_CONNECTIONS_PER_IP: of 8 keep-alive
    connections at most 3 are served, whatever order the server's threads accept them in, and
    the server answers again as soon as they close."""
    import socket

    s = make_server(workers=1, HTTP_MAX_CONNECTIONS_PER_IP=3)
    conns = [socket.create_connection((s.host, s.port), timeout=5) for _ in range(8)]
    answered = 0
    try:
        for c in conns:  # keep-alive: a served connection stays open and holds its slot
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for c in conns:
            try:
                if c.recv(12).startswith(b"HTTP/1.1 200"):
                    answered += 1
            except (ConnectionResetError, socket.timeout):
                pass
    finally:
        for c in conns:
            c.close()
    assert 1 <= answered <= 3, f"{answered} of 8 connections from one address were served"
    time.sleep(0.5)
    r = s.get("/healthz")
    assert r.status == 200, r
