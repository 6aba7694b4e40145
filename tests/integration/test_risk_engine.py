"""Integration tests of the risk engine (issue 3): KCS import with outcomes,
training and the model registry, scoring at submission over HTTP, inspection
feedback, the risk queue, batch scoring and evaluation, the HS assistant, and
every bad-input path (no labels, corrupt model, feature mismatch, bad KCS
files). Trains on a slice of the 2020 split to stay quick."""
import csv
import io
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE, TempDirTestCase, create_key, run, wait_for  # noqa: E402

DATA = os.path.join(SOURCE, "data", "customs-fraud")
TRAIN = os.path.join(DATA, "df_syn_train_eng.csv")
VALID = os.path.join(DATA, "df_syn_valid_eng.csv")
SLICE = 8000  # January to early March 2020
METRIC_KEYS = {"n", "auc", "precision_at_1", "precision_at_5", "precision_at_10",
               "recall_at_5", "recall_at_10"}
REVENUE_KEYS = {"rank", "fraud_revenue", "revenue_recovered_at_1", "revenue_recovered_at_5",
                "revenue_recovered_at_10"}

BASE = {}


def read_rows(path, n=None):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = []
        for row in r:
            rows.append(row)
            if n is not None and len(rows) == n:
                break
    return header, rows


def write_rows(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def declaration(row, reference, description=None):
    """The JSON declaration of a KCS row, as the kcs import maps it."""
    d = {"reference": reference, "type": "import", "date": row[1], "office": row[2],
         "declarant_id": row[8], "importer_id": row[9], "country_of_departure": row[13],
         "transport_mode": row[7],
         "procedure": {"process_type": row[3], "import_type": row[4], "import_use": row[5],
                       "payment_type": row[6]},
         "items": [{"hs_code": row[12], "country_of_origin": row[14], "origin_indicator": row[17],
                    "net_mass_kg": float(row[18]), "value": float(row[19]), "currency": "KRW",
                    "tax_rate": float(row[15]), "tax_type": row[16]}]}
    if row[10]:
        d["seller_id"] = row[10]
    if row[11]:
        d["courier_id"] = row[11]
    if description:
        d["items"][0]["description"] = description
    return d


def setUpModule():
    """One trained database, copied by every test that needs it."""
    d = tempfile.mkdtemp(prefix="customs-risk-base-")
    BASE["dir"] = d
    header, rows = read_rows(TRAIN, SLICE)
    BASE["header"], BASE["rows"] = header, rows
    BASE["slice"] = os.path.join(d, "train-slice.csv")
    write_rows(BASE["slice"], header, rows)
    vh, vrows = read_rows(VALID, 600)
    BASE["valid_rows"] = vrows
    BASE["valid"] = os.path.join(d, "valid-slice.csv")
    write_rows(BASE["valid"], vh, vrows)
    db = os.path.join(d, "base.db")
    p = run("import", "--db", db, "--org", "KCS", "--format", "kcs", BASE["slice"])
    assert f"imported {SLICE}, rejected 0" in p.stdout, p.stdout + p.stderr
    p = run("risk", "train", "--db", db, "--json")
    BASE["train"] = json.loads(p.stdout)
    BASE["db"] = db


def tearDownModule():
    shutil.rmtree(BASE.get("dir", ""), ignore_errors=True)


class RiskCase(TempDirTestCase):
    def trained(self):
        """A copy of the trained database for this test."""
        shutil.copy(BASE["db"], self.db)
        for ext in ("-wal", "-shm"):
            if os.path.exists(BASE["db"] + ext):
                shutil.copy(BASE["db"] + ext, self.db + ext)
        return self.db

    def keys(self):
        self.officer = create_key(self.db, "CUSTOMS", "officer")
        self.trader = create_key(self.db, "ACME", "trader")
        self.admin = create_key(self.db, "CUSTOMS", "admin")

    def submit(self, srv, n, start=0, prefix="T", description=None):
        out = []
        for i in range(n):
            row = BASE["valid_rows"][start + i]
            r = srv.post("/v1/declarations", declaration(row, f"{prefix}-{i}", description),
                         token=self.trader)
            self.assertEqual(r.status, 201, r)
            out.append((row, r.json))
        return out

    def active_id(self):
        p = run("risk", "models", "--db", self.db, "--json")
        active = [json.loads(line) for line in p.stdout.splitlines() if json.loads(line)["active"]]
        self.assertEqual(len(active), 1, p.stdout)
        return active[0]["id"]

    def stop_clean(self, srv):
        """The server shuts down without a sanitizer report, exits 0 and says
        so. (libmicrohttpd's quiesce race, once tolerated here, went with it.)"""
        rc = srv.stop()
        with open(srv.log_path) as f:
            log = f.read()
        self.assertNotIn("Sanitizer", log)
        self.assertEqual(rc, 0, log)
        self.assertIn("stopped cleanly", log)

    def sql(self, query, args=()):
        con = sqlite3.connect(self.db)
        try:
            rows = con.execute(query, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def assert_risk(self, risk, model):
        self.assertEqual(set(risk) - {"item"}, {"score", "lane", "model", "explore", "reasons"})
        self.assertIsInstance(risk["score"], float)
        self.assertGreaterEqual(risk["score"], 0.0)
        self.assertLessEqual(risk["score"], 1.0)
        self.assertIn(risk["lane"], ("red", "yellow", "green"))
        self.assertEqual(risk["model"], model)
        self.assertIsInstance(risk["explore"], bool)
        shap = [r for r in risk["reasons"]
                if r["feature"] not in ("explore", "hs_mismatch")
                and not r["feature"].startswith("rule.")]
        self.assertGreaterEqual(len(shap), 3)
        self.assertLessEqual(len(shap), 5)
        for r in risk["reasons"]:
            self.assertEqual(set(r), {"feature", "contribution", "detail"})
            self.assertIsInstance(r["feature"], str)
            self.assertIsInstance(r["contribution"], (int, float))
            self.assertTrue(r["detail"] and isinstance(r["detail"], str))
        # most important first
        mags = [abs(r["contribution"]) for r in shap]
        self.assertEqual(mags, sorted(mags, reverse=True))


class TestImport(RiskCase):
    def test_kcs_columns_map_onto_the_declaration(self):
        self.trained()
        self.keys()
        header, rows = BASE["header"], BASE["rows"]
        crit = next(r for r in rows if r[21] == "2")
        zero = next(r for r in rows if r[12].startswith("0") and r[11])
        srv = self.serve()
        found = {}
        by_ref, cursor = {}, None
        while True:  # the API's list, page by page
            q = "/v1/declarations?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            page = srv.get(q, token=self.officer).json
            for d in page["items"]:
                by_ref.setdefault(d["reference"], []).append(d["id"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        for ref in (crit[0], zero[0]):
            self.assertEqual(len(by_ref[ref]), 1)
            r = srv.get(f"/v1/declarations/{by_ref[ref][0]}", token=self.officer)
            self.assertEqual(r.status, 200, r)
            found[ref] = r.json
        d = found[zero[0]]
        self.assertEqual(d["reference"], zero[0])
        self.assertEqual(d["date"], zero[1])
        self.assertEqual(d["office"], zero[2])
        self.assertEqual(d["procedure"], {"process_type": zero[3], "import_type": zero[4],
                                          "import_use": zero[5], "payment_type": zero[6]})
        self.assertEqual(d["transport_mode"], zero[7])
        self.assertEqual(d["declarant_id"], zero[8])
        self.assertEqual(d["importer_id"], zero[9])
        self.assertEqual(d.get("seller_id", ""), zero[10])
        self.assertEqual(d["courier_id"], zero[11])
        item = d["items"][0]
        self.assertEqual(item["hs_code"], zero[12])  # leading zero kept
        self.assertEqual(len(item["hs_code"]), 6)
        self.assertEqual(d["country_of_departure"], zero[13])
        self.assertEqual(item["country_of_origin"], zero[14])
        self.assertEqual(item["tax_rate"], float(zero[15]))
        self.assertEqual(item["tax_type"], zero[16])
        self.assertEqual(item["origin_indicator"], zero[17])
        self.assertEqual(item["net_mass_kg"], float(zero[18]))
        self.assertEqual(item["value"], float(zero[19]))
        self.assertEqual(item["currency"], "KRW")
        self.assertEqual(d["org"], "KCS")
        insp = d["inspection"]
        self.assertEqual(insp["result"], "fraud" if zero[20] == "1" else "compliant")
        self.assertEqual(insp["source"], "kcs")
        c = found[crit[0]]["inspection"]
        self.assertEqual((c["result"], c["critical"]), ("fraud", True))

    def test_wrong_header_stores_nothing(self):
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("Declaration ID,Date,Office,HS6 Code\n1,2020-01-01,30,440890\n")
        p = run("import", "--db", self.db, "--org", "KCS", "--format", "kcs", bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 1", p.stderr)
        self.assertIn('unknown column "Office"', p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(self.sql("SELECT count(*) FROM declarations"), [(0,)])

    def test_bad_rows_are_skipped_with_line_numbers(self):
        header, rows = BASE["header"], [list(r) for r in BASE["rows"][:5]]
        rows[1][12] = rows[1][12][1:] if rows[1][12].startswith("0") else "12345"  # 5 digits
        rows[3][20] = "yes"
        path = os.path.join(self.tmp, "rows.csv")
        write_rows(path, header, rows)
        rejects = os.path.join(self.tmp, "rejects.jsonl")
        p = run("import", "--db", self.db, "--org", "KCS", "--format", "kcs", "--rejects",
                rejects, path, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("imported 3, rejected 2", p.stdout)
        self.assertIn(f"{path}:3:", p.stderr)
        self.assertIn(f"{path}:5:", p.stderr)
        with open(rejects) as f:
            recs = [json.loads(line) for line in f]
        self.assertEqual([r["line"] for r in recs], [3, 5])
        cols = [d.get("column") for r in recs for d in r["error"]["details"]]
        self.assertIn("HS6 Code", cols)
        self.assertIn("Fraud", cols)
        # the good rows and their outcomes went in together, the bad ones not at all
        self.assertEqual(self.sql("SELECT count(*) FROM declarations"), [(3,)])
        self.assertEqual(self.sql("SELECT count(*) FROM risk_inspections"), [(3,)])


class TestTraining(RiskCase):
    def test_registry_train_models_activate(self):
        self.trained()
        t = BASE["train"]
        self.assertEqual(t["n_train"], SLICE)
        self.assertEqual(t["validation"]["method"], "holdout")
        self.assertTrue(0.5 < t["auc"] <= 1.0, t)
        first = self.active_id()
        p = run("risk", "train", "--db", self.db, "--valid-from", "2020-02-15", "--no-activate",
                "--rounds", "30", "--json")
        second = json.loads(p.stdout)
        self.assertEqual(second["validation"]["method"], "valid-from")
        self.assertEqual(second["validation"]["from"], "2020-02-15")
        self.assertLess(second["n_train"], SLICE)
        self.assertEqual(self.active_id(), first)
        p = run("risk", "models", "--db", self.db)
        self.assertIn(first, p.stdout)
        self.assertIn(second["model"], p.stdout)
        run("risk", "activate", "--db", self.db, second["model"])
        self.assertEqual(self.active_id(), second["model"])
        p = run("risk", "activate", "--db", self.db, "01ZZZZZZZZZZZZZZZZZZZZZZZZ", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no model with id", p.stderr)
        p = run("risk", "train", "--db", self.db, "--valid-from", "2021-06-01", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("leaves no labelled declarations on or after it", p.stderr)
        p = run("risk", "train", "--db", self.db, "--until", "2020-02-30", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--until 2020-02-30", p.stderr)

    def test_no_labelled_data(self):
        header, rows = read_rows(BASE["slice"], 50)
        path = os.path.join(self.tmp, "unlabelled.csv")
        write_rows(path, header[:20], [r[:20] for r in rows])
        run("import", "--db", self.db, "--org", "KCS", "--format", "kcs", path)
        p = run("risk", "train", "--db", self.db, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no labelled declarations", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(self.sql("SELECT count(*) FROM risk_models"), [(0,)])

    def test_fraud_free_model_never_crashes_scoring(self):
        header, rows = BASE["header"], [list(r) for r in BASE["rows"][:3000]]
        for r in rows:
            r[20], r[21] = "0", "0"
        path = os.path.join(self.tmp, "clean.csv")
        write_rows(path, header, rows)
        run("import", "--db", self.db, "--org", "KCS", "--format", "kcs", path)
        p = run("risk", "train", "--db", self.db)
        self.assertIn("none of the", p.stderr)
        model = self.active_id()
        p = run("risk", "eval", "--db", self.db, "--format", "kcs", "--json", BASE["valid"])
        m = json.loads(p.stdout)
        self.assertEqual(m["n"], 600)
        out = os.path.join(self.tmp, "scores.csv")
        run("risk", "score", "--db", self.db, "--format", "kcs", "--out", out, BASE["valid"])
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 601)
        self.keys()
        srv = self.serve()
        for _, d in self.submit(srv, 40):
            risk = d["risk"]
            self.assertEqual(risk["model"], model)
            self.assertIn(risk["lane"], ("red", "yellow", "green"))
            self.assertTrue(0.0 <= risk["score"] <= 1.0)
            self.assertTrue(risk["reasons"])
            for r in risk["reasons"]:
                self.assertEqual(set(r), {"feature", "contribution", "detail"})
        self.assertEqual(srv.get("/healthz").status, 200)


class TestScoring(RiskCase):
    def test_submissions_are_scored_and_explained(self):
        self.trained()
        self.keys()
        model = self.active_id()
        srv = self.serve()
        subs = self.submit(srv, 30)
        for _, d in subs:
            self.assert_risk(d["risk"], model)
            r = srv.get(f"/v1/declarations/{d['id']}", token=self.trader)
            self.assertEqual(r.json["risk"], d["risk"])
        # the same rows scored in batch get the same scores
        path = os.path.join(self.tmp, "same.csv")
        write_rows(path, BASE["header"], [row for row, _ in subs])
        out = os.path.join(self.tmp, "scores.csv")
        run("risk", "score", "--db", self.db, "--format", "kcs", "--out", out, path)
        with open(out) as f:
            batch = list(csv.DictReader(f))
        self.assertEqual([b["Declaration ID"] for b in batch], [row[0] for row, _ in subs])
        for b, (_, d) in zip(batch, subs):
            self.assertAlmostEqual(float(b["score"]), d["risk"]["score"], places=5)
        # a fraud the slice has seen before is explained by it
        m = srv.get("/metrics").body
        self.assertIn('customs_risk_lane_total{lane="green"}', m)
        self.assertIn("customs_risk_assess_seconds_count 30", m)
        self.stop_clean(srv)  # clean exit (and no leak under ASan)

    def test_multi_item_declaration_takes_the_riskiest_item(self):
        self.trained()
        self.keys()
        srv = self.serve()
        head = BASE["valid_rows"][0]
        rows = []
        for k in range(3):  # header from the first row, items from three rows
            row = list(head)
            src = BASE["valid_rows"][10 + 7 * k]
            for c in (12, 14, 15, 16, 17, 18, 19):
                row[c] = src[c]
            row[0] = f"M-{k}"
            rows.append(row)
        d = declaration(rows[0], "MULTI-1")
        d["items"] = [declaration(r, "x")["items"][0] for r in rows]
        r = srv.post("/v1/declarations", d, token=self.trader)
        self.assertEqual(r.status, 201, r)
        risk = r.json["risk"]
        path = os.path.join(self.tmp, "items.csv")
        write_rows(path, BASE["header"], rows)
        p = run("risk", "score", "--db", self.db, "--format", "kcs", path)
        scores = [float(b["score"]) for b in csv.DictReader(io.StringIO(p.stdout))]
        best = max(range(3), key=lambda i: scores[i])
        self.assertEqual(risk["item"], best)
        self.assertAlmostEqual(risk["score"], scores[best], places=5)
        self.assertTrue(all(x["detail"].startswith(f"item {best + 1}: ")
                            for x in risk["reasons"] if x["feature"] != "explore"))

    def test_no_model_lane_by_rules(self):
        self.keys()
        srv = self.serve()
        for _, d in self.submit(srv, 5):
            risk = d["risk"]
            self.assertIsNone(risk["model"])
            self.assertIsNone(risk["score"])
            self.assertEqual(risk["reasons"][0]["feature"], "no_model")
            self.assertTrue(risk["reasons"][0]["detail"].startswith("no model: lane by rules"))

    def test_lane_flags(self):
        self.trained()
        self.keys()
        srv = self.serve("--inspect-rate", "0", "--yellow-rate", "0", "--explore-rate", "100")
        for _, d in self.submit(srv, 8, prefix="X"):
            self.assertEqual((d["risk"]["lane"], d["risk"]["explore"]), ("red", True))
            self.assertIn("explore", [r["feature"] for r in d["risk"]["reasons"]])
        srv.stop()
        srv = self.serve("--inspect-rate", "100", "--explore-rate", "0")
        for _, d in self.submit(srv, 8, prefix="Y"):
            self.assertEqual((d["risk"]["lane"], d["risk"]["explore"]), ("red", False))
        p = run("serve", "--db", self.db, "--inspect-rate", "120", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--inspect-rate must be a percentage", p.stderr)

    def test_hot_swap_after_activate(self):
        self.trained()
        self.keys()
        srv = self.serve()
        p = run("risk", "train", "--db", self.db, "--rounds", "20", "--no-activate", "--json")
        new = json.loads(p.stdout)["model"]
        run("risk", "activate", "--db", self.db, new)
        wait_for(lambda: srv.get("/v1/risk/models/active", token=self.officer).json,
                 "the new model to serve", limit=30, step=0.2,
                 done=lambda a: a["serving"]["model"] == new)
        self.assertEqual(self.submit(srv, 1)[0][1]["risk"]["model"], new)
        self.stop_clean(srv)

    def test_hs_mismatch_reason(self):
        """The HS check runs after the write and raises the lane to yellow."""
        self.trained()
        self.keys()
        srv = self.serve("--inspect-rate", "0", "--yellow-rate", "0", "--explore-rate", "0")
        row = list(BASE["valid_rows"][0])
        row[12] = "690722"  # ceramic tiles
        bad = srv.post("/v1/declarations", declaration(row, "HS-1", "frozen boneless beef"),
                       token=self.trader).json
        self.assertEqual(bad["risk"]["lane"], "green")  # nothing red or yellow by score
        good = srv.post("/v1/declarations", declaration(row, "HS-2", "glazed ceramic wall tiles"),
                        token=self.trader).json
        m = wait_for(lambda: srv.get("/metrics").body, "both HS checks", limit=30,
                     done=lambda m: "customs_risk_hs_checked_total 2" in m)
        self.assertIn("customs_risk_hs_mismatch_total 1", m)
        risk = srv.get(f"/v1/declarations/{bad['id']}", token=self.officer).json["risk"]
        self.assertEqual(risk["lane"], "yellow")
        reason = risk["reasons"][-1]
        self.assertEqual(reason["feature"], "hs_mismatch")
        self.assertEqual(reason["contribution"], 1)
        self.assertIn("020230", reason["detail"])
        self.assertEqual(risk["reasons"][:-1], bad["risk"]["reasons"])
        risk = srv.get(f"/v1/declarations/{good['id']}", token=self.officer).json["risk"]
        self.assertEqual(risk, good["risk"])
        r = srv.get("/v1/risk/queue?lane=yellow&org=ACME", token=self.officer)
        self.assertEqual([i["id"] for i in r.json["items"]], [bad["id"]])


class TestBadModels(RiskCase):
    def test_corrupt_booster(self):
        self.trained()
        self.keys()
        model = self.active_id()
        self.sql("UPDATE risk_models SET booster = X'7b226c6561726e6572223a' WHERE id=?", (model,))
        for action in ("score", "eval"):
            p = run("risk", action, "--db", self.db, "--format", "kcs", BASE["valid"],
                    check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("corrupt", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        srv = self.serve()
        self.assertEqual(srv.get("/healthz").status, 200)
        risk = self.submit(srv, 1)[0][1]["risk"]
        self.assertIsNone(risk["model"])
        detail = risk["reasons"][0]["detail"]
        self.assertTrue(detail.startswith("no model: lane by rules"), detail)
        self.assertIn("corrupt", detail)
        self.stop_clean(srv)

    def test_feature_mismatch(self):
        self.trained()
        model = self.active_id()
        feats = json.loads(self.sql("SELECT features FROM risk_models WHERE id=?", (model,))[0][0])
        feats[3] = "tax_amount"
        self.sql("UPDATE risk_models SET features=? WHERE id=?", (json.dumps(feats), model))
        p = run("risk", "score", "--db", self.db, "--format", "kcs", BASE["valid"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("feature mismatch", p.stderr)
        self.assertIn("tax_amount", p.stderr)

    def test_model_files(self):
        self.trained()
        out = os.path.join(self.tmp, "model.json")
        run("risk", "export", "--db", self.db, "--out", out)
        with open(out) as f:
            doc = json.load(f)
        self.assertEqual(doc["format"], "customs-risk-model/1")
        other = os.path.join(self.tmp, "other.db")
        p = run("risk", "import", "--db", other, out)
        self.assertEqual(p.stdout.strip(), doc["id"])
        run("risk", "activate", "--db", other, doc["id"])
        a = run("risk", "eval", "--db", self.db, "--format", "kcs", "--json", BASE["valid"])
        b = run("risk", "eval", "--db", other, "--format", "kcs", "--json", BASE["valid"])
        self.assertEqual(json.loads(a.stdout), json.loads(b.stdout))
        # the same file twice, a mismatched one, garbage and a missing one
        p = run("risk", "import", "--db", other, out, check=False)
        self.assertIn("already in the registry", p.stderr)
        doc["id"] = "01AAAAAAAAAAAAAAAAAAAAAAAA"
        doc["feature_set"] = 99
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            json.dump(doc, f)
        p = run("risk", "import", "--db", other, bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("feature mismatch", p.stderr)
        doc["feature_set"] = 1
        doc["booster"] = {"learner": "not a booster"}
        with open(bad, "w") as f:
            json.dump(doc, f)
        p = run("risk", "import", "--db", other, bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("corrupt", p.stderr)
        with open(bad, "w") as f:
            f.write("garbage")
        p = run("risk", "import", "--db", other, bad, check=False)
        self.assertIn("not a model file", p.stderr)
        p = run("risk", "import", "--db", other, os.path.join(self.tmp, "nope.json"),
                check=False)
        self.assertIn("cannot open", p.stderr)
        self.assertEqual(len(json.loads("[" + ",".join(
            run("risk", "models", "--db", other, "--json").stdout.split()) + "]")), 1)


class TestEval(RiskCase):
    def test_eval_output_format(self):
        self.trained()
        p = run("risk", "eval", "--db", self.db, "--format", "kcs", "--json", BASE["valid"])
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        m = json.loads(lines[0])
        self.assertEqual(set(m), METRIC_KEYS | REVENUE_KEYS)
        self.assertEqual(m["n"], 600)
        for k in METRIC_KEYS - {"n"}:
            self.assertTrue(0.0 <= m[k] <= 1.0, (k, m[k]))
        # revenue recovered (DATE): grows with the share inspected, bounded by
        # the fraud rows' revenue; ranking by expected recovery recovers more
        rec = [m[f"revenue_recovered_at_{k}"] for k in (1, 5, 10)]
        self.assertEqual(m["rank"], "score")
        self.assertTrue(0 <= rec[0] <= rec[1] <= rec[2] <= m["fraud_revenue"], m)
        r = json.loads(run("risk", "eval", "--db", self.db, "--format", "kcs", "--json",
                           "--rank", "revenue", BASE["valid"]).stdout)
        self.assertEqual((r["rank"], r["fraud_revenue"]), ("revenue", m["fraud_revenue"]))
        self.assertGreaterEqual(r["revenue_recovered_at_10"], rec[2])
        p = run("risk", "eval", "--db", self.db, "--format", "kcs", BASE["valid"])
        for label in ("AUC", "precision@1%", "precision@5%", "precision@10%", "recall@5%",
                      "recall@10%", "revenue@10%"):
            self.assertIn(label, p.stdout)
        svg, png = os.path.join(self.tmp, "c.svg"), os.path.join(self.tmp, "c.png")
        run("risk", "eval", "--db", self.db, "--format", "kcs", "--plot", svg, BASE["valid"])
        with open(svg) as f:
            self.assertIn("<svg", f.read(2000))
        p = run("risk", "eval", "--db", self.db, "--format", "kcs", "--json", "--plot", png,
                BASE["valid"])
        self.assertEqual(len(p.stdout.splitlines()), 1)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        p = run("risk", "eval", "--db", self.db, "--format", "kcs", "--plot", "c.gif",
                BASE["valid"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(".svg or .png", p.stderr)
        # a file without outcomes cannot be evaluated, but can be scored
        header, rows = read_rows(BASE["valid"], 20)
        path = os.path.join(self.tmp, "nolabels.csv")
        write_rows(path, header[:20], [r[:20] for r in rows])
        p = run("risk", "eval", "--db", self.db, "--format", "kcs", path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no Fraud column", p.stderr)
        p = run("risk", "score", "--db", self.db, "--format", "kcs", "--reasons", path)
        rows_out = list(csv.DictReader(io.StringIO(p.stdout)))
        self.assertEqual(len(rows_out), 20)
        self.assertEqual(len(rows_out[0]["reasons"].split(";")), 3)

    def test_foreign_currency_values_are_compared_in_krw(self):
        """Issue 15: an item priced in USD is scored on its value in KRW at
        the database's exchange rate (revenue's), not flagged for its
        currency; without a rate its value is not comparable, as before."""
        self.trained()
        self.keys()
        header, rows = read_rows(BASE["valid"])
        path = os.path.join(self.tmp, "usd.csv")
        write_rows(path, header + ["Currency"],
                   [r + ["USD" if i % 4 == 0 else "KRW"] for i, r in enumerate(rows)])

        def ev(f):
            return json.loads(run("risk", "eval", "--db", self.db, "--json", f).stdout)
        krw, before = ev(BASE["valid"]), ev(path)
        # without a rate the USD rows have no value (and no revenue at risk)
        self.assertLess(before["fraud_revenue"], krw["fraud_revenue"])
        self.assertNotEqual(before["auc"], krw["auc"])
        rates = os.path.join(self.tmp, "rates.csv")
        with open(rates, "w") as f:
            f.write("date,currency,rate\n2020-01-01,USD,1\n")
        run("rates", "import", "--db", self.db, "--currency", "KRW", rates)
        self.assertEqual(ev(path), krw)  # 1 KRW per USD: the very same figures
        bad = os.path.join(self.tmp, "bad.csv")
        write_rows(bad, header + ["Currency"], [rows[0] + ["US"], rows[1] + ["KRW"]])
        p = run("risk", "eval", "--db", self.db, "--json", bad, check=False)
        self.assertEqual(p.returncode, 3)  # a row skipped, as for any bad cell
        self.assertIn("column Currency: \"US\" is not an ISO 4217 currency code", p.stderr)
        # at submission: the same row in USD scores as in KRW; in EUR (no
        # rate) its value is not comparable and the score moves
        srv = self.serve()
        row = BASE["valid_rows"][3]
        risk = {}
        for cur in ("KRW", "USD", "EUR"):
            d = declaration(row, f"C-{cur}")
            d["items"][0]["currency"] = cur
            r = srv.post("/v1/declarations", d, token=self.trader)
            self.assertEqual(r.status, 201, r)
            risk[cur] = r.json["risk"]
        self.assertEqual(risk["USD"]["score"], risk["KRW"]["score"])
        for cur in ("KRW", "USD"):
            self.assertNotIn("exchange rate", json.dumps(risk[cur]["reasons"]))
        self.assertNotEqual(risk["EUR"]["score"], risk["KRW"]["score"])

    def test_score_skips_bad_rows(self):
        self.trained()
        header, rows = read_rows(BASE["valid"], 10)
        rows = [list(r) for r in rows]
        rows[2][18] = "-5"
        rows[6][1] = "2021-13-01"
        path = os.path.join(self.tmp, "some-bad.csv")
        write_rows(path, header, rows)
        p = run("risk", "score", "--db", self.db, "--format", "kcs", path, check=False)
        self.assertEqual(p.returncode, 3)
        self.assertIn(f"{path}:4: skipped: column Net Mass", p.stderr)
        self.assertIn(f"{path}:8: skipped: column Date", p.stderr)
        self.assertEqual(len(p.stdout.splitlines()), 1 + 8)


class TestApi(RiskCase):
    def test_inspection_feedback(self):
        self.trained()
        self.keys()
        srv = self.serve()
        d = self.submit(srv, 1)[0][1]
        url = f"/v1/declarations/{d['id']}/inspection"
        r = srv.post(url, {"result": "fraud", "critical": True, "revenue_recovered": 125000.5,
                           "notes": "undervalued; seal intact"}, token=self.officer)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["result"], "fraud")
        self.assertEqual(r.json["inspected_by"]["org"], "CUSTOMS")
        self.assertEqual(r.json["inspected_by"]["role"], "officer")
        self.assertEqual(srv.post(url, {"result": "fraud"}, token=self.trader).status, 403)
        r = srv.post(url, {"result": "maybe", "critical": "yes", "revenue_recovered": -1,
                           "extra": 1}, token=self.officer)
        self.assertEqual(r.status, 400)
        paths = {p["path"] for p in r.json["error"]["details"]}
        self.assertEqual(paths, {"/result", "/critical", "/revenue_recovered", "/extra"})
        r = srv.post(url, {"result": "compliant", "critical": True}, token=self.officer)
        self.assertEqual([p["path"] for p in r.json["error"]["details"]], ["/critical"])
        r = srv.post("/v1/declarations/01ZZZZZZZZZZZZZZZZZZZZZZZZ/inspection",
                     {"result": "fraud"}, token=self.officer)
        self.assertEqual(r.status, 404)
        g = srv.get(f"/v1/declarations/{d['id']}", token=self.trader).json
        self.assertEqual(g["inspection"]["result"], "fraud")
        self.assertEqual(g["inspection"]["critical"], True)
        self.assertEqual(g["inspection"]["revenue_recovered"], 125000.5)
        self.assertEqual(g["inspection"]["notes"], "undervalued; seal intact")
        self.assertEqual(g["inspection"]["inspections"], 1)
        r = srv.post(url, {"result": "compliant"}, token=self.admin)
        self.assertEqual(r.status, 201)
        g = srv.get(f"/v1/declarations/{d['id']}", token=self.officer).json
        self.assertEqual((g["inspection"]["result"], g["inspection"]["inspections"]),
                         ("compliant", 2))
        srv.stop()
        # the outcome feeds the next training
        p = run("risk", "train", "--db", self.db, "--rounds", "10", "--json")
        self.assertEqual(json.loads(p.stdout)["n_train"], SLICE + 1)

    def test_risk_queue(self):
        self.trained()
        self.keys()
        srv = self.serve()
        subs = self.submit(srv, 25)
        self.assertEqual(srv.get("/v1/risk/queue", token=self.trader).status, 403)
        seen, cursor, pages = [], None, 0
        while True:
            q = "/v1/risk/queue?limit=400&org=ACME" + (f"&cursor={cursor}" if cursor else "")
            r = srv.get(q, token=self.officer)
            self.assertEqual(r.status, 200, r)
            seen += r.json["items"]
            pages += 1
            cursor = r.json["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), 25)
        r = srv.get("/v1/risk/queue?limit=7&org=ACME", token=self.officer)
        page1 = r.json["items"]
        r2 = srv.get(f"/v1/risk/queue?limit=7&org=ACME&cursor={r.json['next_cursor']}",
                     token=self.officer)
        ids = [i["id"] for i in page1 + r2.json["items"]]
        self.assertEqual(len(set(ids)), 14)
        self.assertEqual(ids, [i["id"] for i in seen[:14]])
        scores = [i["risk"]["score"] for i in seen]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertEqual({i["id"] for i in seen}, {d["id"] for _, d in subs})
        for lane in ("red", "green"):
            r = srv.get(f"/v1/risk/queue?lane={lane}&limit=500", token=self.officer)
            self.assertTrue(all(i["risk"]["lane"] == lane for i in r.json["items"]))
        office = subs[0][1]["office"]
        r = srv.get(f"/v1/risk/queue?office={office}&org=ACME&limit=500", token=self.officer)
        self.assertTrue(r.json["items"])
        self.assertTrue(all(i["office"] == office for i in r.json["items"]))
        srv.post(f"/v1/declarations/{seen[0]['id']}/inspection", {"result": "fraud"},
                 token=self.officer)
        r = srv.get("/v1/risk/queue?org=ACME&inspected=true", token=self.officer)
        self.assertEqual([i["id"] for i in r.json["items"]], [seen[0]["id"]])
        self.assertEqual(r.json["items"][0]["inspection"]["result"], "fraud")
        r = srv.get("/v1/risk/queue?org=ACME&inspected=false&limit=500", token=self.officer)
        self.assertEqual(len(r.json["items"]), 24)
        r = srv.get("/v1/risk/queue?lane=purple&limit=0&cursor=zz", token=self.officer)
        self.assertEqual(r.status, 400)
        self.assertEqual({p["path"] for p in r.json["error"]["details"]},
                         {"/lane", "/limit", "/cursor"})
        # the open work (read from declare's index of open declarations):
        # refused ones leave it, held ones stay; every page in the queue's
        # order, the same as the whole queue filtered by hand
        for x in seen[1:6]:
            r = srv.post(f"/v1/declarations/{x['id']}/decision",
                         {"decision": "refuse", "reason": "test"}, token=self.officer)
            self.assertEqual(r.status, 200, r)
        for x in seen[6:9]:
            r = srv.post(f"/v1/declarations/{x['id']}/decision",
                         {"decision": "hold", "reason": "test"}, token=self.officer)
            self.assertEqual(r.status, 200, r)
        whole = srv.get("/v1/risk/queue?limit=500", token=self.officer).json["items"]
        for status in ("open", "submitted,held", "held", "submitted"):
            allowed = {"open": {"submitted", "held"}}.get(status, set(status.split(",")))
            for extra in ("", "&org=ACME", "&rank=revenue", "&lane=" + seen[0]["risk"]["lane"]):
                got, cursor = [], None
                while True:
                    r = srv.get(f"/v1/risk/queue?status={status}{extra}&limit=4"
                                + (f"&cursor={cursor}" if cursor else ""), token=self.officer)
                    self.assertEqual(r.status, 200, r)
                    got += [i["id"] for i in r.json["items"]]
                    cursor = r.json["next_cursor"]
                    if not cursor:
                        break
                ref = whole if "rank=" not in extra else srv.get(
                    "/v1/risk/queue?limit=500" + extra, token=self.officer).json["items"]
                want = [i["id"] for i in ref if i["status"] in allowed
                        and ("lane=" not in extra or i["risk"]["lane"] == seen[0]["risk"]["lane"])]
                self.assertEqual(got, want, (status, extra))
        self.assertEqual(len([i for i in whole if i["status"] in ("submitted", "held")]), 20)

    def test_risk_queue_by_revenue_at_risk(self):
        """Issue 15: ?rank=revenue orders the queue by probability × revenue
        at risk (the assessment's), pages with sealed cursors, and refuses
        an unknown rank naming the parameter."""
        self.trained()
        self.keys()
        chapters = sorted({row[12][:2] for row in BASE["valid_rows"][:40]})
        tariff = os.path.join(self.tmp, "tariff.csv")
        with open(tariff, "w") as f:
            f.write("hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,specific_amount,"
                    "specific_unit,excise_pct,vat_pct,description\n")
            for ch in chapters:  # duty grows with the chapter: totals differ from scores
                f.write(f"{ch},2020-01-01,,ad_valorem,{int(ch) % 13},,,,10,chapter {ch}\n")
        rates = os.path.join(self.tmp, "rates.csv")
        with open(rates, "w") as f:
            f.write("date,currency,rate\n2020-01-01,USD,1300\n")
        run("rates", "import", "--db", self.db, "--currency", "KRW", rates)
        run("tariff", "import", "--db", self.db, tariff)
        srv = self.serve()
        subs = self.submit(srv, 40, prefix="RV")
        totals = {d["id"]: d["assessment"]["total"] for _, d in subs}
        self.assertGreater(len(set(totals.values())), 10)

        def walk(rank, limit):
            seen, cursor = [], None
            while True:
                q = f"/v1/risk/queue?org=ACME&rank={rank}&limit={limit}"
                r = srv.get(q + (f"&cursor={cursor}" if cursor else ""), token=self.officer)
                self.assertEqual(r.status, 200, r)
                seen += r.json["items"]
                cursor = r.json["next_cursor"]
                if not cursor:
                    return seen
                self.assertNotIn(":", cursor)  # sealed, not "rank:seq"
                self.assertNotIn(str(r.json["items"][-1]["risk"]["score"]), cursor)
        by_rev = walk("revenue", 7)
        self.assertEqual(len(by_rev), 40)
        self.assertEqual({i["id"] for i in by_rev}, set(totals))
        for i in by_rev:
            self.assertEqual(i["revenue_at_risk"], totals[i["id"]])
        expected = [i["risk"]["score"] * i["revenue_at_risk"] for i in by_rev]
        self.assertEqual(expected, sorted(expected, reverse=True))
        by_score = walk("score", 9)
        self.assertEqual([i["id"] for i in by_score],
                         [i["id"] for i in walk("score", 500)])
        self.assertNotEqual([i["id"] for i in by_rev], [i["id"] for i in by_score])
        scores = [i["risk"]["score"] for i in by_score]
        self.assertEqual(scores, sorted(scores, reverse=True))
        # the default is rank=score, with the same sealed cursors
        r = srv.get("/v1/risk/queue?org=ACME&limit=9", token=self.officer)
        self.assertEqual([i["id"] for i in r.json["items"]], [i["id"] for i in by_score[:9]])
        for bad in ("rank=expected", "rank=Revenue", "rank="):
            r = srv.get(f"/v1/risk/queue?{bad}", token=self.officer)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual([p["path"] for p in r.json["error"]["details"]], ["/rank"])
        for bad in (f"{by_score[0]['risk']['score']}:1", "1", "zz"):
            r = srv.get(f"/v1/risk/queue?rank=revenue&cursor={bad}", token=self.officer)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual([p["path"] for p in r.json["error"]["details"]], ["/cursor"])
        # a re-assessment re-ranks: the last declaration of the revenue order,
        # re-assessed after its chapters' duty went up, climbs with its new total
        last = [i for i in by_rev if i["risk"]["score"] > 0][-1]
        doc = [d for _, d in subs if d["id"] == last["id"]][0]
        with open(tariff, "w") as f:
            f.write("hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,specific_amount,"
                    "specific_unit,excise_pct,vat_pct,description\n")
            for ch in sorted({it["hs_code"][:2] for it in doc["items"]}):
                f.write(f"{ch},2020-01-01,,ad_valorem,900,,,,10,chapter {ch}\n")
        run("tariff", "import", "--db", self.db, tariff)
        r = srv.post(f"/v1/declarations/{last['id']}/assessment",
                     {"reason": "duty corrected"}, token=self.officer)
        self.assertEqual(r.status, 200, r)
        total = r.json["assessment"]["total"]
        self.assertGreater(total, totals[last["id"]])
        again = walk("revenue", 7)
        moved = [i for i in again if i["id"] == last["id"]][0]
        self.assertEqual(moved["revenue_at_risk"], total)
        expected = [i["risk"]["score"] * i["revenue_at_risk"] for i in again]
        self.assertEqual(expected, sorted(expected, reverse=True))
        self.assertLess([i["id"] for i in again].index(last["id"]),
                        [i["id"] for i in by_rev].index(last["id"]))

    def test_risk_summary(self):
        """Declarations received since a moment by lane and status, inspected and fraud:
        the console's overview. The clock is frozen on a later day, so only this test's
        submissions are "today"."""
        self.trained()
        self.keys()
        srv = self.serve(env={"CUSTOMS_FAKE_NOW": "2031-05-06T10:00:00Z"})
        self.assertEqual(srv.get("/v1/risk/summary", token=self.trader).status, 403)
        subs = self.submit(srv, 6)
        srv.post(f"/v1/declarations/{subs[0][1]['id']}/inspection", {"result": "fraud"},
                 token=self.officer)
        srv.post(f"/v1/declarations/{subs[1][1]['id']}/inspection", {"result": "fraud"},
                 token=self.officer)
        srv.post(f"/v1/declarations/{subs[1][1]['id']}/inspection", {"result": "compliant"},
                 token=self.officer)
        r = srv.get("/v1/risk/summary", token=self.officer)
        self.assertEqual(r.status, 200, r)
        s = r.json
        self.assertEqual(s["since"], "2031-05-06T00:00:00.000Z")
        self.assertEqual((s["declarations"], s["inspected"], s["fraud"]), (6, 2, 1))
        lanes = {}
        for d in (d for _, d in subs):
            lanes[d["risk"]["lane"]] = lanes.get(d["risk"]["lane"], 0) + 1
        self.assertEqual({g["lane"]: g["count"] for g in s["groups"]}, lanes)
        self.assertTrue(all(g["status"] == "submitted" for g in s["groups"]))
        self.assertEqual(sum(g["inspected"] for g in s["groups"]), 2)
        self.assertEqual(s["historical"], 0)
        # an explicit moment in any zone; the training data of 2020 was received earlier
        r = srv.get("/v1/risk/summary?since=2031-05-06T12:00:00%2B02:00", token=self.officer)
        self.assertEqual((r.json["since"], r.json["declarations"]),
                         ("2031-05-06T10:00:00.000Z", 6))
        # the KCS training rows are history: counted apart, never as work
        r = srv.get("/v1/risk/summary?since=2000-01-01T00:00:00Z", token=self.officer)
        self.assertEqual((r.json["declarations"], r.json["historical"]), (6, SLICE))
        hist = [g for g in r.json["groups"] if g["status"] == "historical"]
        self.assertEqual(sum(g["count"] for g in hist), SLICE)
        self.assertEqual({g["lane"] for g in hist}, {None})
        self.assertEqual(sum(g["inspected"] for g in hist), SLICE)
        r = srv.get("/v1/risk/summary?since=2031-05-07T00:00:00Z", token=self.officer)
        self.assertEqual((r.json["declarations"], r.json["groups"]), (0, []))
        r = srv.get("/v1/risk/summary?since=yesterday", token=self.officer)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/since")

    def test_models_api(self):
        self.trained()
        self.keys()
        srv = self.serve()
        model = self.active_id()
        r = srv.get("/v1/risk/models", token=self.officer)
        self.assertEqual([m["id"] for m in r.json["items"]], [model])
        self.assertEqual(srv.get("/v1/risk/models", token=self.trader).status, 403)
        r = srv.get("/v1/risk/models/active", token=self.officer)
        a = r.json
        self.assertEqual(a["id"], model)
        self.assertEqual(len(a["features"]), 46)
        curve = a["metrics"]["curve"]
        self.assertEqual([c["share"] for c in curve], list(range(1, 101)))
        self.assertTrue(all(0 <= c["precision"] <= 1 and 0 <= c["recall"] <= 1 for c in curve))
        imp = a["metrics"]["importance"]
        self.assertTrue(imp and set(imp[0]) == {"feature", "total_gain", "share"})
        self.assertIn(imp[0]["feature"], a["features"])
        self.assertNotIn("score_quantiles", a["metrics"])
        self.assertEqual(a["serving"]["model"], model)
        self.assertEqual(a["serving"]["lanes"]["inspect_rate"], 10)
        self.assertEqual(srv.get(f"/v1/risk/models/{model}", token=self.officer).json["id"],
                         model)
        self.assertEqual(srv.get("/v1/risk/models/nope", token=self.officer).status, 404)
        url = f"/v1/risk/models/{model}/activate"
        self.assertEqual(srv.post(url, None, token=self.officer).status, 403)
        r = srv.post(url, None, token=self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["serving"]["model"], model)
        self.assertEqual(srv.post("/v1/risk/models/nope/activate", None,
                                  token=self.admin).status, 404)

    def test_hs_search(self):
        p = run("hs", "search", "--json", "frozen", "boneless", "beef")
        res = json.loads(p.stdout)["results"]
        self.assertEqual(res[0]["code"], "020230")
        self.assertEqual(res, sorted(res, key=lambda r: -r["score"]))
        p = run("hs", "search", "glazed ceramic wall tiles")
        # printed as a declaration takes it (a dotted code is refused)
        self.assertRegex(p.stdout, r"^6907\d\d  ", p.stdout)
        p = run("hs", "search", "frozen", "shrimps", "--limit", "2")
        self.assertEqual(sorted(x[:6] for x in p.stdout.splitlines()), ["030616", "030617"])
        self.keys()
        srv = self.serve()
        r = srv.get("/v1/hs/search?q=frozen%20boneless%20beef&limit=3", token=self.trader)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json["results"]), 3)
        top = r.json["results"][0]
        self.assertEqual(top["code"], "020230")
        self.assertEqual(top["heading"]["code"], "0202")
        self.assertEqual(top["chapter"]["code"], "02")
        self.assertEqual(srv.get("/v1/hs/search", token=self.trader).status, 400)
        self.assertEqual(srv.get("/v1/hs/search?q=beef").status, 401)
        r = srv.get("/v1/hs/search?q=zzzqqq", token=self.trader)
        self.assertEqual(r.json["results"], [])


class TestDecision(RiskCase):
    """The officer's release / hold / refuse, and the risk module's gate:
    a red-lane declaration is released only after an inspection."""

    def decide(self, srv, d, body, token=None):
        return srv.post(f"/v1/declarations/{d['id']}/decision", body,
                        token=token or self.officer)

    def history(self, srv, d, token=None):
        r = srv.get(f"/v1/declarations/{d['id']}/decisions", token=token or self.officer)
        self.assertEqual(r.status, 200, r)
        return [(x["decision"], x["previous_status"], x["status"]) for x in r.json["items"]]

    def assert_one_status(self, body, want):
        # the stored text is rewritten, not appended to: one status member
        pairs = json.loads(body, object_pairs_hook=lambda kv: kv)
        self.assertEqual([v for k, v in pairs if k == "status"], [want])

    def test_green_release_is_final(self):
        self.trained()
        self.keys()
        srv = self.serve("--inspect-rate", "0", "--yellow-rate", "0", "--explore-rate", "0")
        d, other = (x[1] for x in self.submit(srv, 2))
        self.assertEqual(d["risk"]["lane"], "green")
        self.assertNotIn("decision", d)
        r = self.decide(srv, d, {"decision": "release"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "released")
        self.assert_one_status(r.body, "released")
        dec = r.json["decision"]
        self.assertEqual((dec["decision"], dec["status"], dec["previous_status"]),
                         ("release", "released", "submitted"))
        self.assertNotIn("reason", dec)
        self.assertEqual((dec["decided_by"]["org"], dec["decided_by"]["role"]),
                         ("CUSTOMS", "officer"))
        self.assertRegex(dec["decided_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        # every other member is as submitted
        self.assertEqual({k: v for k, v in r.json.items() if k not in ("status", "decision")},
                         {k: v for k, v in d.items() if k != "status"})
        # the declarant sees the outcome
        g = srv.get(f"/v1/declarations/{d['id']}", token=self.trader)
        self.assertEqual(g.json, r.json)
        self.assert_one_status(g.body, "released")
        self.assertEqual(self.history(srv, d, self.trader), [("release", "submitted", "released")])
        # final: a second decision is refused and changes nothing
        for body in ({"decision": "release"}, {"decision": "hold", "reason": "recheck"},
                     {"decision": "refuse", "reason": "late finding"}):
            r = self.decide(srv, d, body)
            self.assertEqual(r.status, 409, r)
            self.assertEqual(r.json["error"]["code"], "invalid_transition")
            self.assertEqual(r.json["error"]["details"][0]["path"], "/decision")
        self.assertEqual(len(self.history(srv, d)), 1)
        # the queue filters on the new status; it survives a restart
        q = srv.get("/v1/risk/queue?status=released", token=self.officer).json["items"]
        self.assertEqual([x["id"] for x in q], [d["id"]])
        q = q_open = srv.get("/v1/risk/queue?status=submitted,held&limit=500",
                             token=self.officer).json["items"]
        self.assertEqual([x["id"] for x in q], [other["id"]])
        self.assertEqual({x["status"] for x in q}, {"submitted"})
        q = srv.get("/v1/risk/queue?status=held,released", token=self.officer).json["items"]
        self.assertEqual([x["id"] for x in q], [d["id"]])
        r = srv.get("/v1/risk/queue?status=released;x", token=self.officer)
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/status"))
        # open is the documented alias of submitted,held; an unknown status is
        # a 400 that lists the allowed ones, never an empty 200
        o = srv.get("/v1/risk/queue?status=open&limit=500", token=self.officer).json["items"]
        self.assertEqual([x["id"] for x in o], [x["id"] for x in q_open])
        o = srv.get("/v1/risk/queue?status=open,released&limit=500",
                    token=self.officer).json["items"]
        self.assertIn(d["id"], [x["id"] for x in o])
        for bad in ("bogus", "", "submitted,,held", "OPEN", "held,", "x" * 40):
            r = srv.get("/v1/risk/queue?status=" + bad, token=self.officer)
            self.assertEqual(r.status, 400, (bad, r))
            det = r.json["error"]["details"][0]
            self.assertEqual(det["path"], "/status")
            for word in ("submitted", "held", "released", "refused", "historical", "open"):
                self.assertIn(word, det["message"])
        srv.stop()
        srv = self.serve()
        g = srv.get(f"/v1/declarations/{d['id']}", token=self.officer).json
        self.assertEqual((g["status"], g["decision"]["decision"]), ("released", "release"))
        lst = srv.get("/v1/declarations?limit=1000", token=self.trader).json["items"]
        self.assertEqual([x["status"] for x in lst if x["id"] == d["id"]], ["released"])
        # a stored risk that does not parse fails the page as every other
        # damaged record does (500), never a 200 that shows it as unscored
        con = sqlite3.connect(self.db, timeout=30)
        with con:
            con.execute("UPDATE declarations SET risk = '{\"lane\":' WHERE id = ?", (d["id"],))
        con.close()
        r = srv.get("/v1/risk/queue?status=released", token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (500, "internal"), r)
        self.assertEqual(r.json["error"]["message"], "a stored record is damaged")
        srv.stop()

    def test_red_lane_needs_an_inspection(self):
        self.trained()
        self.keys()
        srv = self.serve("--inspect-rate", "100", "--explore-rate", "0")
        d = self.submit(srv, 1)[0][1]
        self.assertEqual(d["risk"]["lane"], "red")
        r = self.decide(srv, d, {"decision": "release"})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json["error"]["code"], "decision_refused")
        self.assertEqual([x["path"] for x in r.json["error"]["details"]], ["/decision"])
        self.assertIn("red lane", r.json["error"]["details"][0]["message"])
        g = srv.get(f"/v1/declarations/{d['id']}", token=self.officer).json
        self.assertEqual(g["status"], "submitted")
        self.assertNotIn("decision", g)
        self.assertEqual(self.history(srv, d), [])
        # hold while the goods are examined, then release after the inspection
        r = self.decide(srv, d, {"decision": "hold", "reason": "physical examination"})
        self.assertEqual((r.status, r.json["status"]), (200, "held"), r)
        self.assertEqual(r.json["decision"]["reason"], "physical examination")
        r = self.decide(srv, d, {"decision": "hold", "reason": "again"})
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "invalid_transition"))
        self.assertEqual(self.decide(srv, d, {"decision": "release"}).status, 409)
        r = srv.post(f"/v1/declarations/{d['id']}/inspection", {"result": "compliant"},
                     token=self.officer)
        self.assertEqual(r.status, 201, r)
        r = self.decide(srv, d, {"decision": "release", "reason": "examined, compliant"},
                        token=self.admin)
        self.assertEqual((r.status, r.json["status"]), (200, "released"), r)
        self.assertEqual(r.json["inspection"]["result"], "compliant")
        self.assertEqual(r.json["decision"]["decided_by"]["role"], "admin")
        self.assertEqual(self.history(srv, d), [("hold", "submitted", "held"),
                                                ("release", "held", "released")])
        # refusal needs no inspection
        e = self.submit(srv, 1, start=1, prefix="R")[0][1]
        r = self.decide(srv, e, {"decision": "refuse", "reason": "licence missing"})
        self.assertEqual((r.status, r.json["status"]), (200, "refused"), r)
        self.assertEqual(self.decide(srv, e, {"decision": "release"}).json["error"]["code"],
                         "invalid_transition")

    def test_historical_rows_are_records(self):
        """Rows of a KCS import are history: final, never scored or queued,
        never decided on; training still learns from their outcomes."""
        self.trained()
        self.keys()
        srv = self.serve()
        items = srv.get("/v1/declarations?limit=5", token=self.officer).json["items"]
        self.assertEqual(len(items), 5)
        for h in items:
            self.assertEqual(h["status"], "historical")
            self.assertNotIn("risk", h)
            self.assertIn("inspection", h)  # the outcome KCS recorded
            r = self.decide(srv, h, {"decision": "release"})
            self.assertEqual((r.status, r.json["error"]["code"]), (409, "invalid_transition"))
            self.assertIn("historical", r.json["error"]["details"][0]["message"])
        q = srv.get("/v1/risk/queue?limit=500", token=self.officer).json["items"]
        self.assertEqual(q, [])
        srv.stop()
        p = run("risk", "train", "--db", self.db, "--rounds", "5", "--json")
        self.assertEqual(json.loads(p.stdout)["n_train"], SLICE)

    def test_bad_decisions_change_nothing(self):
        self.keys()
        other = create_key(self.db, "OTHER", "trader")
        carrier = create_key(self.db, "SHIP", "carrier")
        srv = self.serve()
        d = self.submit(srv, 1)[0][1]
        cases = [
            ({}, ["/decision"]),
            ({"decision": "hold"}, ["/reason"]),
            ({"decision": "refuse", "reason": ""}, ["/reason"]),
            ({"decision": "approve", "reason": 5, "note": "x"}, ["/note", "/decision", "/reason"]),
            ({"decision": "release", "reason": "x" * 1001}, ["/reason"]),
            ([], [""]),
        ]
        for body, paths in cases:
            r = self.decide(srv, d, body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(r.json["error"]["code"], "invalid_decision")
            self.assertEqual(sorted(x["path"] for x in r.json["error"]["details"]),
                             sorted(paths), body)
        r = srv.request("POST", f"/v1/declarations/{d['id']}/decision", body="{", token=self.officer)
        self.assertEqual(r.json["error"]["code"], "invalid_json")
        for tok in (self.trader, carrier):
            self.assertEqual(self.decide(srv, d, {"decision": "release"}, tok).status, 403)
        r = srv.post("/v1/declarations/01ZZZZZZZZZZZZZZZZZZZZZZZZ/decision",
                     {"decision": "release"}, token=self.officer)
        self.assertEqual(r.status, 404)
        self.assertEqual(srv.get("/v1/declarations/01ZZZZZZZZZZZZZZZZZZZZZZZZ/decisions",
                                 token=self.officer).status, 404)
        # another org's trader learns nothing, not even that it exists
        self.assertEqual(srv.get(f"/v1/declarations/{d['id']}/decisions", token=other).status,
                         404)
        self.assertEqual(self.sql("SELECT status, decision FROM declarations"),
                         [("submitted", None)])
        self.assertEqual(self.sql("SELECT count(*) FROM declaration_decisions"), [(0,)])


if __name__ == "__main__":
    unittest.main()
