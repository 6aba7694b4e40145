"""The HTTP edge (issue 17) against the real binary: strict framing answered
in the platform's JSON, lingering close after an early 413, per-caller
limits answered 429 with Retry-After, timeouts, and floods (slowloris, a
thousand event streams of one key) during which a legitimate client gets
every answer. No timing is asserted: only that answers come, and which."""
import http.client
import json
import os
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BIN, TempDirTestCase, create_key, declaration, wait_for  # noqa: E402


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Sock(socket.socket):
    """A socket that keeps what was read past one response for the next."""
    pending = b""


def connect(port, source="127.0.0.1", timeout=10):
    s = Sock()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_response(s):
    """(status, headers, body) of one response read from socket s; body by
    Content-Length."""
    buf, s.pending = s.pending, b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        body, s.pending = body[:n], body[n:]
    return status, headers, body


def exchange(port, raw, source="127.0.0.1"):
    s = connect(port, source)
    try:
        s.sendall(raw)
        return read_response(s)
    finally:
        s.close()


def eof_follows(s):
    """True when the server closes the connection after its answer."""
    try:
        s.settimeout(5)
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


class EdgeCase(TempDirTestCase):
    def assertJsonError(self, status, headers, body, want_status, code=None):
        self.assertEqual(status, want_status, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        err = json.loads(body)["error"]
        self.assertTrue(err["message"])
        self.assertIsInstance(err["details"], list)
        if code:
            self.assertEqual(err["code"], code, body)
        return err


class FramingTest(EdgeCase):
    """RFC 9112 §6.3: every ambiguous or malformed message is refused, in JSON,
    and the connection is closed so nothing after it is read as a request."""

    def setUp(self):
        super().setUp()
        self.token = create_key(self.db, "ACME", "trader")
        self.srv = self.serve()

    def test_smuggling_and_malformed_heads(self):
        H = b"Host: x\r\n"
        cases = [
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
             400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
             400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Content-Length: 2, 5\r\n\r\n{}", 400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Content-Length: +2\r\n\r\n{}", 400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H +
             b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501,
             "not_implemented"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
             501, "not_implemented"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400,
             "bad_request"),
            (b"GET /healthz HTTP/1.1\nHost: x\n\n", 400, "bad_request"),
            (b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400, "bad_request"),
            (b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n", 400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
             b"ffffffffffffffff\r\n", 413, "payload_too_large"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
             b"10000000000000000\r\n", 413, "payload_too_large"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
             b"2\nab\r\n0\r\n\r\n", 400, "bad_request"),
            (b"POST /osmand HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n",
             413, "payload_too_large"),
            (b"GET /healthz%00x HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
            (b"GET /v1%2fdeclarations HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
            (b"GET /healthz HTTP/2.0\r\n" + H + b"\r\n", 505, "http_version_not_supported"),
            (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_request"),
            (b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, "uri_too_long"),
            (b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: " + b"a" * 65536 + b"\r\n\r\n", 431,
             "header_fields_too_large"),
            (b"GET /healthz HTTP/1.1\r\n" + H + b"Expect: something\r\n\r\n", 417,
             "expectation_failed"),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "bad_request"),
        ]
        for raw, status, code in cases:
            with self.subTest(raw=raw[:60]):
                s = connect(self.srv.port)
                try:
                    s.sendall(raw)
                    st, h, body = read_response(s)
                    self.assertJsonError(st, h, body, status, code)
                    self.assertEqual(h.get("connection"), "close")
                    self.assertTrue(eof_follows(s), raw[:60])
                finally:
                    s.close()

    def test_a_smuggled_request_is_never_answered(self):
        s = connect(self.srv.port)
        s.sendall(b"POST /osmand HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(s)
        self.assertEqual(st, 400)
        self.assertTrue(eof_follows(s))  # the inner GET got no answer
        s.close()

    def test_charset_other_than_utf8_is_refused(self):
        body = json.dumps(declaration("CS-1")).encode()
        for ct, want in (("application/json; charset=iso-8859-1", 415),
                         ("application/json; charset=UTF-16", 415),
                         ("application/json; charset=\"utf-8\"", 201)):
            st, h, b = exchange(self.srv.port, (
                f"POST /v1/declarations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.token}\r\n"
                f"Content-Type: {ct}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
            self.assertEqual(st, want, b)
            if want == 415:
                self.assertJsonError(st, h, b, 415, "unsupported_media_type")
            body = json.dumps(declaration("CS-2")).encode()

    def test_keep_alive_pipelining_and_http10(self):
        s = connect(self.srv.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(2):
            st, h, body = read_response(s)
            self.assertEqual((st, body), (200, b'{"status":"ok"}'))
            self.assertNotIn("connection", h)
        s.close()
        s = connect(self.srv.port)
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        st, h, body = read_response(s)
        self.assertEqual(st, 200)
        self.assertTrue(eof_follows(s))
        s.close()
        # a chunked body with an extension and a trailer is read whole
        s = connect(self.srv.port)
        s.sendall(b"POST /osmand HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                  b"\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nid=NO\r\n0\r\nX-T: 1\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(s)
        self.assertNotEqual(st // 100, 5, body)
        st, h, body = read_response(s)
        self.assertEqual(st, 200)
        s.close()


class EarlyAnswerTest(EdgeCase):
    """A body over the limit is refused before it is read, and the client that
    sends it all first (Python's http.client) still reads the 413."""

    def make_cert(self):
        key, cert = os.path.join(self.tmp, "key.pem"), os.path.join(self.tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        return cert, key

    def post_big(self, srv, token, chunked=False):
        c = srv.connection(timeout=30)
        big = b"{" + b" " * (3 << 20) + b"}"
        h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        try:
            if chunked:
                c.request("POST", "/v1/declarations", body=iter([big[i:i + 65536] for i in
                                                                 range(0, len(big), 65536)]),
                          headers=h, encode_chunked=True)
            else:
                c.request("POST", "/v1/declarations", body=big, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_413_is_read_by_a_client_that_sends_everything_first(self):
        token = create_key(self.db, "ACME", "trader")
        srv = self.serve()
        for chunked in (False, True):
            st, h, body = self.post_big(srv, token, chunked)
            self.assertJsonError(st, h, body, 413, "payload_too_large")
        # and over TLS
        cert, key = self.make_cert()
        tls = self.serve("--tls-cert", cert, "--tls-key", key, tls=cert)
        st, h, body = self.post_big(tls, token)
        self.assertJsonError(st, h, body, 413, "payload_too_large")
        self.assertEqual(tls.get("/healthz").status, 200)


class LimitsTest(EdgeCase):
    def test_a_client_that_waits_for_each_answer_is_never_refused(self):
        # One request in flight per key: a client that sends its next request
        # only after reading the last answer whole never has two, so it must
        # never hear 429 (the slot is given back before the answer is sent).
        acme = create_key(self.db, "ACME", "trader")
        srv = self.serve("--max-inflight-per-key", "1")
        raw = (f"GET /v1/declarations?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {acme}"
               "\r\n\r\n").encode()
        statuses = [exchange(srv.port, raw)[0] for _ in range(300)]
        self.assertEqual(statuses, [200] * 300)
        s = connect(srv.port)  # and on one kept-alive connection
        try:
            for _ in range(100):
                s.sendall(raw)
                st, _, body = read_response(s)
                self.assertEqual(st, 200, body)
        finally:
            s.close()

    def test_limits_answer_429_with_retry_after(self):
        officer = create_key(self.db, "KCS", "officer")
        acme = create_key(self.db, "ACME", "trader")
        srv = self.serve("--max-conns-per-ip", "8", "--anon-rate", "5", "--anon-burst", "5",
                         "--max-inflight-per-key", "2", "--max-streams-per-key", "2",
                         "--max-streams-per-org", "3")
        # connections per address: the ninth from 127.0.0.4 is told why
        held = [connect(srv.port, "127.0.0.4") for _ in range(8)]
        s = connect(srv.port, "127.0.0.4")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(s)
        self.assertJsonError(st, h, body, 429, "too_many_requests")
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        s.close()
        self.assertEqual(srv.get("/healthz").status, 200)  # another address is served
        for c in held:
            c.close()
        # requests without a key, per address: a bucket of 5
        answers = [exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.5")
                   for _ in range(7)]
        self.assertEqual([a[0] for a in answers[:5]], [200] * 5)
        st, h, body = answers[6]
        self.assertJsonError(st, h, body, 429, "too_many_requests")
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        st, h, body = exchange(srv.port, ("GET /v1/declarations HTTP/1.1\r\nHost: x\r\n"
                                          f"Authorization: Bearer {acme}\r\n\r\n").encode(),
                               "127.0.0.5")
        self.assertEqual(st, 200, body)  # a caller with a key is not in that bucket
        # requests in flight per key: two uploads still arriving hold both (each
        # is told "100 Continue" once its token is checked and counted)
        slow = []
        for _ in range(2):
            u = connect(srv.port)
            u.sendall(("POST /v1/declarations HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {acme}\r\nContent-Type: application/json\r\n"
                       "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
            self.assertEqual(u.recv(25), b"HTTP/1.1 100 Continue\r\n\r\n")
            u.sendall(b"1\r\n{\r\n")
            slow.append(u)
        r = srv.get("/v1/declarations", token=acme)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json["error"]["code"], "too_many_requests")
        self.assertIn("retry-after", r.headers)
        self.assertEqual(srv.get("/v1/declarations", token=officer).status, 200)
        for u in slow:
            u.sendall(b"1\r\n}\r\n0\r\n\r\n")
            st, h, body = read_response(u)
            self.assertEqual(st, 400, body)  # "{}" is read whole and judged
            u.close()
        self.assertEqual(srv.get("/v1/declarations", token=acme).status, 200)
        # event streams per key (2) and per organisation (3)
        k2 = create_key(self.db, "KCS", "officer")
        streams = []
        for tok, want in ((officer, 200), (officer, 200), (officer, 429), (k2, 200), (k2, 429)):
            s = connect(srv.port)
            s.sendall((f"GET /v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}"
                       "\r\n\r\n").encode())
            st, h, body = read_response(s) if want == 429 else (None, None, None)
            if want == 429:
                err = self.assertJsonError(st, h, body, 429, "too_many_requests")
                self.assertIn("retry-after", h)
                self.assertIn("key" if tok == officer else "organisation", err["message"])
                s.close()
            else:
                s.settimeout(10)
                self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200 "))
                streams.append(s)
        for s in streams:
            s.close()

    def test_server_wide_connection_cap_answers_503(self):
        srv = self.serve("--max-connections", "16")
        held = [connect(srv.port, f"127.0.1.{i + 1}") for i in range(16)]
        for h in held:  # each is open on the server side once it answers
            h.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_response(h)[0], 200)
        s = connect(srv.port, "127.0.1.99")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(s)
        self.assertJsonError(st, h, body, 503, "unavailable")
        self.assertEqual(h["retry-after"], "1")
        s.close()
        held.pop().close()
        # the slot frees once the server sees the close
        wait_for(lambda: exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                  "127.0.1.99")[0], "the freed slot to answer 200",
                 limit=10, done=lambda st: st == 200)
        for h in held:
            h.close()

    def test_metrics_token(self):
        tok = os.path.join(self.tmp, "metrics.token")
        with open(tok, "w") as f:
            f.write("s3cret-metrics-token-0123456789\n")
        os.chmod(tok, 0o644)
        p = subprocess.run([BIN, "serve", "--db", self.db,
                            "--listen", "127.0.0.1:0", "--metrics-token-file", tok],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("chmod 600", p.stderr)
        os.chmod(tok, 0o600)
        srv = self.serve("--metrics-token-file", tok)
        r = srv.get("/metrics")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["error"]["code"], "unauthorized")
        self.assertEqual(srv.get("/metrics", token="s3cret-metrics-token-012345678").status, 401)
        r = srv.get("/metrics", token="s3cret-metrics-token-0123456789")
        self.assertEqual(r.status, 200)
        self.assertIn("customs_http_connections ", r.body)
        self.assertEqual(srv.get("/healthz").status, 200)


class TimeoutsTest(EdgeCase):
    def test_slow_heads_bodies_and_idle_connections(self):
        srv = self.serve("--header-timeout", "1", "--body-timeout", "1", "--body-min-rate",
                         "1000", "--idle-timeout", "1")
        s = connect(srv.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        st, h, body = read_response(s)
        self.assertJsonError(st, h, body, 408, "request_timeout")
        self.assertTrue(eof_follows(s))
        s.close()
        s = connect(srv.port)
        s.sendall(b"POST /osmand HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nid=1")
        st, h, body = read_response(s)
        self.assertJsonError(st, h, body, 408, "request_timeout")
        s.close()
        s = connect(srv.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(s)[0], 200)
        self.assertTrue(eof_follows(s))  # idle keep-alive closed quietly
        s.close()


class FloodTest(EdgeCase):
    """Issue 17, finding 1: 2,000 slowloris connections and 1,000 event
    streams of one key, while a legitimate client must get every answer."""

    SLOW = 2000
    STREAMS = 1000

    def test_legitimate_client_is_served_through_floods(self):
        self.assertGreaterEqual(raise_nofile(self.SLOW + self.STREAMS + 512),
                                self.SLOW + self.STREAMS + 256, "RLIMIT_NOFILE's hard limit")
        officer = create_key(self.db, "KCS", "officer")
        acme = create_key(self.db, "ACME", "trader")
        carrier = create_key(self.db, "MAERSK", "carrier")
        srv = self.serve("--quiet")
        stop = threading.Event()
        slow_stats = {"opened": 0, "answered": {}, "errors": 0}

        def slowloris():
            """A header line every 3 s on each connection, from 127.0.0.2 and .3."""
            sel = selectors.DefaultSelector()
            socks = []
            for i in range(self.SLOW):
                s = socket.socket()
                s.setblocking(True)
                s.bind((f"127.0.0.{2 + i % 2}", 0))
                s.connect(("127.0.0.1", srv.port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                socks.append(s)
            slow_stats["opened"] = len(socks)
            n = 0
            while not stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if data.startswith(b"HTTP/1.1 "):
                        code = data[9:12].decode()
                        slow_stats["answered"][code] = slow_stats["answered"].get(code, 0) + 1
                    sel.unregister(key.fileobj)
                n += 1
                if n % 30 == 0:  # every 3 s
                    for s in socks:
                        try:
                            s.send(b"X-Slow: 1\r\n")
                        except OSError:
                            pass
            for s in socks:
                s.close()

        t = threading.Thread(target=slowloris)
        t.start()
        # a thousand event streams of one carrier key
        streams, statuses = [], {}
        for _ in range(self.STREAMS):
            s = connect(srv.port)
            s.sendall((f"GET /v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                       f"{carrier}\r\n\r\n").encode())
            streams.append(s)
        for s in streams:
            line = b""
            while not line.endswith(b"\r\n"):
                b = s.recv(1)
                if not b:
                    break
                line += b
            code = line[9:12].decode()
            statuses[code] = statuses.get(code, 0) + 1
        self.assertEqual(statuses, {"200": 32, "429": self.STREAMS - 32})
        # the legitimate client: every request answered, none reset or timed out
        served, n = 0, 0
        legit = srv.connection(timeout=10)
        own = srv.connection(timeout=10)
        own.request("GET", "/v1/alerts/stream", headers={"Authorization": "Bearer " + officer})
        self.assertEqual(own.getresponse().status, 200)
        deadline = time.time() + 12  # past the 10 s header timeout of the slow ones
        while time.time() < deadline or not slow_stats["answered"]:
            n += 1
            r = srv.get("/healthz", conn=legit)
            self.assertEqual(r.status, 200, r)
            r = srv.post("/v1/declarations", declaration(f"FLOOD-{n}"), token=acme)
            self.assertEqual(r.status, 201, r)
            r = srv.get("/v1/declarations?limit=5", token=acme, conn=legit)
            self.assertEqual(r.status, 200, r)
            served += 3
            time.sleep(0.05)
            if time.time() > deadline + 20:
                break
        stop.set()
        t.join()
        legit.close()
        own.close()
        for s in streams:
            s.close()
        self.assertEqual(slow_stats["opened"], self.SLOW)
        self.assertGreater(served, 30)
        # the slow ones were told "408" once their 10 s were up
        self.assertGreater(slow_stats["answered"].get("408", 0), 0, slow_stats)
        self.assertEqual(set(slow_stats["answered"]), {"408"}, slow_stats)
        m = dict(line.rsplit(" ", 1) for line in srv.get("/metrics").body.splitlines()
                 if line.startswith("customs_http_refused_total"))
        # 968 refused: over the key's 32 streams, or (while a thousand arrive at
        # once) over its 256 requests in flight
        refused = (int(m['customs_http_refused_total{reason="streams"}']) +
                   int(m['customs_http_refused_total{reason="inflight_per_key"}']))
        self.assertEqual(refused, self.STREAMS - 32, m)


if __name__ == "__main__":
    unittest.main(verbosity=2)
