"""conftest.py - shared fixtures for the integration suites: the cct binary under test, and real
`cct serve` processes started on a free port with a temporary DATA_DIR (fixture `server`, one per
module, and `make_server` for tests that need their own environment). Standard library only:
an HTTP client over http.client and a multipart encoder that streams files from disk."""
import contextlib
import http.client
import json
import os
import pathlib
import sqlite3
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Form fields of POST /api/tasks and the JSON fields of the auth endpoints, in one place.
FILE_FIELD = "file"
FORMAT_FIELD = "newFormat"
PRESET_FIELD = "preset"
NAME_FIELD = "fileName"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


@pytest.fixture(scope="session")
def cct_bin():
    path = os.environ.get("CCT_BIN", str(ROOT / "build" / "cct"))
    assert os.access(path, os.X_OK), f"cct binary not found at {path}: run make first"
    return path


def free_port():
    """A TCP port nobody listens on right now (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


# ---- multipart/form-data, streamed -------------------------------------------------------

class Multipart:
    """A multipart/form-data body built from text fields and files; the files are read from
    disk in chunks while sending, and the total length is known up front."""

    def __init__(self):
        self.boundary = "cct-" + uuid.uuid4().hex
        self.parts = []  # (header bytes, bytes or path)

    @staticmethod
    def _quote(value):
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "%0D").replace("\n", "%0A")

    def field(self, name, value):
        head = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{self._quote(name)}\""
                f"\r\n\r\n").encode()
        self.parts.append((head, value.encode() if isinstance(value, str) else value))
        return self

    def file(self, name, path, filename=None, ctype="application/octet-stream"):
        filename = os.path.basename(str(path)) if filename is None else filename
        head = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{self._quote(name)}\"; "
                f"filename=\"{self._quote(filename)}\"\r\nContent-Type: {ctype}\r\n\r\n").encode("utf-8")
        self.parts.append((head, pathlib.Path(path)))
        return self

    @property
    def content_type(self):
        return f"multipart/form-data; boundary={self.boundary}"

    def _tail(self):
        return f"--{self.boundary}--\r\n".encode()

    def length(self):
        n = 0
        for head, body in self.parts:
            n += len(head) + (body.stat().st_size if isinstance(body, pathlib.Path) else len(body)) + 2
        return n + len(self._tail())

    def chunks(self, size=256 * 1024):
        for head, body in self.parts:
            yield head
            if isinstance(body, pathlib.Path):
                with open(body, "rb") as f:
                    while True:
                        b = f.read(size)
                        if not b:
                            break
                        yield b
            else:
                yield body
            yield b"\r\n"
        yield self._tail()


# ---- the server --------------------------------------------------------------------------

class Server:
    def __init__(self, cct_bin, env_extra, workers=1):
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="cct-it-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "serve.log")
        self.cct_bin = cct_bin
        self.env = dict(os.environ)
        # serve runs in self.tmp with a relative DATA_DIR, as `make run` does (./data)
        self.env.update({
            "HOST": self.host, "PORT": str(self.port), "DATA_DIR": "data",
            "WORKERS": str(workers), "HTTP_THREADS": "4", "LOG_LEVEL": "info",
            "SHUTDOWN_GRACE_SECONDS": "10",
        })
        self.env.update({k: str(v) for k, v in env_extra.items()})
        self.proc = None
        self._log = None
        self.logs_checked_upto = 0

    # -- life cycle
    def start(self, timeout=30):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.cct_bin, "serve"], env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.tmp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cct serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get("/healthz", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"cct serve did not answer /healthz within {timeout}s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals serve and waits; returns its exit code (kills the group on timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f"cct serve did not exit within {timeout}s of {sig!r}:\n{self.log()}")
        finally:
            self._close_log()
        return self.proc.returncode

    def kill_group(self, sig=signal.SIGKILL):
        """kill -9 serve and every process in its group (workers, sandboxes); waits for serve."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        # let the rest of the group (workers, reparented to init) go away
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(self.proc.pid):
            time.sleep(0.05)
        self._close_log()

    def restart(self, timeout=30):
        """Starts serve again on the same DATA_DIR and port."""
        self.proc = None
        return self.start(timeout=timeout)

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None

    def log(self):
        with contextlib.suppress(OSError):
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        return ""

    def sanitizer_errors(self):
        return [l for l in self.log().splitlines() if any(m in l for m in SANITIZER_MARKERS)]

    def worker_pids(self):
        """Pids of the worker processes serve started (children running `worker`)."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                if len(argv) > 1 and argv[1] == b"worker":
                    pids.append(int(d))
            except (OSError, ValueError, IndexError):
                continue
        return sorted(pids)

    def wait_workers(self, n, timeout=20, exclude=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.worker_pids() if p not in exclude]
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"expected {n} workers, have {self.worker_pids()}:\n{self.log()[-3000:]}")

    def freeze_worker(self, pid, timeout=10):
        """SIGSTOPs a worker at a moment it holds no lock on the queue file (it polls in short
        transactions), so uploads still queue while it is frozen. Undo with thaw_worker."""
        qpath = os.path.join(self.data_dir, "queue.db")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, signal.SIGSTOP)
            while _proc_state(pid) not in ("T", "t", None):
                time.sleep(0.005)
            try:
                db = sqlite3.connect(qpath, timeout=0.05, isolation_level=None)
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("ROLLBACK")
                    return
                finally:
                    db.close()
            except sqlite3.OperationalError:
                os.kill(pid, signal.SIGCONT)
                time.sleep(0.02)
        raise AssertionError("could not freeze the worker outside a queue transaction")

    @staticmethod
    def thaw_worker(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)

    # -- HTTP
    def request(self, method, path, body=None, headers=None, token=None, json_body=None,
                timeout=30):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, **kw):
        return self.request("POST", path, json_body=obj, **kw)

    def send_multipart(self, path, form, token=None, timeout=120, headers=None):
        """Streams a Multipart body; an early answer (413) while sending is still returned."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", form.content_type)
            conn.putheader("Content-Length", str(form.length()))
            if token:
                conn.putheader("Authorization", f"Bearer {token}")
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for chunk in form.chunks():
                    conn.send(chunk)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    # -- API helpers
    def signup(self, username=None, password="correct horse battery", email=None):
        username = username or "u" + uuid.uuid4().hex[:12]
        email = email or f"{username}@example.com"
        r = self.post_json("/api/auth/signup", {"username": username, "email": email,
                                                "password1": password, "password2": password})
        return username, password, r

    def login(self, username, password):
        return self.post_json("/api/auth/login", {"username": username, "password": password})

    def new_user(self):
        """Signs up and logs in a fresh random user; returns its token."""
        username, password, r = self.signup()
        assert r.status == 201, r
        r = self.login(username, password)
        assert r.status == 200, r
        return token_of(r.json())

    def upload(self, token, path, new_format, filename=None, preset=None, name_field=None):
        """POST /api/tasks; filename goes in the file part, name_field in the fileName field
        (which carries any bytes: quotes, backslashes, control characters)."""
        form = Multipart().field(FORMAT_FIELD, new_format)
        if preset is not None:
            form.field(PRESET_FIELD, preset)
        if name_field is not None:
            form.field(NAME_FIELD, name_field)
        form.file(FILE_FIELD, path, filename=filename)
        return self.send_multipart("/api/tasks", form, token=token)

    def task(self, token, task_id):
        r = self.get(f"/api/tasks/{task_id}", token=token)
        assert r.status == 200, r
        return task_of(r.json())

    def wait_task(self, token, task_id, states=("processed",), timeout=60):
        """Polls the task until its status is in states (or failed/expired); returns it."""
        deadline = time.monotonic() + timeout
        t = None
        while time.monotonic() < deadline:
            t = self.task(token, task_id)
            if t["status"] in states or t["status"] in ("failed", "expired"):
                return t
            time.sleep(0.1)
        raise AssertionError(f"task {task_id} still {t} after {timeout}s:\n{self.log()[-3000:]}")

    def files(self):
        """Every regular file under the storage folder (DATA_DIR/files)."""
        root = pathlib.Path(self.data_dir) / "files"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _group_alive(pgid):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def token_of(body):
    """The bearer token in a login answer."""
    for k in ("token", "access_token"):
        if k in body:
            return body[k]
    raise AssertionError(f"no token in {body}")


def task_of(body):
    """The task object in an answer (bare or under "task")."""
    return body["task"] if isinstance(body, dict) and "task" in body else body


def task_id_of(body):
    return task_of(body)["id"]


class ServerFactory:
    def __init__(self, cct_bin):
        self.cct_bin = cct_bin
        self.servers = []

    def __call__(self, workers=1, start=True, **env):
        s = Server(self.cct_bin, env, workers=workers)
        self.servers.append(s)
        return s.start() if start else s

    def finish(self):
        problems = []
        for s in self.servers:
            if s.proc is None:
                continue
            if s.proc.poll() is None:
                try:
                    code = s.stop()
                except AssertionError as e:
                    problems.append(str(e))
                    continue
                if code != 0:
                    problems.append(f"cct serve exited with {code} on SIGTERM:\n{s.log()[-4000:]}")
            bad = s.sanitizer_errors()
            if bad:
                problems.append("sanitizer reports:\n" + "\n".join(bad) + "\n" + s.log()[-6000:])
            if _group_alive(s.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(s.proc.pid, signal.SIGKILL)
                problems.append("processes of serve's group outlived it")
        for s in self.servers:
            if not problems or os.environ.get("CCT_KEEP_TMP") != "1":
                shutil.rmtree(s.tmp, ignore_errors=True)
        self.servers = []
        assert not problems, "\n\n".join(problems)


@pytest.fixture(scope="module")
def server_factory(cct_bin):
    f = ServerFactory(cct_bin)
    yield f
    f.finish()


@pytest.fixture()
def make_server(cct_bin):
    """A factory for servers with their own environment: make_server(workers=2, MAX_UPLOAD_MB=1)."""
    f = ServerFactory(cct_bin)
    yield f
    f.finish()


@pytest.fixture(scope="module")
def server(server_factory):
    """One `cct serve` for the module (WORKERS=2)."""
    return server_factory(workers=2)


@pytest.fixture()
def token(server):
    return server.new_user()


@pytest.fixture()
def tmp_media(tmp_path):
    return tmp_path
