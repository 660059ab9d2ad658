"""test_openapi.py - docs/openapi.json is true to the running server: it is served at
/api/openapi.json byte for byte, every documented path and method answers (not 404/405) on a
real `cct serve`, and the methods the server allows on each path are the documented ones.
Uses the `server` fixture of conftest.py (server.request, server.new_user, server.upload)."""
import json
import pathlib
import re
import struct
import uuid
import zlib

import pytest

from conftest import ROOT, task_of

DOC = json.loads((ROOT / "docs" / "openapi.json").read_text())
METHODS = ("get", "post", "put", "delete", "patch")


def tiny_png(path):
    """An 8x8 RGB PNG written with the standard library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"".join(bytes([x * 30, y * 30, 128]) for x in range(8)) for y in range(8))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    pathlib.Path(path).write_bytes(png)
    return path


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """A user with one processed task: what the path placeholders are filled with."""
    token = server.new_user()
    src = tiny_png(tmp_path_factory.mktemp("openapi") / "dot.png")
    r = server.upload(token, src, "jpg")
    assert r.status == 201, r
    t = server.wait_task(token, task_of(r.json())["id"])
    assert t["status"] == "processed", t
    return {"token": token, "task": t}


def fill(path, world):
    t = world["task"]
    return path.replace("{id}", str(t["id"])).replace("{filename}", t["fileName"])


def request_for(server, world, method, path):
    """A valid request for each documented operation."""
    op = DOC["paths"][path][method]
    token = world["token"] if op.get("security") else None
    url = fill(path, world)
    if path == "/api/auth/signup":
        name = "o" + uuid.uuid4().hex[:10]
        return server.post_json(url, {"username": name, "email": f"{name}@example.com",
                                      "password1": "openapi-pass-1", "password2": "openapi-pass-1"})
    if path == "/api/auth/login":
        return server.post_json(url, {"username": "nobody-" + uuid.uuid4().hex[:8],
                                      "password": "wrong-password"})
    if path == "/api/tasks" and method == "post":
        src = tiny_png(pathlib.Path(server.tmp) / "again.png")
        return server.upload(token, src, "webp")
    if method == "delete":
        return None  # run last, by test_delete_is_documented_and_answers
    return server.request(method.upper(), url, token=token)


OPERATIONS = [(m, p) for p, item in DOC["paths"].items() for m in item if m in METHODS]


def test_document_is_served_verbatim(server):
    r = server.get("/api/openapi.json")
    assert r.status == 200, r
    assert r.header("content-type").startswith("application/json")
    assert r.body == (ROOT / "docs" / "openapi.json").read_bytes()
    assert DOC["openapi"].startswith("3.0")
    assert DOC["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


# DELETE runs last, in test_delete_is_documented_and_answers, so the others have a task to see.
NON_DELETE = [(m, p) for m, p in OPERATIONS if m != "delete"]


@pytest.mark.parametrize("method,path", NON_DELETE, ids=[f"{m.upper()} {p}" for m, p in NON_DELETE])
def test_every_documented_route_answers(server, world, method, path):
    r = request_for(server, world, method, path)
    assert r.status not in (404, 405), (method, path, r)
    documented = DOC["paths"][path][method]["responses"]
    assert str(r.status) in documented, f"{method} {path} answered {r.status}, documented {list(documented)}"
    if r.status >= 400:
        err = r.json()["error"]
        assert isinstance(err["code"], str) and isinstance(err["message"], str), r


@pytest.mark.parametrize("path", list(DOC["paths"]))
def test_allowed_methods_match_document(server, world, path):
    """PUT is on no path: the server answers 405 and its Allow lists the documented methods."""
    r = server.request("PUT", fill(path, world), token=world["token"], body=b"")
    assert r.status == 405, r
    allow = {m.strip().lower() for m in r.header("allow").split(",")}
    documented = {m for m in DOC["paths"][path] if m in METHODS}
    if "get" in documented:
        documented.add("head")
    assert allow == documented, (path, allow, documented)
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_protected_routes_need_the_token(server, world):
    for method, path in OPERATIONS:
        if not DOC["paths"][path][method].get("security"):
            continue
        r = server.request(method.upper(), fill(path, world))
        assert r.status == 401, (method, path, r)
        assert r.header("www-authenticate").lower().startswith("bearer"), r
        r = server.request(method.upper(), fill(path, world), token="not.a.jwt")
        assert r.status == 401, (method, path, r)


def test_undocumented_paths_are_404(server, world):
    for path in ("/api", "/api/tasks/", "/api/task", "/api/tasks/1/2", "/index.html", "/API/TASKS"):
        r = server.get(path, token=world["token"])
        assert r.status == 404, (path, r)
        assert r.json()["error"]["code"] == "not_found"


def test_task_schema_fields_are_what_the_server_sends(server, world):
    t = server.task(world["token"], world["task"]["id"])
    schema = DOC["components"]["schemas"]["Task"]
    assert set(t) == set(schema["properties"]), set(t) ^ set(schema["properties"])
    assert set(t["links"]) == set(schema["properties"]["links"]["properties"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["createdAt"]), t
    formats = server.get("/api/formats").json()
    assert set(formats) == set(DOC["components"]["schemas"]["Formats"]["properties"])


def test_delete_is_documented_and_answers(server, world):
    ops = [p for m, p in OPERATIONS if m == "delete"]
    assert ops, "no DELETE in the document"
    for path in ops:
        r = server.request("DELETE", fill(path, world), token=world["token"])
        assert r.status == 204, r
        r = server.request("DELETE", fill(path, world), token=world["token"])
        assert r.status == 404, r
