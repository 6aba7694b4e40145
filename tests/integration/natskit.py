"""Real NATS servers for the ledger network tests (standard library only).

A Cluster is three `nats-server` processes with JetStream, clustered on
loopback ports, their stores in a temporary directory. Each server can be
killed (SIGKILL) and started again on the same ports and store.

Client is a minimal NATS protocol client (PUB/HPUB over a socket) for what the
tests must do behind a node's back: put a raw message on a stream.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import child_options

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class Cluster:
    """Three nats-server processes with JetStream, clustered on loopback.

    Ports are never guessed: each server binds port 0 (-1 in its config) and
    reports what it got in a ports file; the next one routes to those
    already up. Once all are up, each config is rewritten with the ports it
    got and routes to all, so a killed server comes back where it was."""

    def __init__(self, size=3, name="lnet"):
        self.dir = tempfile.mkdtemp(prefix="customs-nats-")
        self.size = size
        self.name = name
        self.client_ports = [None] * size
        self.route_ports = [None] * size
        self.procs = [None] * size
        self.confs = [os.path.join(self.dir, f"n{i}.conf") for i in range(size)]
        for i in range(size):
            os.makedirs(os.path.join(self.dir, f"s{i}"))
            # a clustered JetStream needs a route configured: the first one
            # gets a placeholder (nothing listens on port 1; it is retried
            # quietly) and the others route to those already up
            self._write_conf(i, -1, -1, [p for p in self.route_ports if p] or [1])
            self.start(i)
            self.client_ports[i], self.route_ports[i] = self._ports(i)
        for i in range(size):
            self._write_conf(i, self.client_ports[i], self.route_ports[i], self.route_ports)
        self.wait_ready()

    def _write_conf(self, i, client, route, routes):
        r = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
        with open(self.confs[i], "w") as f:
            f.write(f"server_name: n{i}\n"
                    f"listen: 127.0.0.1:{client}\n"
                    f"ports_file_dir: \"{self.dir}\"\n"
                    f"jetstream {{ store_dir: \"{os.path.join(self.dir, f's{i}')}\", "
                    f"max_memory_store: 64MB, max_file_store: 2GB }}\n"
                    f"cluster {{ name: {self.name}, listen: 127.0.0.1:{route}, "
                    f"routes: [{r}] }}\n")

    def _ports(self, i, timeout=20):
        path = os.path.join(self.dir, f"nats-server_{self.procs[i].pid}.ports")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with open(path) as f:
                    p = json.load(f)
                return (int(p["nats"][0].rsplit(":", 1)[1]),
                        int(p["cluster"][0].rsplit(":", 1)[1]))
            except (OSError, ValueError, KeyError, IndexError):
                if self.procs[i].poll() is not None:
                    raise AssertionError(f"nats-server n{i} exited:\n" + self.logs())
                time.sleep(0.05)
        raise AssertionError(f"nats-server n{i} reported no ports:\n" + self.logs())

    @property
    def urls(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client_ports)

    def url(self, i):
        return f"nats://127.0.0.1:{self.client_ports[i]}"

    def start(self, i):
        with open(os.path.join(self.dir, f"n{i}.log"), "a") as log:
            self.procs[i] = subprocess.Popen([NATS_SERVER, "-c", self.confs[i]], stdout=log,
                                             stderr=subprocess.STDOUT, **child_options())

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.kill()
            p.wait()
        self.procs[i] = None

    def wait_ready(self, timeout=30):
        """Until JetStream answers with a meta leader (a stream can be made)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            c = None
            try:
                c = Client(self.url(0))
                r = c.request("$JS.API.INFO", b"", timeout=2)
                if r and b'"error"' not in r:
                    return
            except OSError:
                pass
            finally:
                if c:
                    c.close()
            time.sleep(0.2)
        raise AssertionError("the NATS cluster did not form:\n" + self.logs())

    def logs(self):
        out = []
        for i in range(self.size):
            path = os.path.join(self.dir, f"n{i}.log")
            if os.path.exists(path):
                with open(path) as f:
                    out.append(f"--- n{i}\n" + f.read()[-3000:])
        return "\n".join(out)

    def close(self):
        for p in self.procs:
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """Just enough of the NATS protocol to publish and make one request."""

    def __init__(self, url, timeout=5):
        host, port = url.replace("nats://", "").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                          b'"no_responders":true}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass
        self.sid = 0

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _payload(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("connection closed")
            self.buf += data
        p, self.buf = self.buf[:n], self.buf[n + 2:]
        return p

    def request(self, subject, payload, headers=None, timeout=5):
        """Publishes with a reply inbox and returns the reply's payload (None
        on no responders)."""
        self.sid += 1
        inbox = f"_INBOX.customs_test.{os.getpid()}.{self.sid}"
        self.sock.sendall(f"SUB {inbox} {self.sid}\r\n".encode())
        if headers:
            h = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            hb = h.encode()
            self.sock.sendall(f"HPUB {subject} {inbox} {len(hb)} {len(hb) + len(payload)}\r\n"
                              .encode() + hb + payload + b"\r\n")
        else:
            self.sock.sendall(f"PUB {subject} {inbox} {len(payload)}\r\n".encode() + payload +
                              b"\r\n")
        self.sock.settimeout(timeout)
        while True:
            line = self._line()
            if line.startswith(b"MSG "):
                n = int(line.split()[-1])
                return self._payload(n)
            if line.startswith(b"HMSG "):
                parts = line.split()
                hlen, total = int(parts[-2]), int(parts[-1])
                data = self._payload(total)
                if b"503" in data[:hlen]:
                    return None  # no responders
                return data[hlen:]
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")

    def js_publish(self, subject, payload, msg_id=None, headers=None):
        """A JetStream publish: the stream's acknowledgement as a dict."""
        h = dict(headers or {})
        if msg_id:
            h["Nats-Msg-Id"] = msg_id
        r = self.request(subject, payload, h or None)
        return json.loads(r) if r else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
