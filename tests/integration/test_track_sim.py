"""customs track simulate: the same seed gives the same messages, scenarios
script devices and anomalies, and over HTTP the injected anomalies become
exactly the alerts the rules should raise."""
import json
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key, run  # noqa: E402
from trackkit import db_rows, wait_for  # noqa: E402

START = "2024-03-01T00:00:00Z"


def km(a, b):
    """Great-circle distance in km (a sanity helper for the test only)."""
    la1, lo1, la2, lo2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((la2 - la1) / 2) ** 2 + \
        math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


class TrackSimTest(TempDirTestCase):
    def out(self, *args):
        p = run("track", "simulate", "--out", "-", "--start", START, "--quiet", *args)
        return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]

    def test_same_seed_same_messages(self):
        # (a fast rate with a matching time scale: reports 30 s apart, quickly)
        args = ["--devices", "25", "--rate", "5000", "--count", "400", "--anomalies", "0.5",
                "--time-scale", "6000"]
        a = self.out("--seed", "3", *args)
        b = self.out("--seed", "3", *args)
        c = self.out("--seed", "4", *args)
        self.assertEqual(len(a), 400)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        # well formed, moving along the routes, on their own clocks
        self.assertEqual(len({m["device"] for m in a}), 25)
        for m in a:
            self.assertTrue(-90 <= m["lat"] <= 90 and -180 <= m["lon"] <= 180)
        first = [m for m in a if m["device"] == "SIM-00001"]
        self.assertEqual(first[1]["ts"] - first[0]["ts"], 30000)  # 25 / 5000 s * 6000

    def test_scenario(self):
        sc = {"start": START,
              "devices": [{"id": "TRK-S", "route": "busan-uiwang", "kind": "e-seal",
                           "speed_kmh": 60,
                           "anomalies": [{"kind": "seal_open", "at_s": 600},
                                         {"kind": "silence", "at_s": 900, "duration_s": 300}]}],
              "messages": [{"device": "TRK-S", "ts": START, "lat": 35.08, "lon": 128.81}]}
        path = os.path.join(self.tmp, "scenario.json")
        with open(path, "w") as f:
            json.dump(sc, f)
        msgs = self.out("--scenario", path, "--rate", "1000", "--time-scale", "30000",
                        "--count", "60")
        self.assertEqual(msgs[0], sc["messages"][0])
        t0 = 1709251200000
        rest = msgs[1:]
        self.assertTrue(all(m["device"] == "TRK-S" for m in rest))
        for m in rest:
            s = (m["ts"] - t0) / 1000
            self.assertEqual(m["seal"], "open" if s > 600 else "closed", m)
            self.assertFalse(900 < s < 1200, f"a report during the silence: {m}")
        # it drives north-west out of Busan at about 60 km/h
        a, b = rest[0], rest[-1]
        hours = (b["ts"] - a["ts"]) / 3600000
        self.assertAlmostEqual(km(a, b) / hours, 60, delta=10)
        self.assertGreater(b["lat"], a["lat"])

    def test_over_http_anomalies_become_alerts(self):
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        args = ["--devices", "10", "--rate", "200", "--count", "400", "--seed", "9",
                "--anomalies", "1", "--anomaly-kinds", "jump", "--time-scale", "600",
                "--start", "-1h"]
        p = run("track", "simulate", "--http", f"http://127.0.0.1:{srv.port}", "--token", officer,
                "--register", *args)
        self.assertIn("sent=400 ", p.stdout)
        wait_for(lambda: db_rows(self.db, "SELECT count(*) FROM (SELECT DISTINCT dev, ts FROM "
                                          "track_positions_all)")[0][0] == 400, "400 positions")
        # the same run written out: where the simulator jumped
        msgs = [json.loads(line) for line in run("track", "simulate", "--out", "-", "--quiet",
                                                 *args).stdout.splitlines()
                if line.startswith("{")]
        jumped = set()
        last = {}
        for m in msgs:
            if m["device"] in last and km(last[m["device"]], m) > 50:
                jumped.add(m["device"])
            last[m["device"]] = m
        self.assertTrue(jumped)
        alerts = srv.get("/v1/alerts?type=impossible_jump&limit=1000", token=officer).json["items"]
        self.assertEqual({a["device"] for a in alerts}, jumped)
        r = srv.get("/v1/telemetry/dead-letters?limit=1", token=officer)
        self.assertEqual(r.json["items"], [])


if __name__ == "__main__":
    unittest.main()
