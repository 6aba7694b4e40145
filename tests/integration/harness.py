"""Integration-test harness: runs the real `customs` binary.

Standard library only. The binary comes from $CUSTOMS_BIN (set by CTest);
servers listen on 127.0.0.1 port 0 and report the port they got through
--port-file, so tests never race for a "free" port.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("CUSTOMS_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BIN = os.environ.get("CUSTOMS_BIN", os.path.join(SOURCE, "build", "customs"))
os.environ.setdefault("CUSTOMS_DATA_DIR", os.path.join(SOURCE, "data"))
os.environ.setdefault("CUSTOMS_NO_PROGRESS", "1")


def _sigterm_on_parent_death():
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_options():
    """Popen keyword arguments for a long-lived child (server, broker): it gets
    SIGTERM when this test process dies, so a test killed by CTest's timeout
    leaves no server behind. Linux ties the signal to the forking thread, so
    it is set only from the main thread."""
    if threading.current_thread() is threading.main_thread():
        return {"preexec_fn": _sigterm_on_parent_death}
    return {}


def run(*args, input=None, check=True, env=None, timeout=300):
    """Runs `customs ARGS…`; returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN, *args], input=input, capture_output=True, text=True,
                       env=e, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"customs {' '.join(args)} exited {p.returncode}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def wait_for(cond, what, limit=60.0, step=0.05, done=bool):
    """Polls cond() until done(value) holds (by default: a truthy value);
    fails naming what and the last value seen. The one way tests wait."""
    deadline = time.time() + limit
    last = None
    while time.time() < deadline:
        last = cond()
        if done(last):
            return last
        time.sleep(step)
    raise AssertionError(f"gave up waiting for {what}; last saw {last!r}")


def damage_table(db, table):
    """Makes table unreadable in db (no server holding it open): its root
    page gets a byte that is no b-tree page type, so reading it fails with
    SQLITE_CORRUPT while the other tables still read."""
    import sqlite3
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
    con.close()
    assert root > 1, (table, root)
    with open(db, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\x00")


def create_key(db, org, role, name=""):
    p = run("keys", "create", "--db", db, "--org", org, "--role", role, "--name", name)
    token = p.stdout.strip()
    assert token.startswith("cst_") and "\n" not in token, p.stdout
    return token


def key_id(db, name):
    """The id of the key labelled name (`customs keys list --json`)."""
    p = run("keys", "list", "--db", db, "--json")
    ids = [k["id"] for k in map(json.loads, p.stdout.splitlines()) if k["name"] == name]
    assert len(ids) == 1, (name, p.stdout)
    return ids[0]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    """A `customs serve` process on a loopback port of its own."""

    def __init__(self, db, args=(), env=None, tls=None, wait=True):
        self.db = db
        self.dir = tempfile.mkdtemp(prefix="customs-srv-")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.log = open(self.log_path, "w")
        self.tls = tls
        e = dict(os.environ)
        if env:
            e.update(env)
        cmd = [BIN, "serve", "--db", db, "--listen", "127.0.0.1:0",
               "--port-file", self.port_file, *args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                     **child_options())
        self.port = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        # a ThreadSanitizer build on a loaded machine takes 10-20 s and more
        # to migrate a fresh database and listen; a working server answers
        # as soon as it listens, so only a broken one waits this long
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.output()}")
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise AssertionError("server did not start:\n" + self.output())

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def connection(self, timeout=30):
        if self.tls:
            import ssl
            ctx = ssl.create_default_context(cafile=self.tls)
            ctx.check_hostname = False
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None, conn=None,
                content_type="application/json"):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = body
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body)
        if data is not None and content_type and "Content-Type" not in h:
            h["Content-Type"] = content_type
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                            raw.decode("utf-8", "replace"))
        finally:
            if own:
                c.close()

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def post(self, path, body, token=None, **kw):
        return self.request("POST", path, body=body, token=token, **kw)

    def metric(self, name):
        """The sum of a Prometheus metric's samples (all its labels; name may
        carry labels to pick one), None when the server has none."""
        total, found = 0.0, False
        for line in self.get("/metrics").body.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def sanitizer_reports(self):
        """ThreadSanitizer reports in the server's output (a CUSTOMS_TSAN
        build prints them and carries on)."""
        out = self.output()
        i = out.find("WARNING: ThreadSanitizer:")
        return out[i:i + 6000] if i >= 0 else ""

    def close(self):
        if self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def busy_port():
    """A socket listening on a loopback port; returns (socket, port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def declaration(reference, items=1, date="2024-03-01", **over):
    """A realistic valid import declaration."""
    d = {
        "reference": reference,
        "type": "import",
        "date": date,
        "office": "KRPUS",
        "declarant_id": "DCL-7781",
        "importer_id": "IMP-5520",
        "seller_id": "SEL-0042",
        "country_of_departure": "CN",
        "transport_mode": "10",
        "procedure": {"process_type": "B", "import_type": "11", "import_use": "21",
                      "payment_type": "11"},
        "containers": ["CSQU3054383"],
        "transport_document": {"type": "BL", "number": "MAEU-240301-77"},
        "items": [
            {"hs_code": "690722", "description": f"Glazed ceramic tiles, lot {i}",
             "country_of_origin": "CN", "origin_indicator": "Y", "quantity": 120.5 + i,
             "unit": "MTK", "net_mass_kg": 2300 + i, "gross_mass_kg": 2450 + i,
             "value": 18250.75 + i, "currency": "USD", "tax_rate": 8, "tax_type": "A"}
            for i in range(items)
        ],
    }
    d.update(over)
    return d


class TempDirTestCase(unittest.TestCase):
    """A test case with a fresh temporary directory and database path."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="customs-test-")
        self.db = os.path.join(self.tmp, "customs.db")
        self.servers = []

    def tearDown(self):
        reports = ""
        for s in self.servers:
            if s.proc.poll() is None:
                s.stop()
            reports = reports or s.sanitizer_reports()
            s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            self.fail("the server raced (ThreadSanitizer):\n" + reports)

    def serve(self, *args, **kw):
        s = Server(self.db, args, **kw)
        self.servers.append(s)
        return s
