"""X-ray scans over the API: scanners and their device keys, uploads and
their refusals, content-addressed storage, renderings, the link to
declarations (lane raise, release gate, "xray" member), region outcomes and
the quality they measure."""
import base64
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import harness
from harness import Server, create_key, declaration, key_id, run

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_size(data):
    assert data[:8] == PNG_SIG, data[:16]
    return struct.unpack(">II", data[16:24])


class XrayApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="customs-xray-")
        cls.db = os.path.join(cls.tmp, "customs.db")
        cls.scans = os.path.join(cls.tmp, "scans")
        run("xray", "simulate", "--seed", "5", "--n", "3", "--out", cls.scans,
            "--kinds", "empty,empty_block,loaded", "--pixel-mm", "12", "--container", "20ft")
        cls.truth = json.load(open(os.path.join(cls.scans, "truth.json")))["scans"]
        cls.admin = create_key(cls.db, "CUSTOMS", "admin", "admin")
        cls.officer = create_key(cls.db, "CUSTOMS", "officer", "officer")
        cls.trader = create_key(cls.db, "ACME", "trader", "trader")
        cls.device = create_key(cls.db, "CUSTOMS", "device", "gate-3")
        cls.device2 = create_key(cls.db, "CUSTOMS", "device", "spare")
        cls.device_id = key_id(cls.db, "gate-3")
        cls.srv = Server(cls.db)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers --------------------------------------------------------------------------
    def assertError(self, r, status, code, path=None):
        self.assertEqual(r.status, status, r)
        err = r.json["error"]
        self.assertEqual(err["code"], code, r)
        for d in err["details"] or []:
            self.assertEqual(set(d), {"path", "message"})
        if path is not None:
            self.assertIn(path, [d["path"] for d in err["details"]], r)

    def scan(self, i, **meta_over):
        t = self.truth[i]
        with open(os.path.join(self.scans, t["file"]), "rb") as f:
            img = f.read()
        meta = json.load(open(os.path.join(self.scans, t["scan_id"] + ".json")))
        meta.update(meta_over)
        for k in [k for k, v in meta_over.items() if v is None]:
            del meta[k]
        return {"meta": meta, "image_base64": base64.b64encode(img).decode()}

    def multipart(self, parts):
        """A multipart/form-data body of (name, filename or None, bytes)."""
        b = "customs-xray-boundary-7f3a"
        out = bytearray()
        for name, filename, data in parts:
            disp = 'form-data; name="%s"' % name
            if filename:
                disp += '; filename="%s"' % filename
            out += ("--%s\r\nContent-Disposition: %s\r\n\r\n" % (b, disp)).encode()
            out += data + b"\r\n"
        out += ("--%s--\r\n" % b).encode()
        return bytes(out), "multipart/form-data; boundary=" + b

    def post_multipart(self, parts, token, path="/v1/xray/scans"):
        body, ctype = self.multipart(parts)
        return self.srv.request("POST", path, body=body, token=token, content_type=ctype)

    def ensure_scanner(self):
        r = self.srv.post("/v1/xray/scanners", {"id": "SIM-SCANNER-3", "name": "Gate 3 portal",
                                                "site": "KRPUS", "key_id": self.device_id},
                          token=self.admin)
        self.assertIn(r.status, (201, 409), r)

    # ---- scanners -------------------------------------------------------------------------
    def test_scanners(self):
        self.ensure_scanner()
        r = self.srv.post("/v1/xray/scanners", {"id": "SIM-SCANNER-3", "name": "x", "site": "y"},
                          token=self.admin)
        self.assertError(r, 409, "duplicate_scanner", "/id")
        r = self.srv.post("/v1/xray/scanners", {"id": "OTHER", "name": "x", "site": "y",
                                                "key_id": self.device_id}, token=self.admin)
        self.assertError(r, 409, "key_in_use", "/key_id")
        r = self.srv.post("/v1/xray/scanners", {"id": "bad id", "name": "", "site": "KRPUS",
                                                "key_id": 999, "colour": "red"},
                          token=self.officer)
        self.assertError(r, 400, "invalid_scanner")
        paths = {d["path"] for d in r.json["error"]["details"]}
        self.assertEqual(paths, {"/id", "/name", "/key_id", "/colour"})
        r = self.srv.post("/v1/xray/scanners", {"id": "T", "name": "x", "site": "y"},
                          token=self.trader)
        self.assertError(r, 403, "forbidden")
        r = self.srv.get("/v1/xray/scanners", token=self.officer)
        self.assertEqual(r.status, 200, r)
        sc = [s for s in r.json["items"] if s["id"] == "SIM-SCANNER-3"][0]
        self.assertEqual(sc["key_id"], self.device_id)
        self.assertError(self.srv.get("/v1/xray/scanners", token=self.trader), 403, "forbidden")

    # ---- uploads ---------------------------------------------------------------------------
    def test_upload_analysis_and_idempotence(self):
        self.ensure_scanner()
        body = self.scan(0, scan_id="E-UP-1")
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertEqual(r.status, 201, r)
        s = r.json
        self.assertEqual(s["id"], "E-UP-1")
        self.assertRegex(s["sha256"], "^[0-9a-f]{64}$")
        a = s["analysis"]
        self.assertEqual(set(a), {"scan_id", "empty", "empty_score", "regions",
                                  "observed_mass_kg", "declared_mass_kg", "mass_ratio",
                                  "findings"})
        self.assertTrue(a["empty"], a)
        self.assertGreater(a["empty_score"], 0.5)
        self.assertEqual(s["image_url"], "/v1/xray/scans/E-UP-1/image.png")
        # the very same upload again: 200 and nothing new
        r2 = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json["received_at"], s["received_at"])
        # the same id with other content: never changed
        other = self.scan(2, scan_id="E-UP-1")
        self.assertError(self.srv.post("/v1/xray/scans", other, token=self.officer), 409,
                         "duplicate_scan", "/meta/scan_id")
        # the same bytes under another id share the stored file
        r3 = self.srv.post("/v1/xray/scans", self.scan(0, scan_id="E-UP-2"), token=self.admin)
        self.assertEqual(r3.status, 201, r3)
        self.assertEqual(r3.json["sha256"], s["sha256"])
        blobs = os.path.join(self.db + ".xray", s["sha256"][:2])
        self.assertEqual(os.listdir(blobs), [s["sha256"][2:]])

    def test_bad_uploads_store_nothing(self):
        self.ensure_scanner()
        body = self.scan(0, scan_id="BAD-1", pixel_mm_x=0, orientation="doors_up",
                         container="ABCU1234567", time="yesterday")
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertError(r, 400, "invalid_scan")
        self.assertEqual({d["path"] for d in r.json["error"]["details"]},
                         {"/meta/pixel_mm_x", "/meta/orientation", "/meta/container",
                          "/meta/time"})
        body = self.scan(0, scan_id="BAD-2", colour="red")
        self.assertError(self.srv.post("/v1/xray/scans", body, token=self.officer), 400,
                         "invalid_scan", "/meta/colour")
        body = self.scan(0, scan_id="BAD-3")
        body["image_base64"] = "not base64!"
        self.assertError(self.srv.post("/v1/xray/scans", body, token=self.officer), 400,
                         "invalid_scan", "/image_base64")
        body = self.scan(0, scan_id="BAD-4")
        raw = base64.b64decode(body["image_base64"])
        body["image_base64"] = base64.b64encode(raw[:len(raw) // 2]).decode()
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertError(r, 400, "invalid_image", "/image_base64")
        self.assertIn("truncated", r.json["error"]["details"][0]["message"])
        body = self.scan(0, scan_id="BAD-5", scanner="NOT-REGISTERED")
        self.assertError(self.srv.post("/v1/xray/scans", body, token=self.officer), 400,
                         "invalid_scan", "/meta/scanner")
        body = self.scan(0, scan_id="BAD-6")
        body["extra"] = 1
        self.assertError(self.srv.post("/v1/xray/scans", body, token=self.officer), 400,
                         "invalid_scan", "/extra")
        self.assertError(self.srv.post("/v1/xray/scans", self.scan(0, scan_id="BAD-7"),
                                       token=self.trader), 403, "forbidden")
        for sid in ("BAD-1", "BAD-2", "BAD-3", "BAD-4", "BAD-5", "BAD-6", "BAD-7"):
            self.assertEqual(self.srv.get("/v1/xray/scans/" + sid, token=self.officer).status,
                             404)

    def test_multipart_upload_of_a_full_resolution_scan(self):
        self.ensure_scanner()
        # 4 mm pixels: a scan well over the 1 MiB every other route keeps
        big = os.path.join(self.tmp, "big")
        run("xray", "simulate", "--seed", "6", "--n", "1", "--out", big, "--kinds", "dense_block",
            "--pixel-mm", "4", "--container", "20ft")
        t = json.load(open(os.path.join(big, "truth.json")))["scans"][0]
        with open(os.path.join(big, t["file"]), "rb") as f:
            img = f.read()
        self.assertGreater(len(img), 1 << 20)
        with open(os.path.join(big, t["scan_id"] + ".json")) as f:
            meta = json.load(f)
        meta["scanner"] = "SIM-SCANNER-3"
        with open(os.path.join(big, t["scan_id"] + ".json"), "w") as f:
            json.dump(meta, f)
        meta = json.dumps(meta).encode()
        r = self.post_multipart([("meta", None, meta), ("image", t["file"], img)], self.officer)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["bytes"], len(img))
        self.assertEqual(r.json["width"], png_size(img)[0])
        want = json.loads(run("xray", "analyze", os.path.join(big, t["file"]), "--meta",
                              os.path.join(big, t["scan_id"] + ".json"), "--json").stdout)
        self.assertEqual(r.json["analysis"], want)
        # refusals name the part, and store nothing
        m2 = json.loads(meta)
        m2["scan_id"] = "MP-BAD-1"
        m2 = json.dumps(m2).encode()
        r = self.post_multipart([("meta", None, m2)], self.officer)
        self.assertError(r, 400, "invalid_scan", "/image")
        r = self.post_multipart([("meta", None, m2), ("image", "a.png", img[:4096]),
                                 ("colour", None, b"red")], self.officer)
        self.assertError(r, 400, "invalid_scan", "/colour")
        r = self.post_multipart([("meta", None, b"{not json"), ("image", "a.png", img)],
                                self.officer)
        self.assertError(r, 400, "invalid_scan", "/meta")
        r = self.post_multipart([("meta", None, m2), ("image", "a.png", img[:len(img) // 2])],
                                self.officer)
        self.assertError(r, 400, "invalid_image", "/image")
        r = self.post_multipart([("meta", None, m2), ("image", "a.png", img)], self.officer,
                                path="/v1/xray/scans?force=1")
        self.assertError(r, 400, "invalid_parameter", "/force")
        r = self.srv.request("POST", "/v1/xray/scans", body=img, token=self.officer,
                             content_type="image/png")
        self.assertEqual(r.status, 415, r)
        self.assertEqual(self.srv.get("/v1/xray/scans/MP-BAD-1", token=self.officer).status, 404)
        # a JSON upload is for small scans: the limit says how to send a big one
        big_json = json.dumps({"meta": json.loads(m2),
                               "image_base64": "A" * (17 << 20)})
        r = self.srv.post("/v1/xray/scans", big_json, token=self.officer)
        self.assertError(r, 413, "payload_too_large")
        self.assertIn("multipart", r.json["error"]["message"])

    def test_demo_step(self):
        """make run's X-ray step (scripts/demo.d/50-xray) against this server:
        three scans, each on a declaration of its own; the concealment raises
        its declaration to red, alerts, and gates its release."""
        var = os.path.join(self.tmp, "demo-var")
        os.makedirs(var)
        env = dict(os.environ, DEMO_VAR=var, OFFICER=self.officer, TRADER=self.trader)
        step = os.path.join(harness.SOURCE, "scripts", "demo.d", "50-xray")
        p = subprocess.run([step, "live", self.db, harness.BIN, "127.0.0.1:%d" % self.srv.port],
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 3, p.stdout)
        self.assertTrue(lines[0].endswith(": no finding"), lines[0])
        self.assertIn("anomaly", lines[1])
        self.assertTrue(lines[2].endswith(": no finding"), lines[2])
        scans = self.srv.get("/v1/xray/scans?scanner=KRPUS-GATE-2", token=self.officer).json
        self.assertEqual(len(scans["items"]), 3, scans)
        hidden = [s for s in scans["items"] if s["id"] == "SIM-2026-000001"][0]
        d = self.srv.get("/v1/declarations/" + hidden["declaration"], token=self.officer).json
        self.assertEqual(d["risk"]["lane"], "red")
        self.assertGreaterEqual(d["xray"][0]["flagged"], 1)
        r = self.srv.get("/v1/alerts?subject=scan&type=xray_anomaly", token=self.officer)
        self.assertIn("SIM-2026-000001", [a["subject"]["id"] for a in r.json["items"]])

    def test_device_keys_post_as_their_scanner_only(self):
        self.ensure_scanner()
        r = self.srv.post("/v1/xray/scans", self.scan(0, scan_id="DEV-1"), token=self.device)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["by"]["role"], "device")
        r = self.srv.post("/v1/xray/scanners", {"id": "GATE-9", "name": "Gate 9", "site": "KRPUS"},
                          token=self.admin)
        self.assertIn(r.status, (201, 409))
        body = self.scan(0, scan_id="DEV-2", scanner="GATE-9")
        self.assertError(self.srv.post("/v1/xray/scans", body, token=self.device), 403,
                         "forbidden", "/meta/scanner")
        self.assertError(self.srv.post("/v1/xray/scans", self.scan(0, scan_id="DEV-3"),
                                       token=self.device2), 403, "forbidden")
        # device keys post, they do not read
        self.assertError(self.srv.get("/v1/xray/scans/DEV-1", token=self.device), 403,
                         "forbidden")

    # ---- reading ---------------------------------------------------------------------------
    def test_list_get_and_renderings(self):
        self.ensure_scanner()
        body = self.scan(1, scan_id="R-1")
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertEqual(r.status, 201, r)
        self.assertFalse(r.json["analysis"]["empty"], r.json["analysis"])
        self.assertGreaterEqual(len(r.json["analysis"]["regions"]), 1)
        container = body["meta"]["container"]
        r = self.srv.get("/v1/xray/scans?container=" + container, token=self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertIn("R-1", [s["id"] for s in r.json["items"]])
        self.assertTrue(all(s["container"] == container for s in r.json["items"]))
        r = self.srv.get("/v1/xray/scans?limit=1", token=self.officer)
        self.assertEqual(len(r.json["items"]), 1)
        if r.json["next_cursor"]:
            r2 = self.srv.get("/v1/xray/scans?limit=1&cursor=" + r.json["next_cursor"],
                              token=self.officer)
            self.assertNotEqual(r2.json["items"][0]["id"], r.json["items"][0]["id"])
        self.assertError(self.srv.get("/v1/xray/scans?colour=red", token=self.officer), 400,
                         "invalid_parameter", "/colour")
        self.assertError(self.srv.get("/v1/xray/scans?container=ABCU1234567",
                                      token=self.officer), 400, "invalid_parameter",
                         "/container")
        self.assertError(self.srv.get("/v1/xray/scans?limit=0", token=self.officer), 400,
                         "invalid_parameter", "/limit")
        self.assertError(self.srv.get("/v1/xray/scans", token=self.trader), 403, "forbidden")
        self.assertError(self.srv.get("/v1/xray/scans/NOPE", token=self.officer), 404,
                         "not_found")
        s = self.srv.get("/v1/xray/scans/R-1", token=self.officer).json
        for kind in ("image", "overlay"):
            c = self.srv.connection()
            c.request("GET", s[kind + "_url"], headers={"Authorization": "Bearer " + self.officer})
            resp = c.getresponse()
            data = resp.read()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("Content-Type"), "image/png")
            self.assertEqual(png_size(data), (s["width"], s["height"]))
            etag = resp.getheader("ETag")
            c.request("GET", s[kind + "_url"], headers={"Authorization": "Bearer " + self.officer,
                                                         "If-None-Match": etag})
            resp = c.getresponse()
            resp.read()
            self.assertEqual(resp.status, 304)
            c.close()
        # the overlay draws the regions: it differs from the plain rendering
        img = self.srv.get(s["image_url"], token=self.officer)
        ovl = self.srv.get(s["overlay_url"], token=self.officer)
        self.assertNotEqual(img.body, ovl.body)

    # ---- declarations ----------------------------------------------------------------------
    def declare(self, reference, container, items=None):
        d = declaration(reference, containers=[container])
        if items:
            d["items"] = items
        r = self.srv.post("/v1/declarations", d, token=self.trader)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def test_empty_declared_container_with_a_block_goes_red(self):
        self.ensure_scanner()
        body = self.scan(1, scan_id="D-EMPTY-1")
        container = body["meta"]["container"]
        did = self.declare("XR-EMPTY-1", container, items=[
            {"hs_code": "860900", "description": "the container itself, empty",
             "country_of_origin": "CN", "net_mass_kg": 0, "value": 0, "currency": "USD"}])
        body["meta"]["declaration"] = did
        body["meta"].pop("declared_empty", None)
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertEqual(r.status, 201, r)
        rules = [f["rule"] for f in r.json["analysis"]["findings"]]
        self.assertIn("empty_check_failed", rules)
        d = self.srv.get("/v1/declarations/" + did, token=self.officer).json
        self.assertEqual(d["risk"]["lane"], "red")
        features = [x["feature"] for x in d["risk"]["reasons"]]
        self.assertIn("xray.empty_check_failed", features)
        self.assertEqual(d["xray"][0]["id"], "D-EMPTY-1")
        self.assertIn("empty_check_failed", d["xray"][0]["findings"])
        # the finding is an alert on the scan, stored with it
        r = self.srv.get("/v1/alerts?subject=scan&type=xray_empty_check_failed",
                         token=self.officer)
        self.assertEqual(r.status, 200, r)
        mine = [a for a in r.json["items"] if a["subject"]["id"] == "D-EMPTY-1"]
        self.assertEqual(len(mine), 1, r)
        self.assertEqual(mine[0]["severity"], "critical")
        self.assertEqual(mine[0]["container"], container)
        self.assertEqual(mine[0]["declarations"], [did])
        # release waits for every flagged region's outcome (and the inspection)
        self.srv.post("/v1/declarations/%s/inspection" % did, {"result": "fraud"},
                      token=self.officer)
        r = self.srv.post("/v1/declarations/%s/decision" % did, {"decision": "release"},
                          token=self.officer)
        self.assertError(r, 409, "xray_outcomes_missing", "/decision")
        self.assertIn("D-EMPTY-1", r.json["error"]["details"][0]["message"])
        flagged = d["xray"][0]["flagged"]
        self.assertGreaterEqual(flagged, 1)
        for n in range(1, flagged + 1):
            r = self.srv.post("/v1/xray/scans/D-EMPTY-1/regions/%d/outcome" % n,
                              {"found": True, "note": "cannabis under a tarpaulin"},
                              token=self.officer)
            self.assertEqual(r.status, 201, r)
        r = self.srv.post("/v1/declarations/%s/decision" % did, {"decision": "release"},
                          token=self.officer)
        self.assertEqual(r.status, 200, r)

    def test_mass_mismatch_and_declaration_checks(self):
        self.ensure_scanner()
        body = self.scan(2, scan_id="D-MASS-1")
        container = body["meta"]["container"]
        true_kg = self.truth[2]["true_mass_kg"]
        did = self.declare("XR-MASS-1", container, items=[
            {"hs_code": "610910", "description": "T-shirts", "country_of_origin": "BD",
             "net_mass_kg": round(true_kg / 3), "gross_mass_kg": round(true_kg / 3),
             "value": 5000, "currency": "USD"}])
        body["meta"]["declaration"] = did
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertEqual(r.status, 201, r)
        a = r.json["analysis"]
        self.assertAlmostEqual(a["declared_mass_kg"], round(true_kg / 3), delta=1)
        self.assertGreater(a["mass_ratio"], 2)
        self.assertIn("mass_mismatch", [f["rule"] for f in a["findings"]])
        d = self.srv.get("/v1/declarations/" + did, token=self.officer).json
        self.assertEqual(d["risk"]["lane"], "red")
        self.assertIn("xray.mass_mismatch", [x["feature"] for x in d["risk"]["reasons"]])
        # a declaration that does not list the container, an unknown one
        other = self.declare("XR-MASS-2", "CSQU3054383")
        body = self.scan(2, scan_id="D-MASS-2", declaration=other)
        r = self.srv.post("/v1/xray/scans", body, token=self.officer)
        self.assertError(r, 400, "invalid_scan", "/meta/declaration")
        self.assertIn("does not list", r.json["error"]["details"][0]["message"])
        body = self.scan(2, scan_id="D-MASS-3", declaration="01NOSUCHDECLARATION0000000")
        self.assertError(self.srv.post("/v1/xray/scans", body, token=self.officer), 400,
                         "invalid_scan", "/meta/declaration")
        r = self.srv.get("/v1/xray/scans?declaration=" + did, token=self.officer)
        self.assertEqual([s["id"] for s in r.json["items"]], ["D-MASS-1"])

    # ---- outcomes and quality --------------------------------------------------------------
    def test_outcomes_and_quality(self):
        self.ensure_scanner()
        r = self.srv.post("/v1/xray/scans", self.scan(1, scan_id="Q-1"), token=self.officer)
        self.assertEqual(r.status, 201, r)
        kind = r.json["analysis"]["regions"][0]["kind"]
        before = self.srv.get("/v1/xray/quality", token=self.officer).json
        url = "/v1/xray/scans/Q-1/regions/%d/outcome"
        r = self.srv.post(url % 1, {"found": False, "note": "tiles, as declared"},
                          token=self.officer)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["kind"], kind)
        self.assertError(self.srv.post(url % 1, {"found": True}, token=self.officer), 409,
                         "outcome_recorded")
        self.assertError(self.srv.post(url % 0, {"found": True}, token=self.officer), 404,
                         "not_found")
        self.assertError(self.srv.post(url % 99, {"found": True}, token=self.officer), 404,
                         "not_found")
        self.assertError(self.srv.post(url % 2, {"found": "yes", "x": 1}, token=self.officer),
                         400, "invalid_outcome", "/found")
        self.assertError(self.srv.post(url % 2, {"found": True}, token=self.trader), 403,
                         "forbidden")
        self.assertError(self.srv.post("/v1/xray/scans/NOPE/regions/1/outcome",
                                       {"found": True}, token=self.officer), 404, "not_found")
        q = self.srv.get("/v1/xray/quality", token=self.officer).json
        k0, k1 = before["kinds"][kind], q["kinds"][kind]
        self.assertEqual(k1["outcomes"], k0["outcomes"] + 1)
        self.assertEqual(k1["found"], k0["found"])
        self.assertEqual(q["total"]["outcomes"], before["total"]["outcomes"] + 1)
        self.assertEqual(set(q["kinds"]), {"dense_object", "organic_mass", "false_wall",
                                           "anomaly"})
        s = self.srv.get("/v1/xray/scans/Q-1", token=self.officer).json
        self.assertEqual(s["outcomes"][0]["n"], 1)
        self.assertFalse(s["outcomes"][0]["found"])
        q = self.srv.get("/v1/xray/quality?since=2999-01-01", token=self.officer).json
        self.assertEqual(q["total"]["outcomes"], 0)
        self.assertError(self.srv.get("/v1/xray/quality?since=soon", token=self.officer), 400,
                         "invalid_parameter", "/since")
        self.assertError(self.srv.get("/v1/xray/quality?limit=3", token=self.officer), 400,
                         "invalid_parameter", "/limit")


if __name__ == "__main__":
    unittest.main(verbosity=2)
