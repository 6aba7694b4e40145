"""The alert module against the real binary: an upgrade hands track's old
alerts over (their shape unchanged, acknowledgements and pending escalations
kept), the subject and drone filters, unknown parameters refused."""
import json
import os
import sqlite3
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key, declaration  # noqa: E402
from trackkit import wait_for  # noqa: E402
import unittest  # noqa: E402

OLD_TRACK_ALERTS = """
CREATE TABLE track_alerts(
 seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
 severity TEXT NOT NULL, time INTEGER NOT NULL, dev INTEGER, org TEXT,
 consignment TEXT, doc TEXT NOT NULL, created INTEGER NOT NULL,
 acked_at TEXT, acked_by TEXT, ack_note TEXT,
 escalated INTEGER NOT NULL DEFAULT 0);
"""

DOC1 = ('{"id":"01AAAAAAAAAAAAAAAAAAAAAAAA","seq":1,"type":"seal_opened","severity":"critical",'
        '"time":"2024-03-01T00:05:00.000Z","created_at":"2024-03-01T00:05:01.000Z",'
        '"device":"TRK-1","container":"CSQU3054383","consignment":"CONS-1",'
        '"declarations":["01DDDDDDDDDDDDDDDDDDDDDDDD"],"lat":0.5,"lon":30.2,'
        '"detail":{"seal":"open"}}')
DOC2 = ('{"id":"01BBBBBBBBBBBBBBBBBBBBBBBB","seq":2,"type":"overdue","severity":"warning",'
        '"time":"2024-03-02T00:00:00.000Z","created_at":"2024-03-02T00:00:01.000Z",'
        '"device":null,"container":null,"consignment":"CONS-1","declarations":[],'
        '"lat":null,"lon":null,"detail":{"late_s":3600}}')


class AlertsTest(TempDirTestCase):
    def downgrade(self, decl="01DDDDDDDDDDDDDDDDDDDDDDDD"):
        """A database as track's schema version 2 left it: alerts in track_alerts
        (and none of version 4's dead-letter columns)."""
        db = sqlite3.connect(self.db)
        db.executescript(
            "DROP TABLE track_alert_marks; DROP TABLE track_escalations;"
            "DROP INDEX track_dead_letters_agg; ALTER TABLE track_dead_letters DROP COLUMN agg;"
            "ALTER TABLE track_dead_letters DROP COLUMN count;"
            "ALTER TABLE track_dead_letters DROP COLUMN last_at;"
            "DELETE FROM alert_orgs; DELETE FROM alerts;"
            "UPDATE schema_migrations SET version = 2 WHERE module = 'track';" + OLD_TRACK_ALERTS)
        db.execute("INSERT INTO track_alerts VALUES(1,'01AAAAAAAAAAAAAAAAAAAAAAAA','seal_opened',"
                   "'critical',1709251500000,7,'CARRIER-A','CONS-1',?,1709251501000000,"
                   "NULL,NULL,NULL,0)", (DOC1.replace("01DDDDDDDDDDDDDDDDDDDDDDDD", decl),))
        db.execute("INSERT INTO track_alerts VALUES(2,'01BBBBBBBBBBBBBBBBBBBBBBBB','overdue',"
                   "'warning',1709337600000,NULL,NULL,'CONS-1',?,1709337601000000,"
                   "'2024-03-02T08:00:00.000Z','KCS/key-1','checked',1)", (DOC2,))
        db.commit()
        db.close()

    def test_upgrade_hands_track_alerts_over(self):
        officer = create_key(self.db, "KCS", "officer")
        trader = create_key(self.db, "ACME", "trader")
        srv = self.serve()
        decl = srv.post("/v1/declarations", declaration("REF-1"), token=trader).json["id"]
        srv.stop()
        self.downgrade(decl)
        srv = self.serve()  # migrates track to version 3
        items = srv.get("/v1/alerts", token=officer).json["items"]
        self.assertEqual([a["seq"] for a in items], [1, 2])
        a, b = items
        # every member as before, plus the subject and drone members
        old = {k: v for k, v in a.items() if k not in ("subject", "drone", "acked_at",
                                                        "acked_by")}
        self.assertEqual(old, json.loads(DOC1.replace("01DDDDDDDDDDDDDDDDDDDDDDDD", decl)))
        self.assertEqual(a["subject"], {"kind": "device", "id": "TRK-1"})
        self.assertIsNone(a["drone"])
        self.assertEqual(b["subject"], {"kind": "consignment", "id": "CONS-1"})
        self.assertEqual((b["acked_at"], b["acked_by"]), ("2024-03-02T08:00:00.000Z",
                                                          "KCS/key-1"))
        # the carrier still sees its own, and only that
        carrier = create_key(self.db, "CARRIER-A", "carrier")
        mine = srv.get("/v1/alerts", token=carrier).json["items"]
        self.assertEqual([x["id"] for x in mine], [a["id"]])
        self.assertEqual(srv.get("/v1/alerts/" + b["id"], token=carrier).status, 404)

        # the critical alert's escalation was pending: done at this start
        def red():
            d = srv.get(f"/v1/declarations/{decl}", token=officer).json
            return d["risk"]["lane"] == "red" and d["risk"]
        risk = wait_for(red, "the pending escalation to raise the lane")
        self.assertEqual([x["alert"] for x in risk["reasons"] if "alert" in x], [a["id"]])
        srv.stop()
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("SELECT count(*) FROM sqlite_master WHERE name = "
                                    "'track_alerts'").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT count(*) FROM track_escalations").fetchone()[0], 0)
        # the report it sits on stays through retention
        self.assertEqual(db.execute("SELECT dev, ts FROM track_alert_marks").fetchall(),
                         [(7, 1709251500000)])
        db.close()

    def test_filters_and_unknown_parameters(self):
        officer = create_key(self.db, "KCS", "officer")
        self.downgrade()
        srv = self.serve()

        def ids(q):
            r = srv.get("/v1/alerts?" + urllib.parse.urlencode(q), token=officer)
            self.assertEqual(r.status, 200, r)
            return [x["seq"] for x in r.json["items"]]

        self.assertEqual(ids({"subject": "device"}), [1])
        self.assertEqual(ids({"subject": "consignment"}), [2])
        self.assertEqual(ids({"subject": "drone"}), [])
        self.assertEqual(ids({"drone": "UAS-1"}), [])
        self.assertEqual(ids({"consignment": "CONS-1", "order": "desc"}), [2, 1])
        self.assertEqual(ids({"limit": 1}), [1])
        r = srv.get("/v1/alerts?limit=1", token=officer)
        self.assertNotEqual(r.json["next_cursor"], "1")  # opaque (issue 17)
        self.assertEqual(ids({"cursor": r.json["next_cursor"]}), [2])
        self.assertEqual(ids({"after": 1}), [2])  # after= still takes a seq
        for q, path in (({"subject": "planet"}, "/subject"), ({"type": "bogus"}, "/type"),
                        ({"severity": "loud"}, "/severity"), ({"limit": 0}, "/limit"),
                        ({"cursor": "x"}, "/cursor"), ({"cursor": "1"}, "/cursor"),
                        ({"colour": "red"}, "/colour"),
                        ({"order": "up"}, "/order")):
            r = srv.get("/v1/alerts?" + urllib.parse.urlencode(q), token=officer)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(r.json["error"]["code"], "invalid_parameter")
            self.assertEqual(r.json["error"]["details"][0]["path"], path)
        r = srv.get("/v1/alerts?limit=1&limit=2", token=officer)
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/limit"))
        r = srv.get("/v1/alerts/stream?subject=planet", token=officer)
        self.assertEqual(r.status, 400)
        srv.stop()


if __name__ == "__main__":
    unittest.main()
