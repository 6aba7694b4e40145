"""What one caller can cost or learn of others (issue 17): unauthenticated
reports that cannot fill the database, "not yours" answered like "absent",
numbers that overflow refused at validation, cursors that say nothing of
other organisations' volume."""
import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key, declaration  # noqa: E402
from trackkit import db_rows  # noqa: E402


class TenancyTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "KCS", "officer")

    def test_ghost_reports_write_bounded_rows(self):
        """10,000 /osmand reports for made-up ids wrote 10,003 rows; now one
        row per (reason, id) with a count, at most 1,000 such rows, and the
        rest counted in one row per reason."""
        srv = self.serve("--anon-rate", "0")
        self.assertEqual(srv.post("/v1/devices", {"id": "REAL-1", "kind": "gps-tracker"},
                                  token=self.officer).status, 201)
        ts = int(time.time()) - 60
        answers = {}

        def flood(k):
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            for i in range(k, 10000, 8):
                c.request("GET", f"/osmand?id=GHOST{i}&lat=1&lon=2&timestamp={ts}")
                r = c.getresponse()
                r.read()
                answers[r.status] = answers.get(r.status, 0) + 1
            c.close()

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(answers, {400: 10000})
        # the same ghost again: its row counts, no new row
        for _ in range(3):
            self.assertEqual(srv.request("GET", f"/osmand?id=GHOST5&lat=1&lon=2&timestamp={ts}")
                             .status, 400)
        # Traccar Client 9's JSON body: its key is never kept
        body = {"location": {"timestamp": ts * 1000, "coords": {"latitude": 1, "longitude": 2}},
                "device_id": "REAL-1", "key": "Zt4-rK9q_W2x.Lm7~Pb5"}
        r = srv.request("POST", "/osmand", body=json.dumps(body))
        self.assertEqual(r.status, 200, r)  # REAL-1 has no key: accepted
        body["device_id"] = "GHOST-JSON"
        self.assertEqual(srv.request("POST", "/osmand", body=json.dumps(body)).status, 400)
        del body["location"]["coords"]  # refused before decoding: the body is the dead letter
        self.assertEqual(srv.request("POST", "/osmand", body=json.dumps(body)).status, 400)
        r = srv.request("POST", "/osmand", body='{"device_id": "GHOST-X", "key": "Zt4-rK9')
        self.assertEqual(r.status, 400, r)

        # the cap, then one row per reason for every other device
        dl = self.dead_letters(srv)
        self.assertEqual(len(dl), 1000 + 3)
        self.assertEqual(sum(d["count"] for d in dl), 10000 + 3 + 3)
        other = {d["reason"]: d for d in dl if d["device"] is None}
        self.assertEqual(other["unknown_device"]["count"], 10000 - 1000 + 1)  # + GHOST-JSON
        self.assertEqual(len(other), 3)
        raw = [d["payload"] for d in other.values() if "location" in (d["payload"] or "")]
        self.assertEqual(len(raw), 1)
        self.assertIn('"key":"(hidden)"', raw[0])
        self.assertIn("with a key", " ".join(d["payload"] or "" for d in other.values()))
        (text,), = db_rows(self.db, "SELECT group_concat(payload) FROM track_dead_letters")
        self.assertNotIn("Pb5", text)
        self.assertNotIn("Zt4", text)
        ghost5, = [d for d in self.dead_letters(srv) if d["device"] == "GHOST5"]
        self.assertEqual(ghost5["count"], 4)

    def test_cursors_say_nothing_of_other_organisations(self):
        """next_cursor was the last row number: an organisation paging its own
        declarations learnt how many the others had lodged in between."""
        srv = self.serve()
        acme, beta = create_key(self.db, "ACME", "trader"), create_key(self.db, "BETA", "trader")
        for i in range(3):
            self.assertEqual(srv.post("/v1/declarations", declaration(f"A-{i}"), token=acme)
                             .status, 201)
            for k in range(i * 5):
                srv.post("/v1/declarations", declaration(f"B-{i}-{k}"), token=beta)
        seen, cursors, cursor = [], [], None
        while True:
            q = "/v1/declarations?limit=1" + (f"&cursor={cursor}" if cursor else "")
            page = srv.get(q, token=acme).json
            seen += [d["reference"] for d in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
            cursors.append(cursor)
            self.assertRegex(cursor, r"^[A-Za-z0-9_-]{40,}$")
        self.assertEqual(seen, ["A-0", "A-1", "A-2"])
        # the same position twice gives two different cursors, both good
        again = srv.get("/v1/declarations?limit=1", token=acme).json["next_cursor"]
        self.assertNotEqual(again, cursors[0])
        page = srv.get("/v1/declarations?limit=1&cursor=" + again, token=acme).json
        self.assertEqual([d["reference"] for d in page["items"]], ["A-1"])
        # a row number, or a cursor altered by a bit, is no cursor
        for bad in ("1", "6", cursors[0][:-1] + ("A" if cursors[0][-1] != "A" else "B")):
            r = srv.get("/v1/declarations?limit=1&cursor=" + bad, token=acme)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/cursor"])

    def test_values_that_overflow_a_sum_are_refused(self):
        srv = self.serve()
        acme = create_key(self.db, "ACME", "trader")
        d = declaration("HUGE", items=2)
        d["items"][1]["value"] = 1.7e308
        r = srv.post("/v1/declarations", d, token=acme)
        self.assertEqual(r.status, 400, r)
        self.assertEqual([(x["path"], x["message"]) for x in r.json["error"]["details"]],
                         [("/items/1/value", "must be a number from 0 to 10^15")])
        d["items"][1]["value"] = 1e15
        self.assertEqual(srv.post("/v1/declarations", d, token=acme).status, 201)

    def dead_letters(self, srv):
        items, cursor = [], None
        while True:
            q = "/v1/telemetry/dead-letters?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            page = srv.get(q, token=self.officer).json
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


if __name__ == "__main__":
    unittest.main()
