"""Upgrades: a database an older binary wrote, opened by this one. The
fixture (data/upgrade/risk3-revenue5.sql, made by make-fixture beside it with
the binary of 5786c70) is at risk 3 and revenue 5: opening it runs risk
migration 4 (the queue of one organisation) and revenue migration 6 (a bank's
refunds), and every migration of every module since, up to this binary's
current versions, whatever they are now. Each must keep the rows and the new
behaviour must hold for the rows written before it."""
import os
import sqlite3
import sys
import unittest
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import HERE, TempDirTestCase, create_key, declaration  # noqa: E402

FIXTURE = os.path.join(HERE, "data", "upgrade", "risk3-revenue5.sql")


def rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def versions(db):
    return dict(rows(db, "SELECT module, version FROM schema_migrations"))


class UpgradeTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        with open(FIXTURE) as f:
            dump = f.read()
        con = sqlite3.connect(self.db)
        con.executescript(dump)
        con.close()
        self.old = versions(self.db)
        self.assertEqual((self.old["risk"], self.old["revenue"]), (3, 5))
        # what the old binary wrote, to compare after the upgrade
        self.scores = rows(self.db, "SELECT seq, score, rank, office, model_id, at_risk, "
                                    "expected FROM risk_scores ORDER BY seq")
        self.assessed = rows(self.db, "SELECT seq, version, total, paid, refunded, doc "
                                      "FROM revenue_assessments ORDER BY seq")
        self.refunds = rows(self.db, "SELECT id, seq, amount, status FROM revenue_refunds "
                                     "ORDER BY id")
        self.assertEqual(len(self.scores), 3)
        self.assertEqual(len(self.refunds), 3)
        # the binary under test opens it first (every module migrates)
        self.officer = create_key(self.db, "KCS", "officer")
        self.acme = create_key(self.db, "ACME", "trader")
        self.bank = create_key(self.db, "HANSEONG-BANK", "bank")
        self.bank2 = create_key(self.db, "DAEHAN-BANK", "bank")
        fresh = os.path.join(self.tmp, "fresh.db")
        create_key(fresh, "KCS", "officer")
        self.current = versions(fresh)
        self.srv = self.serve("--currency", "KRW", "--inspect-rate", "0", "--explore-rate", "0",
                              "--quiet")

    def queue(self, org, rank):
        r = self.srv.get(f"/v1/risk/queue?org={org}&rank={rank}&limit=50", self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["next_cursor"])
        return {i["reference"]: i["id"] for i in r.json["items"]}

    def test_every_module_reaches_the_current_version(self):
        self.assertEqual(versions(self.db), self.current)
        self.assertGreater(self.current["risk"], 3)
        self.assertGreater(self.current["revenue"], 5)

    def test_risk_4_one_organisations_queue_keeps_the_old_rows(self):
        for rank in ("score", "revenue"):
            self.assertEqual(set(self.queue("ACME", rank)), {"ACME-1", "ACME-2"}, rank)
            self.assertEqual(set(self.queue("HANBIT", rank)), {"HANBIT-1"}, rank)
            self.assertEqual(self.queue("NOBODY", rank), {}, rank)
        # a declaration lodged after the upgrade joins its organisation's queue
        r = self.srv.post("/v1/declarations", declaration("ACME-3"), self.acme)
        self.assertEqual(r.status, 201, r)
        for rank in ("score", "revenue"):
            self.assertEqual(set(self.queue("ACME", rank)), {"ACME-1", "ACME-2", "ACME-3"}, rank)
        self.srv.stop()
        self.assertEqual(rows(self.db, "SELECT seq, score, rank, office, model_id, at_risk, "
                                       "expected FROM risk_scores WHERE seq <= 3 ORDER BY seq"),
                         self.scores)
        self.assertEqual(rows(self.db, "SELECT org FROM risk_scores ORDER BY seq"),
                         [("ACME",), ("ACME",), ("HANBIT",), ("ACME",)])

    def test_revenue_6_each_bank_lists_the_refunds_of_what_it_paid(self):
        ids = {**self.queue("ACME", "score"), **self.queue("HANBIT", "score")}
        every = {x["declaration"]: x["id"] for x in self.srv.get("/v1/refunds", self.officer)
                 .json["items"]}
        self.assertEqual(set(every), set(ids.values()))
        refund = {ref: every[d] for ref, d in ids.items()}

        def listed(token, q=""):
            r = self.srv.get("/v1/refunds" + q, token)
            self.assertEqual(r.status, 200, r)
            return [x["id"] for x in r.json["items"]]

        # HANSEONG-BANK paid on ACME-1 and ACME-2, DAEHAN-BANK on ACME-2; KCS
        # paid HANBIT-1 at the counter: no bank's
        self.assertEqual(sorted(listed(self.bank)), sorted([refund["ACME-1"], refund["ACME-2"]]))
        self.assertEqual(listed(self.bank2), [refund["ACME-2"]])
        self.assertEqual(listed(self.bank2, "?status=due"), [refund["ACME-2"]])
        paid_at = (datetime.now(timezone.utc) + timedelta(seconds=60)).isoformat(
            timespec="seconds")
        r = self.srv.post(f"/v1/refunds/{refund['ACME-2']}/payout",
                          {"reference": "DH-RF", "paid_at": paid_at}, self.bank2)
        self.assertEqual((r.status, r.json["refund"]["payout"]["by"]), (200, "DAEHAN-BANK"), r)
        r = self.srv.post(f"/v1/refunds/{refund['ACME-2']}/payout",
                          {"reference": "HS-RF", "paid_at": paid_at}, self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "refund_paid"), r)
        r = self.srv.post(f"/v1/refunds/{refund['HANBIT-1']}/payout",
                          {"reference": "HS-RF2", "paid_at": paid_at}, self.bank)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(listed(self.bank2, "?status=paid"), [refund["ACME-2"]])
        self.srv.stop()
        # the assessments and refunds as the old binary left them (one paid out since)
        self.assertEqual(rows(self.db, "SELECT seq, version, total, paid, refunded, doc "
                                       "FROM revenue_assessments ORDER BY seq"), self.assessed)
        self.assertEqual([r[:3] for r in rows(self.db, "SELECT id, seq, amount FROM "
                                                       "revenue_refunds ORDER BY id")],
                         [r[:3] for r in self.refunds])


if __name__ == "__main__":
    unittest.main()
