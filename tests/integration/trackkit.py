"""Helpers for the tracking tests: a real mosquitto on a free loopback port,
a Server-Sent Events reader, and small fixtures (zones, routes, messages).

Standard library only. Nothing here sleeps to wait for a result: waits poll
for a condition and fail with the last observation after a generous limit.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

from harness import BIN, Server, child_options, wait_for  # noqa: F401  (re-exported for tests)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1:port with a generated config:
    persistence on (so a restart keeps queued QoS 1 messages of persistent
    sessions), no queue or in-flight limits."""

    def __init__(self, port=None):
        self.dir = tempfile.mkdtemp(prefix="customs-mqtt-")
        # started as root, mosquitto runs as the mosquitto user: it must be
        # able to write its persistence file here
        os.chmod(self.dir, 0o777)
        self.port = port or free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "persistence true\n"
                    f"persistence_location {self.dir}/\n"
                    "autosave_interval 0\n"
                    "max_queued_messages 0\n"
                    "max_inflight_messages 0\n"
                    "log_dest stderr\n")
        self.proc = None
        self.log = None
        self.start()

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self):
        self.log = open(os.path.join(self.dir, "broker.log"), "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, **child_options())
        wait_for(self._listening, f"mosquitto on port {self.port}", limit=20)

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("mosquitto exited:\n" + self.output())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def restart(self):
        """A clean stop (the broker saves its persistent sessions) and a start
        on the same port."""
        self.stop()
        self.start()

    def output(self):
        try:
            with open(os.path.join(self.dir, "broker.log")) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SSE:
    """Reads text/event-stream events from a GET on a server."""

    def __init__(self, server, path, token, headers=None, timeout=30):
        self.conn = server.connection(timeout=timeout)
        h = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        h.update(headers or {})
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}

    def next(self):
        """The next event as a dict: event, id, data (text), comments."""
        ev = {"event": None, "id": None, "data": None, "comments": [], "retry": None}
        data = []
        while True:
            raw = self.resp.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or ev["event"] or ev["comments"] or ev["retry"]:
                    ev["data"] = "\n".join(data) if data else None
                    return ev
                continue
            if line.startswith(":"):
                ev["comments"].append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                ev["event"] = value
            elif field == "id":
                ev["id"] = value
            elif field == "retry":
                ev["retry"] = value

    def next_event(self, kind="alert"):
        """Skips comments and other kinds; returns the parsed data."""
        while True:
            ev = self.next()
            if ev["event"] == kind:
                return ev, json.loads(ev["data"])

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def now_ms():
    return int(time.time() * 1000)


def square(lon, lat, d):
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d],
                                                [lon + d, lat + d], [lon - d, lat + d],
                                                [lon - d, lat - d]]]}


def db_rows(db, sql, args=()):
    """Reads the server's database directly (read-only, WAL lets it)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()



def setup_world(server, token, with_consignment=True, declarations=None):
    """An origin port, a destination depot, a customs office and a route
    between them near (30E, 0N); device TRK-1 on container CSQU3054383."""
    zones = [
        {"id": "ORIGIN", "name": "Origin port", "kind": "port", "geometry": square(30.0, 0, 0.02)},
        {"id": "DEST", "name": "Destination depot", "kind": "bonded-warehouse",
         "geometry": square(31.0, 0, 0.02)},
        {"id": "OFFICE", "name": "Inland customs office", "kind": "customs-office",
         "geometry": square(30.71, 0, 0.01)},
    ]
    for z in zones:
        r = server.post("/v1/zones", z, token=token)
        assert r.status == 201, r
    r = server.post("/v1/devices", {"id": "TRK-1", "kind": "e-seal", "container": "CSQU3054383"},
                    token=token)
    assert r.status == 201, r
    if with_consignment:
        r = server.post("/v1/consignments", {
            "id": "CONS-1", "containers": ["CSQU3054383"],
            "declarations": declarations or [],
            "route": {"type": "LineString", "coordinates": [[30.0, 0.0], [31.0, 0.0]]},
            "corridor_m": 2000, "origin_zone": "ORIGIN", "destination_zone": "DEST",
            "expected_arrival": "2099-01-01T00:00:00Z"}, token=token)
        assert r.status == 201, r
