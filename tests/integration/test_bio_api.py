"""Biometrics against the real binary: the 'customs bio' command line
(match, eval, show, key, enrol, identify, verify, erase, audit) and the
/v1/biometrics API (subjects, templates, verify, identify, stations, audit,
erasure), with roles, sealing (the database file holds no template bytes),
erasure that holds across a restart, and the append-only audit."""
import base64
import json
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key, declaration, run  # noqa: E402

DATA = os.path.join(os.environ["CUSTOMS_DATA_DIR"], "biometrics")
DB1 = os.path.join(DATA, "fvc-dev", "fvc2002", "DB1_B")
SPEC = os.path.join(DATA, "fingerprintio-spec-samples")


def tpl(finger, impression, db=DB1):
    return os.path.join(db, f"{finger}_{impression}.iso")


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def on_disk(db, needle):
    found = False
    for p in (db, db + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                found = found or needle in f.read()
    return found


class BioCliTest(TempDirTestCase):
    def test_match_and_pairs(self):
        p = run("bio", "match", tpl(101, 1), tpl(101, 2), tpl(102, 1))
        lines = [ln.split("\t") for ln in p.stdout.splitlines()]
        self.assertEqual([ln[1] for ln in lines], [tpl(101, 2), tpl(102, 1)])
        same, other = float(lines[0][0]), float(lines[1][0])
        self.assertGreaterEqual(same, 30)
        self.assertLess(other, 30)
        pairs = os.path.join(self.tmp, "pairs.txt")
        with open(pairs, "w") as f:
            f.write(f"# a comment\n{tpl(101, 1)} {tpl(101, 2)}\n\n{tpl(101, 1)}\t{tpl(102, 1)}\n")
        p = run("bio", "match", "--pairs", pairs)
        rows = [ln.split("\t") for ln in p.stdout.splitlines()]
        self.assertEqual([(r[0], r[1]) for r in rows],
                         [(tpl(101, 1), tpl(101, 2)), (tpl(101, 1), tpl(102, 1))])
        self.assertEqual(float(rows[0][2]), same)
        # a template that does not parse stops the command, named
        bad = os.path.join(self.tmp, "bad.iso")
        with open(bad, "wb") as f:
            f.write(b"FMR\x00 20\x00\x00\x00\x00\x30garbage")
        with open(pairs, "a") as f:
            f.write(f"{tpl(101, 1)} {bad}\n")
        p = run("bio", "match", "--pairs", pairs, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.iso", p.stderr)
        self.assertEqual(p.stdout, "")
        p = run("bio", "match", tpl(101, 1), bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.iso", p.stderr)
        # options are spelled out, never abbreviated
        p = run("bio", "match", "--pair", pairs, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown option '--pair'", p.stderr)

    def test_eval_dev_database(self):
        os.chdir(DB1)
        p = run("bio", "eval", "--pairs", "genuine.txt", "--impostors", "impostors.txt", "--json")
        r = json.loads(p.stdout)
        self.assertEqual(sorted(r), sorted(["genuine", "impostors", "eer", "fmr100", "fmr1000",
                                            "threshold_fmr1000", "comparisons_per_s"]))
        self.assertEqual((r["genuine"], r["impostors"]), (280, 2880))
        # bozorth3 gets 7.4 % on these templates
        self.assertLess(r["eer"], 0.074)
        self.assertTrue(0 <= r["fmr1000"] <= 1 and 0 <= r["fmr100"] <= r["fmr1000"])
        self.assertGreater(r["comparisons_per_s"], 0)
        p = run("bio", "eval", "--pairs", "genuine.txt", "--impostors", "impostors.txt")
        self.assertIn("EER", p.stdout)
        p = run("bio", "eval", "--pairs", "genuine.txt", check=False)
        self.assertEqual(p.returncode, 2)

    def test_show_strict_and_permissive(self):
        p = run("bio", "show", os.path.join(SPEC, "iso19794p2v2011-sample.dat"), "--strict",
                check=False)
        self.assertEqual(p.returncode, 1)
        doc = json.loads(p.stdout)
        self.assertFalse(doc["valid"])
        self.assertIn("numbered from 0", doc["problems"][0]["message"])
        p = run("bio", "show", os.path.join(SPEC, "iso19794p2v2011-sample.dat"))
        doc = json.loads(p.stdout)
        self.assertTrue(doc["valid"])
        self.assertEqual(doc["format"], "iso-19794-2:2011")
        self.assertEqual([len(v["minutiae"]) for v in doc["views"]], [27, 22])

    def test_key_enrol_identify_erase(self):
        key = os.path.join(self.tmp, "bio.key")
        run("bio", "key", "--out", key)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        p = run("bio", "key", "--out", key, check=False)
        self.assertEqual(p.returncode, 1)  # never overwritten
        common = ["--db", self.db, "--bio-key", key]
        run("bio", "enrol", *common, "--watchlist", "interpol", "--subject", "P-1",
            "--agency", "Immigration", "--legal-basis", "MoU 2024/7", "--expires", "2099-12-31",
            tpl(106, 1), tpl(106, 2))
        run("bio", "enrol", *common, "--watchlist", "interpol", "--subject", "P-2", tpl(107, 1))
        p = run("bio", "identify", *common, "--watchlist", "interpol", "--purpose", "CASE-9",
                tpl(106, 5))
        hits = [json.loads(ln) for ln in p.stdout.splitlines()]
        self.assertEqual(hits[0]["subject"], "P-1")
        self.assertEqual(sorted(hits[0]), ["finger", "score", "subject"])
        self.assertGreaterEqual(hits[0]["score"], 30)
        p = run("bio", "identify", *common, "--watchlist", "interpol", "--purpose", "CASE-9",
                "--min-score", "30", tpl(106, 5))
        self.assertEqual([json.loads(ln)["subject"] for ln in p.stdout.splitlines()], ["P-1"])
        p = run("bio", "identify", *common, "--watchlist", "interpol", tpl(106, 5), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--purpose", p.stderr)
        # no template bytes in the database: the minutiae of each file
        for f in (tpl(106, 1), tpl(106, 2), tpl(107, 1)):
            with open(f, "rb") as fh:
                self.assertFalse(on_disk(self.db, fh.read()[28:76]))
        # without the key, or with another one, nothing opens
        other = os.path.join(self.tmp, "other.key")
        run("bio", "key", "--out", other)
        p = run("bio", "identify", "--db", self.db, "--bio-key", other, "--watchlist",
                "interpol", "--purpose", "X", tpl(106, 5), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("sealed under key", p.stderr)
        p = run("bio", "verify", *common, "--subject", "P-2", "--purpose", "X", tpl(106, 5),
                check=False)
        self.assertEqual(p.returncode, 3)  # no match
        self.assertFalse(json.loads(p.stdout)["match"])
        run("bio", "erase", *common, "--subject", "P-1", "--purpose", "request 17")
        p = run("bio", "identify", *common, "--watchlist", "interpol", "--purpose", "CASE-10",
                tpl(106, 5))
        self.assertNotIn("P-1", p.stdout)
        p = run("bio", "audit", "--db", self.db)
        actions = [json.loads(ln)["action"] for ln in p.stdout.splitlines()]
        self.assertEqual(actions[:3], ["identify", "erase", "verify"])
        p = run("bio", "digest", "--db", self.db, "--date", "2000-01-01")
        self.assertEqual(json.loads(p.stdout)["count"], 0)

    def test_digest_anchored_on_the_ledger(self):
        """The day's audit digest as a customs-signed audit.digest entry: its
        root is the one `bio digest` computes, once per administration and day,
        and only a customs member may author it."""
        keys = os.path.join(self.tmp, "keys")
        run("ledger", "demo", "--db", self.db, "--keys-dir", keys)
        key = os.path.join(self.tmp, "bio.key")
        run("bio", "key", "--out", key)
        run("bio", "enrol", "--db", self.db, "--bio-key", key, "--watchlist", "wl",
            "--subject", "P-1", tpl(106, 1))
        run("bio", "identify", "--db", self.db, "--bio-key", key, "--watchlist", "wl",
            "--purpose", "CASE-1", tpl(106, 2))
        day = json.loads(run("bio", "audit", "--db", self.db).stdout.splitlines()[0])["at"][:10]
        digest = json.loads(run("bio", "digest", "--db", self.db, "--date", day).stdout)
        self.assertEqual(digest["count"], 2)
        kcs = os.path.join(keys, "kcs.key")
        p = run("bio", "digest", "--db", self.db, "--date", day, "--ledger-key", kcs)
        index = json.loads(p.stdout)["index"]
        entry = json.loads(run("ledger", "show", "--db", self.db, str(index)).stdout)
        self.assertEqual(entry["type"], "audit.digest")
        self.assertEqual(entry["entry"]["body"], digest)
        self.assertEqual(entry["entry"]["org"], "KCS")
        p = run("bio", "digest", "--db", self.db, "--date", day, "--ledger-key", kcs,
                check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already", p.stderr)
        p = run("bio", "digest", "--db", self.db, "--date", "2000-01-01", "--ledger-key",
                os.path.join(keys, "importer.key"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("may be authored by: customs", p.stderr)
        run("ledger", "verify", "--db", self.db)


class BioApiTest(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        """The master key and the API keys every test uses, made once (each
        `customs` run is a process start, the bulk of this file's time);
        every test gets its own copy of that database and key file."""
        cls.seed = tempfile.mkdtemp(prefix="customs-bio-seed-")
        cls.seed_db = os.path.join(cls.seed, "customs.db")
        cls.seed_key = os.path.join(cls.seed, "bio.key")
        run("bio", "key", "--out", cls.seed_key)
        cls.tokens = {name: create_key(cls.seed_db, org, role, name) for org, role, name in (
            ("KCS", "officer", "officer"), ("KCS", "admin", "admin"),
            ("BROKER-X", "trader", "trader"), ("BROKER-X", "device", "kiosk"),
            ("KCS", "device", "gate-kiosk"))}
        p = run("keys", "list", "--db", cls.seed_db, "--json")
        cls.key_ids = {k["name"]: k["id"] for k in map(json.loads, p.stdout.splitlines())}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.seed, ignore_errors=True)

    def setUp(self):
        super().setUp()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.seed_db + suffix):
                shutil.copyfile(self.seed_db + suffix, self.db + suffix)
        self.key = os.path.join(self.tmp, "bio.key")
        shutil.copyfile(self.seed_key, self.key)
        os.chmod(self.key, 0o600)
        self.officer, self.admin, self.trader, self.kiosk, self.customs_kiosk = (
            self.tokens[n] for n in ("officer", "admin", "trader", "kiosk", "gate-kiosk"))
        self.srv = self.serve("--bio-key", self.key)

    def post(self, path, body, token=None, **kw):
        return self.srv.post(path, body, token=token or self.officer, **kw)

    def get(self, path, token=None):
        return self.srv.get(path, token=token or self.officer)

    def subject(self, sid, **over):
        body = {"id": sid, "kind": "watchlist", "watchlist": "interpol",
                "source_agency": "Immigration", "legal_basis": "MoU 2024/7",
                "expires": "2099-12-31"}
        body.update(over)
        r = self.post("/v1/biometrics/subjects", body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def enrol(self, sid, path, **extra):
        body = {"format": "iso-19794-2:2005", "data_base64": b64(path)}
        body.update(extra)
        r = self.post(f"/v1/biometrics/subjects/{sid}/templates", body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def test_subjects_validation_and_roles(self):
        r = self.post("/v1/biometrics/subjects", {"id": "a b", "kind": "pirate", "colour": 1,
                                                   "expires": "soon"})
        self.assertEqual(r.status, 400, r)
        paths = sorted(d["path"] for d in r.json["error"]["details"])
        self.assertEqual(paths, ["/colour", "/expires", "/id", "/kind"])
        doc = self.subject("P-1")
        self.assertEqual(doc["expires"], "2100-01-01T00:00:00.000Z")  # through that day
        self.assertEqual(doc["templates"], 0)
        r = self.post("/v1/biometrics/subjects", {"id": "P-1", "kind": "watchlist",
                                                   "watchlist": "interpol"})
        self.assertEqual(r.status, 409, r)
        for tok in (self.trader, self.kiosk):
            r = self.post("/v1/biometrics/subjects", {"id": "P-9", "kind": "broker"}, token=tok)
            self.assertEqual(r.status, 403, r)
            self.assertEqual(self.get("/v1/biometrics/audit", token=tok).status, 403)
        r = self.get("/v1/biometrics/subjects?watchlist=interpol&colour=red")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/colour")
        r = self.get("/v1/biometrics/subjects?watchlist=interpol")
        self.assertEqual([s["id"] for s in r.json["items"]], ["P-1"])

    def test_templates_identify_verify(self):
        self.subject("P-1")
        t = self.enrol("P-1", tpl(108, 1), finger="right_thumb")
        self.assertEqual((t["subject"], t["modality"]), ("P-1", "finger"))
        # the raw bytes as octet-stream, a finger named in the query
        with open(tpl(108, 2), "rb") as f:
            raw = f.read()
        r = self.srv.request("POST", "/v1/biometrics/subjects/P-1/templates?finger=right_thumb",
                             body=raw, token=self.officer,
                             content_type="application/octet-stream")
        self.assertEqual(r.status, 201, r)
        # a broken template: the problem names the byte and the rule
        r = self.post("/v1/biometrics/subjects/P-1/templates",
                      {"data_base64": base64.b64encode(raw[:40]).decode()})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["code"], "invalid_template")
        self.assertEqual(r.json["error"]["details"][0]["path"], "/data_base64")
        self.assertIn("byte", r.json["error"]["details"][0]["message"])
        r = self.post("/v1/biometrics/subjects/P-1/templates", {"data_base64": "!!!"})
        self.assertEqual(r.json["error"]["details"][0]["path"], "/data_base64")
        r = self.post("/v1/biometrics/subjects/NOBODY/templates",
                      {"data_base64": b64(tpl(108, 1))})
        self.assertEqual(r.status, 404, r)
        # a face descriptor for the same subject
        r = self.post("/v1/biometrics/subjects/P-1/templates",
                      {"model": "faceapi-128", "vector": [0.1] * 127 + [0.5]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["dimension"], 128)

        self.subject("P-2")
        self.enrol("P-2", tpl(109, 1))
        r = self.post("/v1/biometrics/identify", {"watchlist": "interpol",
                                                  "template_base64": b64(tpl(108, 6)),
                                                  "purpose": "CASE-2024-118"})
        self.assertEqual(r.status, 200, r)
        c = r.json["candidates"]
        self.assertEqual(c[0]["subject"], "P-1")
        self.assertEqual(sorted(c[0]), ["finger", "kind", "legal_basis", "score",
                                        "source_agency", "subject"])
        self.assertEqual((c[0]["finger"], c[0]["source_agency"], c[0]["legal_basis"]),
                         ("right_thumb", "Immigration", "MoU 2024/7"))
        # a hit at or above the threshold is an alert, stored with its audit record
        alerts = self.get("/v1/alerts?type=watchlist_hit").json["items"]
        self.assertEqual([(a["subject"]["kind"], a["subject"]["id"], a["severity"])
                          for a in alerts], [("biometric_subject", "P-1", "critical")])
        self.assertEqual(alerts[0]["detail"]["purpose"], "CASE-2024-118")
        r = self.post("/v1/biometrics/identify", {"watchlist": "interpol",
                                                  "descriptor": {"model": "faceapi-128",
                                                                 "vector": [0.1] * 127 + [0.5]},
                                                  "purpose": "CASE-2024-119"})
        self.assertEqual(r.json["candidates"][0]["subject"], "P-1")
        self.assertEqual(r.json["candidates"][0]["finger"], None)
        # purpose is required; traders may not identify
        r = self.post("/v1/biometrics/identify", {"watchlist": "interpol",
                                                  "template_base64": b64(tpl(108, 6))})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/purpose")
        r = self.post("/v1/biometrics/identify", {"watchlist": "interpol", "purpose": "x",
                                                  "template_base64": b64(tpl(108, 6))},
                      token=self.trader)
        self.assertEqual(r.status, 403)
        r = self.post("/v1/biometrics/verify", {"subject": "P-1", "purpose": "BOOTH-3",
                                                "template_base64": b64(tpl(108, 7))})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["match"], True)
        self.assertEqual(r.json["threshold"], 30)
        r = self.post("/v1/biometrics/verify", {"subject": "P-2", "purpose": "BOOTH-3",
                                                "template_base64": b64(tpl(108, 7))})
        self.assertFalse(r.json["match"])

    def test_stations_and_verification_roles(self):
        self.subject("OP-1", kind="broker", org="BROKER-X", watchlist="operators")
        self.enrol("OP-1", tpl(110, 1))
        self.subject("OP-2", kind="broker", org="OTHER", watchlist="operators")
        self.enrol("OP-2", tpl(105, 1))
        body = {"subject": "OP-1", "purpose": "DECL-77", "template_base64": b64(tpl(110, 2))}
        # a trader key never verifies; a device key only once registered
        r = self.post("/v1/biometrics/verify", body, token=self.trader)
        self.assertEqual(r.status, 403, r)
        r = self.post("/v1/biometrics/verify", body, token=self.kiosk)
        self.assertEqual(r.status, 403, r)
        self.assertIn("not registered", r.json["error"]["message"])
        kid = self.key_ids["kiosk"]
        r = self.post("/v1/biometrics/stations", {"key_id": kid, "name": "Broker X booth"},
                      token=self.trader)
        self.assertEqual(r.status, 403)
        r = self.post("/v1/biometrics/stations", {"key_id": self.key_ids["trader"]})
        self.assertEqual(r.status, 400)  # not a device key
        r = self.post("/v1/biometrics/stations", {"key_id": kid, "any_org": True})
        self.assertEqual(r.status, 400)  # only an admin widens a station
        r = self.post("/v1/biometrics/stations", {"key_id": kid, "name": "Broker X booth"})
        self.assertEqual(r.status, 201, r)
        r = self.post("/v1/biometrics/verify", body, token=self.kiosk)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["match"])
        # its own organisation's subjects only
        r = self.post("/v1/biometrics/verify", dict(body, subject="OP-2"), token=self.kiosk)
        self.assertEqual(r.status, 403, r)
        gate = self.key_ids["gate-kiosk"]
        r = self.post("/v1/biometrics/stations", {"key_id": gate, "any_org": True},
                      token=self.admin)
        self.assertEqual(r.status, 201, r)
        r = self.post("/v1/biometrics/verify", dict(body, subject="OP-2",
                                                    template_base64=b64(tpl(105, 3))),
                      token=self.customs_kiosk)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["match"])
        stations = self.get("/v1/biometrics/stations").json["items"]
        self.assertEqual(sorted(s["key_id"] for s in stations), sorted([kid, gate]))
        # the audit names the station and the purpose; refusals are there too
        items = self.get("/v1/biometrics/audit?action=verify&limit=10").json["items"]
        outcomes = [(i["outcome"], i.get("station")) for i in items]
        self.assertIn(("match", kid), outcomes)
        self.assertIn(("refused", kid), outcomes)
        self.assertTrue(all(i["purpose"] == "DECL-77" for i in items))
        r = self.get("/v1/biometrics/audit?action=delete")
        self.assertEqual(r.status, 400)
        page = self.get("/v1/biometrics/audit?limit=2").json
        older = self.get(f"/v1/biometrics/audit?limit=2&cursor={page['next_cursor']}").json
        self.assertLess(older["items"][0]["seq"], page["items"][-1]["seq"])

    def test_operators_verified_before_they_act(self):
        """The bio.verified decision gate (409 verification_required) for a key
        issued to a person, and its verification state; keys without a subject
        decide as before; a key never verifies its own subject."""
        p = run("keys", "create", "--db", self.db, "--org", "KCS", "--role", "officer",
                "--name", "op-officer", "--subject", "OP-9")
        op = p.stdout.strip()
        self.subject("OP-9", kind="operator", org="KCS", watchlist="operators")
        self.enrol("OP-9", tpl(110, 1))
        ids = []
        for i in range(2):
            r = self.post("/v1/declarations", declaration(f"BIO-GATE-{i}"), token=self.trader)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json["id"])
        state = self.get("/v1/biometrics/verification", token=op).json
        self.assertEqual((state["subject"], state["required"], state["verified"]),
                         ("OP-9", True, False))
        self.assertFalse(self.get("/v1/biometrics/verification").json["required"])
        hold = {"decision": "hold", "reason": "documents"}
        r = self.post(f"/v1/declarations/{ids[0]}/decision", hold, token=op)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json["error"]["code"], "verification_required")
        self.assertEqual(r.json["error"]["details"][0]["path"], "/decision")
        self.assertIn("OP-9", r.json["error"]["message"])
        self.assertEqual(self.get(f"/v1/declarations/{ids[0]}").json["status"], "submitted")
        # an officer's key without a subject decides as before
        r = self.post(f"/v1/declarations/{ids[1]}/decision", hold)
        self.assertEqual(r.status, 200, r)
        # the operator's own key cannot verify OP-9, not even with the right finger
        probe = {"subject": "OP-9", "purpose": "SHIFT-START", "template_base64": b64(tpl(110, 2))}
        r = self.post("/v1/biometrics/verify", probe, token=op)
        self.assertEqual(r.status, 403, r)
        self.assertIn("stands for", r.json["error"]["message"])
        # a failed verification by an officer opens nothing
        r = self.post("/v1/biometrics/verify", dict(probe, template_base64=b64(tpl(105, 2))))
        self.assertFalse(r.json["match"])
        r = self.post(f"/v1/declarations/{ids[0]}/decision", hold, token=op)
        self.assertEqual(r.json["error"]["code"], "verification_required")
        # a successful one by another officer does
        r = self.post("/v1/biometrics/verify", probe)
        self.assertTrue(r.json["match"], r)
        state = self.get("/v1/biometrics/verification", token=op).json
        self.assertEqual((state["required"], state["verified"], state["window_hours"]),
                         (False, True, 12))
        self.assertIn("valid_until", state)
        r = self.post(f"/v1/declarations/{ids[0]}/decision", hold, token=op)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "held")

    def test_without_master_key(self):
        """Without --bio-key the routes exist and say why they cannot answer;
        the audit (no sealed data) is still readable."""
        self.srv.stop()
        self.srv = self.serve()
        r = self.post("/v1/biometrics/subjects", {"id": "P-1", "kind": "broker"})
        self.assertEqual((r.status, r.json["error"]["code"]), (503, "biometrics_unavailable"))
        self.assertEqual(self.get("/v1/biometrics/audit").status, 200)

    def test_erasure_holds(self):
        self.subject("P-7")
        self.enrol("P-7", tpl(104, 1))
        con = sqlite3.connect(self.db)
        wrapped = con.execute("SELECT wrapped_key FROM bio_subjects WHERE id='P-7'").fetchone()[0]
        sealed = con.execute("SELECT sealed FROM bio_templates").fetchone()[0]
        con.close()
        self.assertTrue(on_disk(self.db, wrapped))
        r = self.srv.request("DELETE", "/v1/biometrics/subjects/P-7?purpose=REQ-5",
                             token=self.officer)
        self.assertEqual(r.status, 204, r)
        self.assertFalse(on_disk(self.db, wrapped))  # crypto-shredded
        self.assertFalse(on_disk(self.db, sealed))
        self.assertEqual(self.get("/v1/biometrics/subjects/P-7").status, 404)
        r = self.srv.request("DELETE", "/v1/biometrics/subjects/P-7", token=self.officer)
        self.assertEqual(r.status, 404)
        # still gone after a restart, and the audit cannot be rewritten
        self.srv.stop()
        self.srv = self.serve("--bio-key", self.key)
        r = self.post("/v1/biometrics/identify", {"watchlist": "interpol", "purpose": "X",
                                                  "template_base64": b64(tpl(104, 2))})
        self.assertEqual(r.status, 404)  # the watchlist went with its last subject
        con = sqlite3.connect(self.db)
        with self.assertRaises(sqlite3.DatabaseError):
            con.execute("DELETE FROM bio_audit")
        con.close()
        actions = [i["action"] for i in self.get("/v1/biometrics/audit").json["items"]]
        self.assertIn("erase", actions)


if __name__ == "__main__":
    unittest.main()
