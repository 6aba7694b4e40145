"""The /v1 declarations API against the real server: every endpoint, every
error status, role isolation, and that a rejected request changes nothing."""
import json
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

from harness import (Response, TempDirTestCase, busy_port, create_key, declaration, run,
                     wait_for)

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


class ApiTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.acme = create_key(self.db, "ACME", "trader")
        self.other = create_key(self.db, "OTHER", "trader")
        self.officer = create_key(self.db, "KCS", "officer")
        self.admin = create_key(self.db, "KCS", "admin")
        self.carrier = create_key(self.db, "MAERSK", "carrier")
        self.bank = create_key(self.db, "BANK1", "bank")
        self.device = create_key(self.db, "MAERSK", "device")
        self.srv = self.serve()

    def count(self):
        con = sqlite3.connect(self.db)
        try:
            return con.execute("SELECT count(*) FROM declarations").fetchone()[0]
        finally:
            con.close()

    def assertError(self, r, status, code, path=None):
        self.assertEqual(r.status, status, r)
        self.assertIn("application/json", r.headers.get("content-type", ""))
        err = r.json["error"]
        self.assertEqual(err["code"], code, r)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        self.assertIsInstance(err["details"], list)
        for d in err["details"]:
            self.assertEqual(set(d) - {"line"}, {"path", "message"})
            self.assertTrue(d["path"] == "" or d["path"].startswith("/"), d)
        if path is not None:
            self.assertIn(path, [d["path"] for d in err["details"]], r)
        return err

    # ---- happy paths -----------------------------------------------------------

    def test_healthz_needs_no_auth(self):
        r = self.srv.get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"status": "ok"})

    def test_create_echoes_every_field(self):
        d = declaration("REF-ECHO", items=3)
        d["items"][0]["description"] = "<img src=x onerror=alert(1)> \u00e9t\u00e9 \U0001F6A2 \"quoted\"\n"
        d["items"][1]["value"] = 0.1
        d["items"][2]["net_mass_kg"] = 0
        d["exporter_id"] = "EXP-9"
        d["courier_id"] = "DHL-KR"
        r = self.srv.post("/v1/declarations", d, token=self.acme)
        self.assertEqual(r.status, 201, r)
        body = r.json
        for k, v in d.items():
            self.assertEqual(body[k], v, k)
        self.assertRegex(body["id"], r"^[0-9A-Z]{26}$")
        self.assertEqual(body["status"], "submitted")
        self.assertEqual(body["org"], "ACME")
        self.assertRegex(body["received_at"], RFC3339_UTC)
        # the server's members; "risk" comes from the risk module (rules lane
        # when no model is active)
        self.assertEqual(set(body) - set(d), {"id", "status", "org", "received_at", "risk"})
        self.assertIn(body["risk"]["lane"], ("green", "yellow", "red"))
        # numbers come back as written, not as 0.10000000000000001
        self.assertIn('"value":0.1,', r.body)
        # GET returns the same object
        g = self.srv.get("/v1/declarations/" + body["id"], token=self.acme)
        self.assertEqual(g.status, 200)
        # risk may since have been raised (the HS check runs after the write)
        self.assertEqual({k: v for k, v in g.json.items() if k != "risk"},
                         {k: v for k, v in body.items() if k != "risk"})

    def test_text_is_echoed_exactly(self):
        d = json.dumps(declaration("EXACT"), indent=1)
        d = d.replace('"value": 18250.75', '"value": 18250.750').replace(
            '"tax_rate": 8', '"tax_rate": 8E0').replace(
            '"Glazed ceramic tiles, lot 0"', '"Glazed \\u0063eramic tiles \\/ lot 0"')
        r = self.srv.post("/v1/declarations", d + "\n\n", token=self.acme)
        self.assertEqual(r.status, 201, r)
        # whitespace between tokens is dropped; lexemes stay as written
        for written in ('"value":18250.750', '"tax_rate":8E0',
                        '"Glazed \\u0063eramic tiles \\/ lot 0"'):
            self.assertIn(written, r.body)
        self.assertNotIn("\n", r.body)
        self.assertEqual(r.json["items"][0]["description"], "Glazed ceramic tiles / lot 0")
        g = self.srv.get("/v1/declarations/" + r.json["id"], token=self.acme)
        # the stored text is the same; only risk may have been raised since
        self.assertEqual(g.body.split(',"risk":')[0], r.body.split(',"risk":')[0])

    def test_padding_does_not_break_listing(self):
        # a megabyte of spaces per declaration is accepted but not stored,
        # and pages stay within their byte budget
        pad = " " * 1000000
        for i in range(12):
            body = json.dumps(declaration(f"PAD-{i}")).replace(",", "," + pad, 1)
            self.assertEqual(self.srv.post("/v1/declarations", body, token=self.acme).status, 201)
        r = self.srv.get("/v1/declarations?limit=1000", token=self.officer)
        self.assertEqual(r.status, 200)
        self.assertLess(len(r.body), 200000)
        self.assertEqual(len(r.json["items"]), 12)

    def test_pages_stop_at_their_byte_budget(self):
        # 40 of the largest declarations (999 items) make ~16 MB: a page of
        # up to 1000 ends early at its 8 MiB budget and the cursor goes on
        c = self.srv.connection()
        for i in range(40):
            d = declaration(f"BIG-{i}", items=999)
            self.assertEqual(self.srv.post("/v1/declarations", d, token=self.acme, conn=c).status,
                             201)
        seen, cursor, pages = 0, None, 0
        while True:
            q = "/v1/declarations?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            r = self.srv.get(q, token=self.officer, conn=c)
            self.assertEqual(r.status, 200)
            self.assertLess(len(r.body), 9 << 20)
            seen += len(r.json["items"])
            pages += 1
            cursor = r.json["next_cursor"]
            if not cursor:
                break
        c.close()
        self.assertEqual(seen, 40)
        self.assertGreaterEqual(pages, 2)

    def test_officer_and_admin_may_declare(self):
        for i, tok in enumerate((self.officer, self.admin)):
            r = self.srv.post("/v1/declarations", declaration(f"OFF-{i}"), token=tok)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["org"], "KCS")

    def test_role_isolation(self):
        a = self.srv.post("/v1/declarations", declaration("ISO-A"), token=self.acme).json
        b = self.srv.post("/v1/declarations", declaration("ISO-B"), token=self.other).json
        # trader B cannot read A's declaration: 404, same as an unknown id
        r = self.srv.get("/v1/declarations/" + a["id"], token=self.other)
        self.assertError(r, 404, "not_found")
        unknown = self.srv.get("/v1/declarations/01ZZZZZZZZZZZZZZZZZZZZZZZZ", token=self.other)
        self.assertEqual(r.body, unknown.body)
        # and cannot list it
        items = self.srv.get("/v1/declarations", token=self.other).json["items"]
        self.assertEqual([x["id"] for x in items], [b["id"]])
        items = self.srv.get("/v1/declarations", token=self.acme).json["items"]
        self.assertEqual([x["id"] for x in items], [a["id"]])
        # customs officers read everything
        items = self.srv.get("/v1/declarations", token=self.officer).json["items"]
        self.assertEqual([x["id"] for x in items], [a["id"], b["id"]])
        self.assertEqual(self.srv.get("/v1/declarations/" + b["id"], token=self.officer).status, 200)

    def test_carrier_bank_device_are_forbidden(self):
        mine = self.srv.post("/v1/declarations", declaration("FORB"), token=self.acme).json
        for tok in (self.carrier, self.bank, self.device):
            self.assertError(self.srv.post("/v1/declarations", declaration("X1"), token=tok),
                             403, "forbidden")
            self.assertError(self.srv.get("/v1/declarations", token=tok), 403, "forbidden")
            self.assertError(self.srv.get("/v1/declarations/" + mine["id"], token=tok),
                             403, "forbidden")
        self.assertEqual(self.count(), 1)

    def test_list_paging_in_arrival_order(self):
        ids = []
        for i in range(7):
            ids.append(self.srv.post("/v1/declarations", declaration(f"PAGE-{i}"),
                                     token=self.acme).json["id"])
        seen, cursor, pages = [], None, 0
        while True:
            q = "/v1/declarations?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = self.srv.get(q, token=self.acme).json
            self.assertEqual(set(page), {"items", "next_cursor"})
            self.assertLessEqual(len(page["items"]), 3)
            seen += [x["id"] for x in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
        self.assertEqual(seen, ids)
        self.assertEqual(pages, 3)
        # default limit is 100, max 1000
        self.assertEqual(len(self.srv.get("/v1/declarations", token=self.acme).json["items"]), 7)
        self.assertEqual(self.srv.get("/v1/declarations?limit=1000", token=self.acme).status, 200)
        for bad in ("0", "1001", "-1", "abc", ""):
            self.assertError(self.srv.get("/v1/declarations?limit=" + bad, token=self.acme),
                             400, "invalid_parameter", "/limit")
        self.assertError(self.srv.get("/v1/declarations?cursor=zz", token=self.acme),
                         400, "invalid_parameter", "/cursor")

    def test_same_reference_other_org_is_fine(self):
        self.assertEqual(self.srv.post("/v1/declarations", declaration("SHARED"),
                                       token=self.acme).status, 201)
        self.assertEqual(self.srv.post("/v1/declarations", declaration("SHARED"),
                                       token=self.other).status, 201)

    # ---- every error status, and nothing written -----------------------------

    def test_invalid_json(self):
        for body in ('{"reference": ', '{"a":1,"a":2}', '{"v":1e999}', '[1,2', 'null x',
                     b'{"r":"\xff"}', '{"r":"\\u0000"}'):
            r = self.srv.post("/v1/declarations", body, token=self.acme)
            err = self.assertError(r, 400, "invalid_json")
            self.assertEqual(len(err["details"]), 1, r)  # says where, even for bad bytes
        self.assertEqual(self.count(), 0)

    def test_invalid_declaration_lists_every_problem(self):
        d = declaration("BAD REF", items=2)
        d["date"] = "2023-02-29"
        d["items"][1]["hs_code"] = "12"
        d["items"][1]["currency"] = "EURO"
        d["containers"] = ["CSQU3054384"]
        d["colour"] = "red"
        del d["office"]
        r = self.srv.post("/v1/declarations", d, token=self.acme)
        err = self.assertError(r, 400, "invalid_declaration")
        paths = sorted(x["path"] for x in err["details"])
        self.assertEqual(paths, sorted(["/reference", "/date", "/items/1/hs_code",
                                        "/items/1/currency", "/containers/0", "/colour",
                                        "/office"]))
        self.assertEqual(self.count(), 0)

    def test_hs_2022_rule_over_http(self):
        d = declaration("HS-OLD", date="2022-01-01")
        d["items"][0]["hs_code"] = "010110"
        self.assertError(self.srv.post("/v1/declarations", d, token=self.acme), 400,
                         "invalid_declaration", "/items/0/hs_code")
        d["date"] = "2021-12-31"
        self.assertEqual(self.srv.post("/v1/declarations", d, token=self.acme).status, 201)

    def test_duplicate_reference(self):
        self.assertEqual(self.srv.post("/v1/declarations", declaration("DUP"),
                                       token=self.acme).status, 201)
        r = self.srv.post("/v1/declarations", declaration("DUP"), token=self.acme)
        self.assertError(r, 409, "duplicate_reference", "/reference")
        self.assertEqual(self.count(), 1)

    def test_unauthorized(self):
        r = self.srv.get("/v1/declarations")
        self.assertError(r, 401, "unauthorized")
        self.assertIn("Bearer", r.headers.get("www-authenticate", ""))
        self.assertError(self.srv.get("/v1/declarations", token="cst_" + "A" * 43), 401,
                         "unauthorized")
        self.assertError(self.srv.get("/v1/declarations", token=self.acme[:-1]), 401,
                         "unauthorized")
        r = self.srv.get("/v1/declarations", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        self.assertError(r, 401, "unauthorized")
        r = self.srv.post("/v1/declarations", declaration("NOAUTH"))
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(self.count(), 0)

    def test_revoked_key_stops_working_at_once(self):
        self.assertEqual(self.srv.get("/v1/declarations", token=self.other).status, 200)
        listing = run("keys", "list", "--db", self.db, "--json").stdout.splitlines()
        key_id = [json.loads(x)["id"] for x in listing if json.loads(x)["org"] == "OTHER"][0]
        run("keys", "revoke", "--db", self.db, str(key_id))
        self.assertError(self.srv.get("/v1/declarations", token=self.other), 401, "unauthorized")

    def test_not_found_and_method_not_allowed(self):
        self.assertError(self.srv.get("/v1/nothing-here", token=self.acme), 404, "not_found")
        self.assertError(self.srv.get("/v1", token=self.acme), 404, "not_found")
        r = self.srv.request("DELETE", "/v1/declarations", token=self.acme)
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(sorted(x.strip() for x in r.headers["allow"].split(",")),
                         ["GET", "POST"])
        r = self.srv.request("PUT", "/v1/declarations/ABC", body="{}", token=self.acme)
        self.assertError(r, 405, "method_not_allowed")

    def curl_post(self, path, data_file, *headers):
        """curl reads a response that arrives before the upload ends; Python's
        http.client does not, so oversize uploads are sent with curl."""
        args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
                "-H", "Authorization: Bearer " + self.acme,
                "-H", "Content-Type: application/json", "--data-binary", "@" + data_file]
        for h in headers:
            args += ["-H", h]
        p = subprocess.run(args + [f"http://127.0.0.1:{self.srv.port}{path}"],
                           capture_output=True, text=True, timeout=60)
        body, _, status = p.stdout.rpartition("\n")
        return Response(int(status), {"content-type": "application/json"}, body)

    def test_payload_too_large(self):
        big = os.path.join(self.tmp, "big.json")
        with open(big, "w") as f:
            f.write(json.dumps(declaration("BIG")).replace(
                '"office"', '"pad":"' + "x" * (1 << 20) + '","office"'))
        # with Content-Length: refused before the body is read
        self.assertError(self.curl_post("/v1/declarations", big, "Expect:"), 413,
                         "payload_too_large")
        # with Expect: 100-continue, as curl sends for big bodies
        self.assertError(self.curl_post("/v1/declarations", big), 413, "payload_too_large")
        # chunked: no length known up front, refused once the cap is passed
        self.assertError(self.curl_post("/v1/declarations", big, "Transfer-Encoding: chunked"),
                         413, "payload_too_large")
        # exactly 1 MiB passes the size check (and is then judged as a declaration)
        r = self.srv.post("/v1/declarations", " " * ((1 << 20) - 2) + "{}", token=self.acme)
        self.assertError(r, 400, "invalid_declaration")
        self.assertEqual(self.count(), 0)

    def test_unsupported_media_type(self):
        for ct in ("text/plain", "application/x-www-form-urlencoded", None):
            r = self.srv.post("/v1/declarations", json.dumps(declaration("CT")),
                              token=self.acme, content_type=ct)
            self.assertError(r, 415, "unsupported_media_type")
        r = self.srv.post("/v1/declarations", json.dumps(declaration("CT")), token=self.acme,
                          content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 201)

    def test_metrics(self):
        self.srv.post("/v1/declarations", declaration("MET-1"), token=self.acme)
        self.srv.post("/v1/declarations", "{", token=self.acme)
        # a request is counted when it completes, just after its reply is sent
        want = 'customs_http_requests_total{method="POST",route="/v1/declarations",status="400"} 1'
        r = wait_for(lambda: self.srv.get("/metrics"), "the 400 to be counted",
                     done=lambda r: want in r.body)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        t = r.body
        self.assertIn('customs_http_requests_total{method="POST",route="/v1/declarations",status="201"} 1', t)
        self.assertIn('customs_http_requests_total{method="POST",route="/v1/declarations",status="400"} 1', t)
        self.assertRegex(t, r'customs_http_request_duration_seconds_bucket\{method="POST",route="/v1/declarations",le="\+Inf"\} 2')
        self.assertIn("customs_declarations_stored 1\n", t)
        self.assertRegex(t, r"customs_store_commit_batch_size_count \d+")
        self.assertIn("# TYPE customs_store_commit_batch_size histogram", t)
        self.assertRegex(t, r"\ncustoms_store_checkpoints_total \d+\n")
        self.assertRegex(t, r"\ncustoms_store_writer_checkpoints_total \d+\n")
        # every sample's family is described (# HELP and # TYPE), as scrapers expect
        typed = {l.split()[2] for l in t.splitlines() if l.startswith("# TYPE ")}
        helped = {l.split()[2] for l in t.splitlines() if l.startswith("# HELP ")}
        for line in t.splitlines():
            if not line or line.startswith("#"):
                continue
            name = line.split("{")[0].split(" ")[0]
            family = next((f for f in (name, name.rsplit("_", 1)[0]) if f in typed), None)
            self.assertIsNotNone(family, "no # TYPE for " + name)
            self.assertIn(family, helped, "no # HELP for " + name)

    def test_store_checkpoint_metrics(self):
        """The checkpointer's counters are on /metrics and move: a reader
        holding one snapshot keeps the WAL from starting again, so writes
        grow it past 1,000 frames (the checkpointer runs) and past 4,000
        (the writer copies the rest itself)."""
        def counters():
            t = self.srv.get("/metrics").body
            return tuple(int(re.search(r"^%s (\d+)$" % n, t, re.M).group(1))
                         for n in ("customs_store_checkpoints_total",
                                   "customs_store_writer_checkpoints_total"))
        self.assertIn("# TYPE customs_store_checkpoints_total counter",
                      self.srv.get("/metrics").body)
        before = counters()
        reader = sqlite3.connect(self.db, isolation_level=None)
        self.addCleanup(reader.close)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM declarations").fetchone()  # the snapshot
        conn = self.srv.connection()
        self.addCleanup(conn.close)
        for i in range(3000):  # a bound, far above what 4,000 frames take
            r = self.srv.post("/v1/declarations", declaration(f"WAL-{i}"), token=self.acme,
                              conn=conn)
            self.assertEqual(r.status, 201, r)
            if i % 50 == 49 and counters()[1] > before[1]:
                break
        wait_for(counters, "both checkpoint counters to move",
                 done=lambda c: c[0] > before[0] and c[1] > before[1])
        reader.execute("COMMIT")

    def test_connections_do_not_leak_resources(self):
        # every connection gets a thread of its own; what the thread opened
        # (its database reader) must close with it
        def fds():
            return len(os.listdir(f"/proc/{self.srv.proc.pid}/fd"))
        for _ in range(5):
            self.srv.get("/v1/declarations?limit=1", token=self.acme)
        time.sleep(0.2)
        before = fds()
        for _ in range(300):
            self.assertEqual(self.srv.get("/v1/declarations?limit=1", token=self.acme).status, 200)
        wait_for(fds, "the connections' descriptors to close", limit=10,
                 done=lambda n: n <= before + 10)

    def test_concurrent_submissions(self):
        ids, errors = [], []
        lock = threading.Lock()

        def worker(n):
            c = self.srv.connection()
            for i in range(25):
                r = self.srv.post("/v1/declarations", declaration(f"CC-{n}-{i}", items=1 + i % 5),
                                  token=self.acme, conn=c)
                with lock:
                    (ids if r.status == 201 else errors).append(r.json.get("id", r.body))
            c.close()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(ids)), 200)
        self.assertEqual(self.count(), 200)


class ConsoleFilesTest(TempDirTestCase):
    def test_static_files_are_confined(self):
        srv = self.serve()
        r = srv.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("script-src 'self'", r.headers["content-security-policy"])
        self.assertNotIn("unsafe-inline", r.headers["content-security-policy"])
        for path in ("/../etc/passwd", "/vendor/../../../etc/passwd", "/%2e%2e/etc/passwd",
                     "/.hidden", "/index.html/", "/nope.html", "/x.exe"):
            r = srv.get(path)
            self.assertEqual(r.status, 404, path)
        # unknown paths with other methods are 404, not 405 from the file route
        self.assertEqual(srv.request("POST", "/nothing", body="{}").status, 404)


class ServerLifecycleTest(TempDirTestCase):
    def test_refuses_port_in_use(self):
        sock, port = busy_port()
        try:
            p = run("serve", "--db", self.db, "--listen", f"127.0.0.1:{port}", check=False,
                    timeout=30)
        finally:
            sock.close()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already in use", p.stderr)

    def test_refuses_bad_database(self):
        p = run("serve", "--db", "/nonexistent/dir/x.db", "--listen", "127.0.0.1:0",
                check=False, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot open database", p.stderr)
        notdb = self.tmp + "/not.db"
        with open(notdb, "w") as f:
            f.write("hello, this is not an SQLite database" * 100)
        p = run("serve", "--db", notdb, "--listen", "127.0.0.1:0", check=False, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(notdb, p.stderr)

    def test_sigterm_finishes_in_flight_and_exits_zero(self):
        tok = create_key(self.db, "ACME", "trader")
        srv = self.serve()
        results = []

        def worker(n):
            c = srv.connection()
            for i in range(200):
                try:
                    r = srv.post("/v1/declarations", declaration(f"T-{n}-{i}"), token=tok, conn=c)
                except (ConnectionError, OSError, Exception):
                    break
                results.append((r.status, r.body))
                if r.status != 201:
                    break
            c.close()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(results), "40 answers before the stop", step=0.005,
                 done=lambda n: n >= 40)
        rc = srv.stop()
        for t in threads:
            t.join()
        self.assertEqual(rc, 0, srv.output())
        log = srv.output()
        self.assertIn("stopped cleanly", log)
        # every 201 is in the database, and nothing else
        ok = [json.loads(b)["id"] for s, b in results if s == 201]
        con = sqlite3.connect(self.db)
        stored = {r[0] for r in con.execute("SELECT id FROM declarations")}
        con.close()
        self.assertEqual(set(ok), stored)
        # late requests got a clean answer (503) or a closed connection, never a 500
        self.assertFalse([s for s, _ in results if s not in (201, 503)])

    def test_access_log_line(self):
        tok = create_key(self.db, "ACME", "trader")
        srv = self.serve("--access-log")
        srv.post("/v1/declarations", declaration("LOG-1"), token=tok)
        srv.stop()
        line = [x for x in srv.output().splitlines() if "POST /v1/declarations" in x][0]
        self.assertRegex(line, r"POST /v1/declarations 201 \d+us ACME$")

    def test_no_access_log_by_default(self):
        # `make run` prints the demo keys: an access log would scroll them away
        tok = create_key(self.db, "ACME", "trader")
        for args in ((), ("--quiet",)):  # --quiet is the default, still accepted
            srv = self.serve(*args)
            self.assertEqual(srv.post("/v1/declarations", declaration("Q-" + str(len(args))),
                                      token=tok).status, 201)
            srv.stop()
            out = srv.output()
            self.assertIn("stopped cleanly", out)
            self.assertNotIn("/v1/declarations", out)

    def test_access_log_cannot_be_forged(self):
        srv = self.serve("--access-log")
        srv.get("/x%0A2026-01-01T00:00:00.000Z%20info%20http%20POST%20/v1/declarations%20201%201us%20ACME")
        srv.stop()
        lines = srv.output().splitlines()
        self.assertFalse([x for x in lines if x.startswith("2026-01-01")], lines)
        self.assertTrue([x for x in lines if "/x%0A2026-01-01" in x], lines)


if __name__ == "__main__":
    unittest.main(verbosity=2)
