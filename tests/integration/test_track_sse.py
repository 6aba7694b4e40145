"""Server-Sent Events: the alert stream and the positions feed, hard.

Many clients at once, clients that vanish, resuming with Last-Event-ID,
filters and visibility, heartbeats that reveal dead clients, and a server
that stops with streams open."""
import json
import os
import socket
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key  # noqa: E402
from trackkit import SSE, now_ms, setup_world, wait_for  # noqa: E402


class TrackSseTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "KCS", "officer")
        cfg = os.path.join(self.tmp, "track.json")
        with open(cfg, "w") as f:
            json.dump({"heartbeat_s": 1}, f)
        self.srv = self.serve("--track-config", cfg)
        setup_world(self.srv, self.officer)
        self.t = now_ms() - 600000
        self.seal = "closed"
        self.send([])

    def send(self, extra, device="TRK-1"):
        """Toggles the seal: every call with no argument opens or closes it."""
        msgs = extra or []
        if not extra:
            self.t += 1000
            self.seal = "open" if self.seal == "closed" else "closed"
            msgs = [{"device": device, "ts": self.t, "lat": 0, "lon": 30.3, "seal": self.seal}]
        r = self.srv.post("/v1/telemetry", msgs, token=self.officer)
        self.assertEqual(r.status, 200, r)
        return r.json

    def open_alert(self):
        """Sends reports until one more seal_opened alert is raised."""
        self.send([])
        if self.seal == "closed":
            self.send([])

    def test_many_clients_and_vanishing_ones(self):
        clients = [SSE(self.srv, "/v1/alerts/stream", self.officer) for _ in range(24)]
        for c in clients:
            self.assertEqual(c.status, 200)
        wait_for(lambda: self.srv.metric('customs_alert_sse_clients') == 24,
                 "24 streams")
        # half of them vanish without a goodbye
        for c in clients[:12]:
            c.close()
        self.open_alert()
        seqs = set()
        for c in clients[12:]:
            _, a = c.next_event()
            self.assertEqual(a["type"], "seal_opened")
            seqs.add(a["seq"])
        self.assertEqual(len(seqs), 1)
        # heartbeats find the dead ones and free their slots
        wait_for(lambda: self.srv.metric('customs_alert_sse_clients') == 12,
                 "dead streams to be noticed")
        self.open_alert()
        for c in clients[12:]:
            _, a = c.next_event()
            self.assertEqual(a["seq"], max(seqs) + 1)
            c.close()

    def test_resume_with_last_event_id(self):
        s = SSE(self.srv, "/v1/alerts/stream", self.officer)
        got = []
        for _ in range(3):
            self.open_alert()
            ev, a = s.next_event()
            got.append(int(ev["id"]))
        s.close()
        # while away, two more
        self.open_alert()
        self.open_alert()
        s = SSE(self.srv, "/v1/alerts/stream", self.officer,
                headers={"Last-Event-ID": str(got[-1])})
        ev1, a1 = s.next_event()
        ev2, a2 = s.next_event()
        self.assertEqual([int(ev1["id"]), int(ev2["id"])], [got[-1] + 1, got[-1] + 2])
        self.assertIsNone(a1["acked_at"])
        # then live, no gap and no repeat
        self.open_alert()
        ev3, _ = s.next_event()
        self.assertEqual(int(ev3["id"]), got[-1] + 3)
        s.close()
        # ?after= from the start replays everything
        s = SSE(self.srv, "/v1/alerts/stream?after=0", self.officer)
        ids = [int(s.next_event()[0]["id"]) for _ in range(6)]
        self.assertEqual(ids, list(range(1, 7)))
        s.close()

    def assertRefused(self, path, pointer):
        """A stream request refused with a 400 naming the parameter (checked
        before reading, so an accepted stream fails at once, not at a timeout)."""
        s = SSE(self.srv, path, self.officer)
        self.assertEqual(s.status, 400, path)
        err = json.loads(s.resp.read())["error"]
        s.close()
        self.assertEqual(err["details"][0]["path"], pointer, path)

    def test_filters_and_visibility(self):
        self.srv.post("/v1/devices", {"id": "CAR-1", "kind": "e-seal", "org": "CARRIER-A"},
                      token=self.officer)
        carrier = create_key(self.db, "CARRIER-A", "carrier")
        mine = SSE(self.srv, "/v1/alerts/stream", carrier)
        crit = SSE(self.srv, "/v1/alerts/stream?min_severity=critical", self.officer)
        doors = SSE(self.srv, "/v1/alerts/stream?type=door_open,temperature", self.officer)
        self.assertEqual(SSE(self.srv, "/v1/alerts/stream?type=bogus", self.officer).status, 400)
        # an empty value in the list is refused, not skipped
        for q in ("door_open,", "door_open,,temperature", ",door_open"):
            self.assertRefused("/v1/alerts/stream?type=" + q, "/type")
        trader = create_key(self.db, "ACME", "trader")
        self.assertEqual(SSE(self.srv, "/v1/alerts/stream", trader).status, 403)
        t = self.t
        # TRK-1 (KCS) seal opened on the road: critical; CAR-1 door opened: warning
        self.send([{"device": "TRK-1", "ts": t + 5000, "lat": 0, "lon": 30.3, "seal": "closed"},
                   {"device": "TRK-1", "ts": t + 6000, "lat": 0, "lon": 30.3, "seal": "open"},
                   {"device": "CAR-1", "ts": t + 5000, "lat": 1, "lon": 31, "door": "closed"},
                   {"device": "CAR-1", "ts": t + 6000, "lat": 1, "lon": 31, "door": "open"}])
        _, a = mine.next_event()
        self.assertEqual((a["device"], a["type"]), ("CAR-1", "door_open"))
        _, a = crit.next_event()
        self.assertEqual((a["device"], a["severity"]), ("TRK-1", "critical"))
        _, a = doors.next_event()
        self.assertEqual(a["type"], "door_open")
        # what the carrier must not see never reaches it: its next event is its own
        self.send([{"device": "TRK-1", "ts": t + 7000, "lat": 0, "lon": 30.3, "seal": "closed"},
                   {"device": "TRK-1", "ts": t + 8000, "lat": 0, "lon": 30.3, "seal": "open"},
                   {"device": "CAR-1", "ts": t + 7000, "lat": 1, "lon": 31, "door": "closed"},
                   {"device": "CAR-1", "ts": t + 8000, "lat": 1, "lon": 31, "door": "open"}])
        _, a = mine.next_event()
        self.assertEqual(a["device"], "CAR-1")
        _, a = crit.next_event()
        self.assertEqual(a["device"], "TRK-1")
        for s in (mine, crit, doors):
            s.close()

    def test_heartbeat_comments(self):
        # every stream on the shared hub: the hello, then pings once quiet
        for path in ("/v1/alerts/stream", "/v1/positions/stream"):
            s = SSE(self.srv, path, self.officer)
            first = s.next()
            self.assertEqual(first["retry"], "2000")
            ev = s.next()
            while not any(c.startswith("ping") for c in ev["comments"]):
                ev = s.next()
            s.close()

    def test_positions_feed(self):
        self.srv.post("/v1/devices", {"id": "FAR-1", "kind": "gps-tracker"}, token=self.officer)
        self.send([{"device": "FAR-1", "ts": self.t + 1, "lat": -30, "lon": 150}])
        s = SSE(self.srv, "/v1/positions/stream?interval_ms=250", self.officer)
        _, first = s.next_event("positions")
        self.assertEqual(sorted(p["device"] for p in first["items"]), ["FAR-1", "TRK-1"])
        trk = [p for p in first["items"] if p["device"] == "TRK-1"][0]
        self.assertEqual((trk["container"], trk["consignment"], trk["seal"]),
                         ("CSQU3054383", "CONS-1", self.seal))
        self.t += 1000
        self.send([{"device": "TRK-1", "ts": self.t, "lat": 0.001, "lon": 30.35, "speed_kmh": 61}])
        _, upd = s.next_event("positions")
        self.assertEqual([p["device"] for p in upd["items"]], ["TRK-1"])
        self.assertEqual((upd["items"][0]["lon"], upd["items"][0]["speed_kmh"]), (30.35, 61))
        s.close()
        # a box around the Pacific device only
        s = SSE(self.srv, "/v1/positions/stream?bbox=140,-40,160,-20", self.officer)
        _, box = s.next_event("positions")
        self.assertEqual([p["device"] for p in box["items"]], ["FAR-1"])
        s.close()
        self.assertEqual(SSE(self.srv, "/v1/positions/stream?bbox=1,2,3", self.officer).status,
                         400)
        # ... and a corner off the globe: minlon east of 180 or maxlon west
        # of -180 was taken as a box across the antimeridian
        for q in ("140,,-40,160,-20", "140,-40,160,-20,", "140,-40,160,-20" + "0" * 200,
                  "500,-40,160,-20", "140,-40,-500,-20", "140,-100,160,-20", "140,-40,160,95"):
            self.assertRefused("/v1/positions/stream?bbox=" + q, "/bbox")

    def test_shutdown_with_open_streams(self):
        streams = [SSE(self.srv, "/v1/alerts/stream", self.officer) for _ in range(5)]
        streams += [SSE(self.srv, "/v1/positions/stream", self.officer) for _ in range(3)]
        for s in streams:
            s.next()
        self.assertEqual(self.srv.stop(), 0)
        with open(self.srv.log_path) as f:
            self.assertIn("stopped cleanly", f.read())
        for s in streams:
            with self.assertRaises((EOFError, ConnectionError, socket.timeout)):
                while True:
                    s.next()
            s.close()


if __name__ == "__main__":
    unittest.main()
