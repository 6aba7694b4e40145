"""Hot keys (issue 17): values a caller chooses — a bill of lading, a
container, an importer — shared by thousands of declarations. Every lookup by
them is indexed and bounded, and what it finds stays right: the mirror check
on a bill of lading with 10,000 earlier declarations, and the seal alert on a
container with 300 earlier filings, which must still turn the newest
declaration red. Behaviour only; the figures are bench/hotkeys's."""
import datetime
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key, declaration, run  # noqa: E402
from trackkit import now_ms, setup_world, wait_for  # noqa: E402

BL = "MAEU-HOT-0001"
BOX = "CSQU3054383"


def bulk(path, n, prefix, value=None, **over):
    """n declarations sharing BL, container and importer, as JSONL."""
    with open(path, "w") as f:
        for i in range(n):
            d = declaration(f"{prefix}-{i}", **over)
            if value is not None:
                d["items"][0]["value"] = value
            f.write(json.dumps(d) + "\n")


class HotKeysTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "KCS", "officer")
        self.trader = create_key(self.db, "ACME", "trader")

    def lane(self, srv, decl):
        return srv.get("/v1/declarations/" + decl, token=self.officer).json["risk"]["lane"]

    def test_mirror_check_with_10000_declarations_on_one_bill(self):
        path = os.path.join(self.tmp, "flood.jsonl")
        td = {"type": "BL", "number": BL}
        bulk(path, 10000, "FLOOD", value=30000, type="export", office="VNSGN",
             transport_document=td)
        p = run("import", "--db", self.db, "--org", "ACME", "--format", "jsonl", "--no-progress",
                path)
        self.assertIn("imported 10000, rejected 0", p.stdout)
        srv = self.serve()
        # an import behind 10,000 exports of its value on its bill: it meets
        # the newest of them, no mismatch
        d = declaration("REAL-IMP", transport_document=td)
        d["items"][0]["value"] = 30000
        r = srv.post("/v1/declarations", d, token=self.trader)
        self.assertEqual(r.status, 201, r)
        imp = r.json["id"]
        self.assertEqual(srv.get("/v1/ledger/findings", token=self.officer).json["items"], [])
        # an export a third of its value: the pair is found among 10,001
        # declarations on the bill, reading only the imports
        d = declaration("REAL-EXP", type="export", transport_document=td)
        d["items"][0]["value"] = 10000
        r = srv.post("/v1/declarations", d, token=self.trader)
        self.assertEqual(r.status, 201, r)
        exp = r.json["id"]
        self.assertEqual(self.lane(srv, exp), "red")
        got = srv.get("/v1/ledger/findings?declaration_id=" + exp, token=self.trader).json["items"]
        self.assertEqual([(f["rule"], f["details"]["value"]) for f in got],
                         [("mirror_value_mismatch", 10000)])
        self.assertIn("66.7%", got[0]["message"])
        theirs = srv.get("/v1/ledger/findings?declaration_id=" + imp, token=self.officer)
        self.assertEqual([f["details"]["value"] for f in theirs.json["items"]], [30000])
        # an export within tolerance of the import: nothing new
        d = declaration("FAIR-EXP", type="export", transport_document=td)
        d["items"][0]["value"] = 29000
        fair = srv.post("/v1/declarations", d, token=self.trader).json["id"]
        self.assertEqual(srv.get("/v1/ledger/findings?declaration_id=" + fair,
                                 token=self.officer).json["items"], [])

    def test_seal_alert_reaches_the_newest_of_300_filings_on_a_container(self):
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        path = os.path.join(self.tmp, "earlier.jsonl")
        bulk(path, 300, "EARLIER", date=today, containers=[BOX])
        p = run("import", "--db", self.db, "--org", "ACME", "--format", "jsonl", "--no-progress",
                path)
        self.assertIn("imported 300, rejected 0", p.stdout)
        srv = self.serve()
        r = srv.post("/v1/declarations", declaration("NEWEST", date=today, containers=[BOX]),
                     token=self.trader)
        self.assertEqual(r.status, 201, r)
        newest = r.json["id"]
        named = srv.post("/v1/declarations", declaration("NAMED", date="2020-01-01"),
                         token=self.trader).json["id"]
        # the consignment names one declaration (dated long before: linked
        # all the same); the rest come from its container
        setup_world(srv, self.officer, declarations=[named])
        t = now_ms()
        r = srv.post("/v1/telemetry", [
            {"device": "TRK-1", "ts": t - 2000, "lat": 0, "lon": 30.3, "seal": "closed"},
            {"device": "TRK-1", "ts": t - 1000, "lat": 0, "lon": 30.31, "seal": "open"}],
            token=self.officer)
        self.assertEqual(r.status, 200, r)
        alert = wait_for(lambda: srv.get("/v1/alerts?type=seal_opened", token=self.officer)
                         .json["items"], "the seal alert")[0]
        self.assertEqual(len(alert["declarations"]), 257)
        self.assertEqual(alert["declarations"][:2], [named, newest])
        wait_for(lambda: self.lane(srv, newest) == "red", "the newest declaration to turn red")
        wait_for(lambda: self.lane(srv, named) == "red", "the named declaration to turn red")


if __name__ == "__main__":
    unittest.main()
