"""test_api_errors.py - how the HTTP API refuses: other users' objects look missing, bad JSON
and bad fields, duplicate and wrong credentials, the login rate limit, bad and expired tokens
(forged with the server's own secret), oversize, empty and unsupported uploads, the active-task
limit, hostile file names, unknown routes and wrong methods."""
import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse

import pytest

import media
from conftest import FILE_FIELD, FORMAT_FIELD, Multipart, task_id_of, task_of


@pytest.fixture(scope="module")
def server(server_factory):
    # a high login limit so the wrong-password tests here never trip it by accident
    return server_factory(workers=1, LOGIN_MAX_ATTEMPTS=1000)


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    p = tmp_path_factory.mktemp("media") / "tone.wav"
    media.make_audio(p, seconds=0.3)
    return p


def error_of(r):
    body = r.json()
    assert "error" in body and "code" in body["error"] and "message" in body["error"], body
    return body["error"]


# ---- ownership ---------------------------------------------------------------------------

def test_other_users_task_and_file_look_missing(server, wav):
    alice = server.new_user()
    bob = server.new_user()
    nobody = server.new_user()
    r = server.upload(alice, wav, "mp3", filename="alice-secret.wav")
    assert r.status == 201, r
    tid = task_id_of(r.json())
    assert server.wait_task(alice, tid)["status"] == "processed"
    missing = tid + 1000000

    for suffix in ("", "/result", "/original"):
        theirs = server.get(f"/api/tasks/{tid}{suffix}", token=bob)
        truly = server.get(f"/api/tasks/{missing}{suffix}", token=bob)
        assert theirs.status == truly.status == 404, (theirs, truly)
        assert theirs.body == truly.body, (theirs, truly)
    theirs = server.request("DELETE", f"/api/tasks/{tid}", token=bob)
    truly = server.request("DELETE", f"/api/tasks/{missing}", token=bob)
    assert theirs.status == truly.status == 404 and theirs.body == truly.body

    for name in ("alice-secret.mp3", "alice-secret.wav"):
        theirs = server.get(f"/api/files/{name}", token=bob)
        truly = server.get(f"/api/files/{name}", token=nobody)
        assert theirs.status == truly.status == 404, (theirs, truly)
        assert theirs.body == truly.body
    # and Alice still has it all
    assert server.get(f"/api/tasks/{tid}", token=alice).status == 200
    assert server.get("/api/files/alice-secret.mp3", token=alice).status == 200


# ---- sign-up and log-in ------------------------------------------------------------------

def test_malformed_json(server):
    for body in (b"{", b"not json", b"[1,2]", b'"string"', b"\xff\xfe"):
        r = server.request("POST", "/api/auth/signup", body=body,
                           headers={"Content-Type": "application/json"})
        assert r.status == 400, (body, r)
        error_of(r)
    r = server.request("POST", "/api/auth/login", body=b"{\"username\": ",
                       headers={"Content-Type": "application/json"})
    assert r.status == 400, r


def test_missing_and_wrong_fields(server):
    full = {"username": "someone_x", "email": "x@example.com", "password1": "longenough1",
            "password2": "longenough1"}
    for field in full:
        body = {k: v for k, v in full.items() if k != field}
        r = server.post_json("/api/auth/signup", body)
        assert r.status == 400, (field, r)
        assert field in error_of(r)["message"], (field, r)
    r = server.post_json("/api/auth/signup", dict(full, username=12345))
    assert r.status == 400, r
    r = server.post_json("/api/auth/login", {"username": "x"})
    assert r.status == 400 and "password" in error_of(r)["message"], r


def test_password_mismatch(server):
    r = server.post_json("/api/auth/signup", {"username": "mismatch_1", "email": "m@example.com",
                                              "password1": "longenough1", "password2": "longenough2"})
    assert r.status == 400, r
    assert "password" in error_of(r)["message"].lower()


def test_duplicate_username_is_409(server):
    name, pw, r = server.signup()
    assert r.status == 201, r
    _, _, r = server.signup(username=name, email="another-" + name + "@example.com")
    assert r.status == 409, r
    error_of(r)


def test_wrong_password_is_401_and_same_as_unknown_user(server):
    name, pw, r = server.signup()
    assert r.status == 201
    wrong = server.login(name, pw + "x")
    unknown = server.login("nobody_" + name, pw)
    assert wrong.status == unknown.status == 401, (wrong, unknown)
    assert wrong.body == unknown.body
    assert "token" not in wrong.json()


def test_login_rate_limit(make_server):
    s = make_server(workers=1, LOGIN_MAX_ATTEMPTS=3)
    name, pw, r = s.signup()
    assert r.status == 201
    for _ in range(3):
        assert s.login(name, "wrong-password").status == 401
    r = s.login(name, "wrong-password")
    assert r.status == 429, r
    assert r.header("retry-after"), r.headers
    # the limit holds even with the right password, inside the window
    assert s.login(name, pw).status == 429


# ---- tokens ------------------------------------------------------------------------------

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forge(secret, uid, exp, iat=None):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": str(uid), "uid": uid, "iat": iat or int(time.time()) - 10,
                                 "exp": exp}).encode())
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def test_bad_and_expired_tokens(server):
    name, pw, r = server.signup()
    assert r.status == 201
    uid = r.json()["id"]
    with open(os.path.join(server.data_dir, "jwt.secret"), "rb") as f:
        secret = f.read().strip()
    now = int(time.time())

    # the forgery is right: a live token made this way is accepted ...
    assert server.get("/api/tasks", token=forge(secret, uid, now + 300)).status == 200
    # ... so the same token expired is refused for its expiry alone
    r = server.get("/api/tasks", token=forge(secret, uid, now - 5, iat=now - 100))
    assert r.status == 401, r
    error_of(r)
    # another key, garbage, none, wrong scheme
    assert server.get("/api/tasks", token=forge(b"x" * 64, uid, now + 300)).status == 401
    assert server.get("/api/tasks", token="not.a.token").status == 401
    assert server.get("/api/tasks", token="x" * 10000).status in (401, 431)
    assert server.get("/api/tasks").status == 401
    r = server.get("/api/tasks", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status == 401
    # alg none
    none = b64url(b'{"alg":"none","typ":"JWT"}') + "." + \
        b64url(json.dumps({"sub": str(uid), "uid": uid, "exp": now + 300}).encode()) + "."
    assert server.get("/api/tasks", token=none).status == 401


# ---- uploads -----------------------------------------------------------------------------

def test_oversize_upload_is_413_and_leaves_nothing(make_server, tmp_path):
    s = make_server(workers=1, MAX_UPLOAD_MB=1)
    token = s.new_user()
    big = tmp_path / "big.wav"
    with open(big, "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))
    r = s.upload(token, big, "mp3")
    assert r.status == 413, r
    error_of(r)
    time.sleep(0.3)
    assert s.files() == [], s.files()
    r = s.get("/api/tasks", token=token)
    body = r.json()
    assert (body["tasks"] if isinstance(body, dict) else body) == []


def test_unsupported_pair_lists_targets(server, wav):
    token = server.new_user()
    before = set(server.files())
    r = server.upload(token, wav, "png")
    assert r.status == 400, r
    msg = error_of(r)["message"]
    assert "mp3" in msg and "flac" in msg, msg
    r = server.upload(token, wav, "no-such-format")
    assert r.status == 400, r
    time.sleep(0.2)
    assert set(server.files()) - before == set()


def test_empty_file_is_400(server, tmp_path):
    token = server.new_user()
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    r = server.upload(token, empty, "mp3")
    assert r.status == 400, r
    error_of(r)


def test_upload_without_file_or_format(server, wav):
    token = server.new_user()
    r = server.send_multipart("/api/tasks", Multipart().field(FORMAT_FIELD, "mp3"), token=token)
    assert r.status == 400, r
    r = server.send_multipart("/api/tasks", Multipart().file(FILE_FIELD, wav), token=token)
    assert r.status == 400, r
    r = server.request("POST", "/api/tasks", body=b"{}", token=token,
                       headers={"Content-Type": "application/json"})
    assert r.status in (400, 415), r


def test_too_many_active_tasks_is_429(make_server, wav):
    s = make_server(workers=1, MAX_ACTIVE_TASKS=1)
    token = s.new_user()
    (worker,) = s.wait_workers(1)
    # Freeze the only worker so the first task stays queued, deterministically.
    s.freeze_worker(worker)
    try:
        r = s.upload(token, wav, "mp3")
        assert r.status == 201, r
        first = task_id_of(r.json())
        r = s.upload(token, wav, "flac")
        assert r.status == 429, r
        error_of(r)
        assert s.task(token, first)["status"] in ("uploaded", "queued")
        # another user is not limited by this one's tasks
        assert s.upload(s.new_user(), wav, "mp3").status == 201
    finally:
        s.thaw_worker(worker)
    assert s.wait_task(token, first)["status"] == "processed"
    assert s.upload(token, wav, "flac").status == 201


def test_hostile_file_names_are_sanitised(server, wav):
    token = server.new_user()
    name = '../../x/..\\evil "quoted" été\x01.wav'
    r = server.upload(token, wav, "mp3", name_field=name)
    assert r.status == 201, r
    t = task_of(r.json())
    stored = t.get("fileName", t.get("file_name"))
    assert stored, t
    for bad in ("/", "\\", '"', "\x01", ".."):
        assert bad not in stored, stored
    assert "été" in stored, stored
    t = server.wait_task(token, t["id"])
    assert t["status"] == "processed", t
    r = server.get(f"/api/tasks/{t['id']}/result", token=token)
    assert r.status == 200, r
    cd = r.header("content-disposition")
    assert cd.startswith("attachment;"), cd
    assert cd.isascii(), cd
    # the UTF-8 name, percent-encoded, is the stored stem with the new extension
    star = cd.split("filename*=UTF-8''", 1)[1].split(";")[0]
    assert urllib.parse.unquote(star) == stored.rsplit(".", 1)[0] + ".mp3", (cd, stored)
    plain = cd.split('filename="', 1)[1].split('"', 1)[0]
    assert plain and "/" not in plain and "\\" not in plain
    # nothing was written outside the storage folder
    for p in server.files():
        assert os.path.realpath(p).startswith(os.path.realpath(server.data_dir) + os.sep)
    # the stored name downloads by name too
    r = server.get("/api/files/" + urllib.parse.quote(stored.rsplit(".", 1)[0] + ".mp3"), token=token)
    assert r.status == 200, r


# ---- routing -----------------------------------------------------------------------------

def test_routing_errors(server):
    token = server.new_user()
    for path in ("/api/tasks/abc", "/api/tasks/-1", "/api/tasks/0", "/api/tasks/1.5",
                 "/api/tasks/99999999999999999999999", "/api/tasks/%00"):
        r = server.get(path, token=token)
        assert r.status == 404, (path, r)
    r = server.get("/no/such/route")
    assert r.status == 404, r
    error_of(r)
    r = server.request("PUT", "/api/tasks", token=token, body=b"")
    assert r.status == 405, r
    assert "GET" in r.header("allow") and "POST" in r.header("allow"), r.headers
    r = server.request("DELETE", "/api/formats")
    assert r.status == 405, r
    r = server.request("PATCH", "/api/tasks/1", token=token, body=b"")
    assert r.status == 405, r
