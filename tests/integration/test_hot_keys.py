"""Hot keys (issue 17): values a caller chooses — a bill of lading, a
container, an importer — shared by thousands of declarations. Every lookup by
them is indexed and bounded, and what it finds stays right: the mirror check
on a bill of lading with 10,000 earlier declarations, and the seal alert on a
container with 300 earlier filings, which must still turn the newest
declaration red. Behaviour only; the figures are bench/hotkeys's."""
import datetime
import json
import os
import sqlite3
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

    def test_a_small_traders_queue_does_not_walk_the_big_ones(self):
        """?org= on the risk queue seeks that organisation's rows in the
        queue's order (risk migration 4), in both orders: paging a trader with
        3 declarations behind 3,000 of another takes SQLite steps in
        proportion to the page, not to the other trader's rows (the metric
        customs_risk_queue_vm_steps_total counts them)."""
        small = os.path.join(self.tmp, "small.jsonl")
        bulk(small, 3, "SMALL")
        big = os.path.join(self.tmp, "big.jsonl")
        bulk(big, 3000, "BIG")
        for org, path, n in (("SMALL", small, 3), ("BIG", big, 3000)):
            p = run("import", "--db", self.db, "--org", org, "--format", "jsonl",
                    "--no-progress", path)
            self.assertIn("imported %d, rejected 0" % n, p.stdout)
        srv = self.serve()
        for rank in ("score", "revenue"):
            steps = srv.metric("customs_risk_queue_vm_steps_total")
            url = "/v1/risk/queue?org=SMALL&limit=2&rank=" + rank
            first = srv.get(url, token=self.officer).json
            second = srv.get(url + "&cursor=" + first["next_cursor"], token=self.officer).json
            got = [d["reference"] for d in first["items"] + second["items"]]
            self.assertEqual(sorted(got), ["SMALL-0", "SMALL-1", "SMALL-2"], rank)
            self.assertIsNone(second["next_cursor"])
            # two pages of at most 3 rows each; walking BIG's 3,000 takes tens of thousands
            used = srv.metric("customs_risk_queue_vm_steps_total") - steps
            self.assertLess(used, 2000, rank)
        # the big trader's own queue is unchanged: newest first
        big_page = srv.get("/v1/risk/queue?org=BIG&limit=3", token=self.officer).json
        self.assertEqual([d["reference"] for d in big_page["items"]],
                         ["BIG-2999", "BIG-2998", "BIG-2997"])


STEPS = "customs_store_read_vm_steps_total"
LITTLE = 50000  # steps: a page of a few rows is about 0, a walk of 100,000 rows 300,000


def clone(db, table, n, template, **over):
    """n copies of one row of table (WHERE template), written straight into
    the database before the server starts, columns given as SQL over the
    copy's number k (1..n), e.g. id="'DEV-' || k"."""
    cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
    pk = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[5]]
    exprs = [over.get(c, "NULL" if c in pk and c not in over else c) for c in cols]
    db.execute(f"WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {n})"
               f" INSERT INTO {table}({', '.join(cols)}) SELECT {', '.join(exprs)}"
               f" FROM n, (SELECT * FROM {table} WHERE {template})")


class ReadBoundsTest(TempDirTestCase):
    """The listings' index fixes, at scale: a rare key among 100,000 rows of
    another, written straight into the database. Each page is right and
    reads in proportion to itself: the readers' SQLite steps for it
    (customs_store_read_vm_steps_total, counted by 1,000s) stay under
    LITTLE, where one walk of the 100,000 rows is about 300,000 (each case
    fails so without its index: the open queue, the day's overview, findings
    by severity and a member's entries with the index dropped, a carrier's
    devices with the statement before 4cfe4b6)."""

    def steps(self, srv, fn):
        before = srv.metric(STEPS)
        out = fn()
        return out, srv.metric(STEPS) - before

    def test_a_carriers_devices_among_100000_of_others(self):
        officer = create_key(self.db, "KCS", "officer")
        carrier = create_key(self.db, "SMALL", "carrier")
        srv = self.serve()
        for dev, org in (("SMALL-1", "SMALL"), ("BIG-0", "BIG")):
            r = srv.post("/v1/devices", {"id": dev, "kind": "gps-tracker", "org": org}, officer)
            self.assertEqual(r.status, 201, r)
        srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("BEGIN")
        clone(db, "track_devices", 100000, "id = 'BIG-0'", id="'BIG-' || k",
              doc="json_set(doc, '$.id', 'BIG-' || k)")
        clone(db, "track_devices", 1, "id = 'SMALL-1'", id="'SMALL-2'",
              doc="json_set(doc, '$.id', 'SMALL-2')")
        db.execute("COMMIT")
        db.close()
        srv = self.serve()
        page, used = self.steps(srv, lambda: srv.get("/v1/devices?limit=10", carrier).json)
        self.assertEqual([d["id"] for d in page["items"]], ["SMALL-1", "SMALL-2"])
        self.assertIsNone(page["next_cursor"])
        self.assertLess(used, LITTLE)
        # the officer's list is everyone's: the same walk read whole
        got, whole = self.steps(srv, lambda: srv.get("/v1/devices?limit=10000", officer).json)
        self.assertEqual(len(got["items"]), 10000)
        self.assertGreater(whole, LITTLE)  # the steps are counted: 10,000 rows read

    def test_a_rare_rule_and_severity_among_100000_findings(self):
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("BEGIN")
        sql = ("INSERT INTO ledger_findings(rule, severity, declaration_id, subject, message,"
               " details, source, created_at, org) VALUES(?, ?, ?, 'S', 'm', '{}', 'check',"
               " '2024-01-01T00:00:00Z', 'ACME')")
        db.execute(sql, ("containers_not_on_bl", "high", "DECL-RARE-0"))
        db.execute(sql, ("mirror_value_mismatch", "medium", "DECL-0"))
        clone(db, "ledger_findings", 100000, "declaration_id = 'DECL-0'",
              declaration_id="'DECL-' || k")
        db.execute(sql, ("containers_not_on_bl", "high", "DECL-RARE-1"))
        db.execute("COMMIT")
        db.close()
        srv = self.serve()
        for q in ("rule=containers_not_on_bl", "severity=high",
                  "rule=containers_not_on_bl&severity=high"):
            page, used = self.steps(srv, lambda: srv.get("/v1/ledger/findings?limit=10&" + q,
                                                         officer).json)
            self.assertEqual(sorted(f["declaration_id"] for f in page["items"]),
                             ["DECL-RARE-0", "DECL-RARE-1"], q)
            self.assertIsNone(page["next_cursor"], q)
            self.assertLess(used, LITTLE, q)
        page = srv.get("/v1/ledger/findings?limit=10&rule=mirror_value_mismatch", officer).json
        self.assertEqual(len(page["items"]), 10)

    def declarations_behind(self, n):
        """Three declarations received now, as the API takes them, behind n
        released a year ago (copies of the first, with its score)."""
        trader = create_key(self.db, "ACME", "trader")
        srv = self.serve()
        ids = []
        for i in range(3):
            r = srv.post("/v1/declarations", declaration(f"NOW-{i}"), token=trader)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json["id"])
        srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("BEGIN")
        seq = db.execute("SELECT seq FROM declarations WHERE id = ?", (ids[0],)).fetchone()[0]
        clone(db, "declarations", n, f"seq = {seq}", id="'OLD-' || k", reference="'OLD-' || k",
              status="'released'", received_at="'2025-01-01T00:00:00.000Z'")
        db.execute("INSERT INTO risk_scores(seq, score, rank, office, model_id, at_risk, expected,"
                   " org) SELECT d.seq, s.score, s.rank, s.office, s.model_id, s.at_risk,"
                   " s.expected, s.org FROM declarations d, risk_scores s"
                   " WHERE d.id LIKE 'OLD-%' AND s.seq = ?", (seq,))
        db.execute("COMMIT")
        db.close()
        return ids

    def test_the_days_overview_among_100000_older_declarations(self):
        officer = create_key(self.db, "KCS", "officer")
        self.declarations_behind(100000)
        srv = self.serve()
        day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT00:00:00Z")
        got, used = self.steps(srv, lambda: srv.get("/v1/risk/summary?since=" + day,
                                                    officer).json)
        self.assertEqual(got["declarations"], 3, got)
        self.assertEqual(sum(g["count"] for g in got["groups"]), 3, got)
        self.assertLess(used, LITTLE)
        # the year's: every one of them, read whole
        got = srv.get("/v1/risk/summary?since=2024-06-01T00:00:00Z", officer).json
        self.assertEqual(got["declarations"], 100003)

    def test_the_open_queue_among_100000_released_declarations(self):
        officer = create_key(self.db, "KCS", "officer")
        ids = self.declarations_behind(100000)
        srv = self.serve()
        open_ids = [d for d in ids if srv.get("/v1/declarations/" + d, token=officer)
                    .json["status"] in ("submitted", "held")]
        self.assertTrue(open_ids)
        for q in ("status=open", "status=open&rank=revenue", "status=submitted,held"):
            got, used = self.steps(srv, lambda: srv.get("/v1/risk/queue?limit=10&" + q,
                                                        token=officer).json)
            self.assertEqual(sorted(d["id"] for d in got["items"]), sorted(open_ids), q)
            self.assertIsNone(got["next_cursor"], q)
            self.assertLess(used, LITTLE, q)
        got = srv.get("/v1/risk/queue?limit=10&status=released", token=officer).json
        self.assertEqual(len(got["items"]), 10)

    def test_a_members_ledger_entries_among_100000_of_another(self):
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("BEGIN")
        sql = ("INSERT INTO ledger_entries(idx, entry_hash, leaf_hash, type, org, entry,"
               " received_at) VALUES(?, zeroblob(32), zeroblob(32), 'bl.issue', ?, '{}',"
               " '2024-01-01T00:00:00Z')")
        db.execute(sql, (0, "SMALL"))
        db.execute(sql, (1, "BIG"))
        clone(db, "ledger_entries", 100000, "idx = 1", idx="1 + k")
        db.execute(sql, (100002, "SMALL"))
        db.execute("COMMIT")
        db.close()
        srv = self.serve()
        for q in ("org=SMALL", "org=SMALL&order=desc", "org=SMALL&type=bl.issue"):
            got, used = self.steps(srv, lambda: srv.get("/v1/ledger/entries?limit=10&" + q,
                                                        token=officer).json)
            self.assertEqual(sorted(x["index"] for x in got["items"]), [0, 100002], q)
            self.assertIsNone(got["next_cursor"], q)
            self.assertLess(used, LITTLE, q)


class TrackHotKeysTest(TempDirTestCase):
    def test_a_hot_devices_replay_is_thinned_exactly_in_one_pass(self):
        """A device with 100,000 positions in the replay's window (written
        straight into the database), a few more in the journal not moved
        yet — one twice, one a time already stored —, and a 40-minute stop
        in the middle. The journey is read in one pass, keeping only
        the points it answers: every stride-th position and the last, the
        stop found among all of them, each time once, whatever max_points."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        setup_world(srv, officer)
        srv.stop()
        t0, n = 1709251200000, 100000  # 2024-03-01, a position every 10 s

        def pos(i):  # 0.002 degrees (222 m) east a step, standing still from 50,000 to 50,240
            k = i if i < 50000 else 50000 if i <= 50240 else i - 240
            return (t0 + i * 10000, 0.0, 30.0 + (k % 2000) * 0.002)

        db = sqlite3.connect(self.db, isolation_level=None)
        dev = db.execute("SELECT idx FROM track_devices WHERE id = 'TRK-1'").fetchone()[0]
        db.execute("BEGIN")
        db.executemany("INSERT INTO track_positions(dev, ts, lat, lon, src) VALUES(?, ?, ?, ?, 0)",
                       ((dev,) + pos(i) for i in range(n - 3)))
        # the last three in the journal, one of them twice; and a report
        # again for a time already stored, another fix: the move keeps the
        # stored one (INSERT OR IGNORE), and so does the replay before it
        db.executemany("INSERT INTO track_journal(dev, ts, lat, lon, src) VALUES(?, ?, ?, ?, 0)",
                       ((dev,) + pos(i) for i in (n - 3, n - 2, n - 2, n - 1)))
        db.execute("INSERT INTO track_journal(dev, ts, lat, lon, src) VALUES(?, ?, 0.5, 30, 0)",
                   (dev, pos(n - 4)[0]))
        db.execute("COMMIT")
        db.close()
        srv = self.serve()
        stamp = [datetime.datetime.fromtimestamp(pos(i)[0] / 1000, datetime.timezone.utc)
                 .strftime("%Y-%m-%dT%H:%M:%S.000Z") for i in range(n)]

        def journey(q):
            r = srv.get("/v1/consignments/CONS-1/track?" + q, token=officer)
            self.assertEqual(r.status, 200, r)
            return r.json["features"]

        for maxp in (1000, 2, 99999, 100000):
            f = journey(f"max_points={maxp}")
            self.assertEqual([x["properties"]["kind"] for x in f], ["route", "path", "stop"])
            path = f[1]
            stride = -(-(n - 1) // (maxp - 1)) if n > maxp else 1
            keep = list(range(0, n, stride)) + ([n - 1] if (n - 1) % stride else [])
            self.assertLessEqual(len(keep), maxp)
            self.assertEqual(path["properties"]["points"], len(keep), maxp)
            # compared whole, not through assertEqual's diff of 100,000 items
            got = path["properties"]["times"]
            self.assertTrue(got == [stamp[i] for i in keep],
                            (maxp, len(got), got[:3], got[-3:]))
            got = path["geometry"]["coordinates"]
            self.assertTrue(got == [[round(pos(i)[2], 7), 0] for i in keep],
                            (maxp, len(got), got[:3], got[-3:]))
            self.assertEqual((path["properties"]["from"], path["properties"]["to"]),
                             (stamp[0], stamp[-1]))
            self.assertEqual(f[2]["properties"]["from"], stamp[50000])
            self.assertEqual(f[2]["properties"]["to"], stamp[50240])
            self.assertEqual(f[2]["properties"]["duration_s"], 2400)
        # a window around the stop: every position in it
        f = journey(f"from={stamp[49990]}&to={stamp[50250]}&max_points=1000")
        self.assertTrue(f[1]["properties"]["times"] == stamp[49990:50251])
        self.assertEqual(f[2]["properties"]["duration_s"], 2400)


BASIC = "00125353455654464739333730303037300000000000000000"  # UAS ID SSEVTFG93700070
LOCATION = bytes.fromhex("122624160a42bf241b6ed1b4b69808ac0870086b53150e0200")
T0 = datetime.datetime(2024, 6, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
T0_US = int(T0.timestamp()) * 10 ** 6
# the overview of a drone's positions, as drones migration 3 fills it
LOD_FILL = ("WITH RECURSIVE lv(l) AS (SELECT 1 UNION ALL SELECT l + 1 FROM lv WHERE l < 20)"
            " INSERT OR IGNORE INTO drones_track_lod SELECT p.drone, l,"
            " p.time / ((1 << l) * 1000000), p.time, p.lat, p.lon, p.height"
            " FROM lv, drones_positions p WHERE p.drone = ?1 ORDER BY p.time")


def flight(n, start=0, tenths=10):
    """n observations of one drone, `tenths` tenths of a second apart (a
    second by default), each a Basic ID and a Location a little further
    north, stamped in tenths of the hour."""
    out = []
    for i in range(start, start + n):
        t = T0 + datetime.timedelta(microseconds=i * tenths * 100000)
        loc = bytearray(LOCATION)
        lat = int.from_bytes(loc[5:9], "little", signed=True) + 10 * i
        loc[5:9] = lat.to_bytes(4, "little", signed=True)
        loc[21:23] = ((t.minute * 60 + t.second) * 10 + t.microsecond // 100000) \
            .to_bytes(2, "little")
        out.append({"time": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "transport": "ble4",
                    "mac": "60:60:1f:00:00:01", "payload_hex": "f01902" + BASIC + loc.hex()})
    return out


def stamp(i, tenths=10):
    """Observation i's time as the API writes it."""
    t = T0 + datetime.timedelta(microseconds=i * tenths * 100000)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class DroneHotKeysTest(TempDirTestCase):
    def test_a_track_of_10000_positions_is_sampled_not_read_whole(self):
        """One UAS ID heard 10,000 times: its track answers at most
        max_points, first and last kept, evenly spaced in time — the server
        reads those rows by the (drone, time) key, not all 10,000."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        r = srv.post("/v1/drones/receivers", {"id": "RX-1", "name": "Mast", "lat": 45.5,
                                              "lon": 9.2}, officer)
        self.assertEqual(r.status, 201, r)
        n = 10000
        for start in range(0, n, 1000):  # a body is at most 1 MiB
            r = srv.post("/v1/drones/observations",
                         {"receiver": "RX-1", "observations": flight(1000, start)}, officer)
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json["accepted"], 1000, r)
        wait_for(lambda: srv.get("/v1/drones/SSEVTFG93700070", officer).json
                 .get("position_time") == stamp(n - 1), "the last position to be stored")

        def track(q):
            r = srv.get("/v1/drones/SSEVTFG93700070/track?" + q, officer)
            self.assertEqual(r.status, 200, r)
            f = [x for x in r.json["features"] if x["properties"]["kind"] == "flight"]
            return f[0]["properties"]

        got = track("max_points=100")
        self.assertEqual(got["points"], 100)
        self.assertEqual((got["times"][0], got["times"][-1]), (stamp(0), stamp(n - 1)))
        # from the overview: between the exact ends, the first position of
        # every 64-second bucket (the finest level with at most 200 buckets
        # over 9,999 s), 98 of its 156 evenly, so gaps of 64 or 128 s — read
        # as neighbouring rows, not 100 seeks over the whole flight
        epoch = [int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
                 for t in got["times"]]
        self.assertEqual(epoch, sorted(set(epoch)))
        self.assertTrue(all(s % 64 == 0 for s in epoch[1:-1]), epoch)
        self.assertTrue(all(b - a in (64, 128) for a, b in zip(epoch[1:-1], epoch[2:-1])),
                        epoch)
        got = track("")  # the default, 5,000
        self.assertEqual(got["points"], 5000)
        self.assertEqual((got["times"][0], got["times"][-1]), (stamp(0), stamp(n - 1)))
        # a window with no more than max_points: every position, in order
        got = track(f"from={stamp(5000)}&to={stamp(5049)}&max_points=50")
        self.assertEqual(got["times"], [stamp(i) for i in range(5000, 5050)])
        got = track(f"from={stamp(5000)}&to={stamp(5050)}&max_points=50")
        self.assertEqual(got["points"], 50)
        self.assertEqual((got["times"][0], got["times"][-1]), (stamp(5000), stamp(5050)))

    def test_folding_a_mac_only_drone_moves_its_rows_in_bounded_jobs(self):
        """A drone known by its UAS ID; a second broadcaster heard 5,000
        times without the Basic ID, then once with the same UAS ID: the
        MAC-only drone folds into the UAS ID. Its rows move in writer jobs of
        at most 1,000 rows a table, and the track reads every position
        meanwhile."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        r = srv.post("/v1/drones/receivers", {"id": "RX-1", "name": "Mast", "lat": 45.5,
                                              "lon": 9.2}, officer)
        self.assertEqual(r.status, 201, r)
        n = 5000
        known = flight(1, n)
        known[0]["mac"] = "60:60:1f:00:00:02"
        r = srv.post("/v1/drones/observations", {"receiver": "RX-1", "observations": known},
                     officer)
        self.assertEqual(r.status, 202, r)
        for start in range(0, n, 1000):
            obs = flight(1000, start)
            for o in obs:  # the Location alone: no UAS ID yet
                o["payload_hex"] = o["payload_hex"][6 + len(BASIC):]
            r = srv.post("/v1/drones/observations", {"receiver": "RX-1", "observations": obs},
                         officer)
            self.assertEqual(r.status, 202, r)
        mac = "mac:ble4:60:60:1f:00:00:01"
        wait_for(lambda: srv.get("/v1/drones/" + mac, officer).json
                 .get("position_time") == stamp(n - 1), "the MAC-only positions to be stored")
        r = srv.post("/v1/drones/observations", {"receiver": "RX-1",
                                                 "observations": flight(1, n + 1)}, officer)
        self.assertEqual(r.status, 202, r)

        def times(q):
            r = srv.get("/v1/drones/SSEVTFG93700070/track?" + q, officer)
            self.assertEqual(r.status, 200, r)
            f = [x for x in r.json["features"] if x["properties"]["kind"] == "flight"]
            return f[0]["properties"]["times"] if f else []

        every = [stamp(i) for i in range(n + 2)]
        wait_for(lambda: times("max_points=20000") == every,
                 "the UAS ID's track to hold every position")
        sampled = times("max_points=100")  # whether or not the fold is done
        self.assertEqual((len(sampled), sampled[0], sampled[-1]), (100, every[0], every[-1]))
        wait_for(lambda: srv.metric("customs_drones_folds_waiting") == 0, "the fold to finish")
        self.assertGreaterEqual(srv.metric("customs_drones_fold_jobs_total"), n // 1000)
        self.assertEqual(times("max_points=20000"), every)
        # the folded positions' overview moved too: 100 points over the whole flight
        overview = times("max_points=100")
        self.assertEqual((len(overview), overview[0], overview[-1]), (100, every[0], every[-1]))
        self.assertTrue(set(overview) <= set(every))
        self.assertEqual(overview, sorted(overview))

    def test_a_10_hz_flight_gives_max_points(self):
        """A drone heard ten times a second for 100 s: 1,000 positions, more
        than 2 x max_points, but the overview's finest level (2 s) has only
        50 buckets in the range. The track still answers max_points: the
        first position at or after each of max_points evenly spaced times."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        r = srv.post("/v1/drones/receivers", {"id": "RX-1", "name": "Mast", "lat": 45.5,
                                              "lon": 9.2}, officer)
        self.assertEqual(r.status, 201, r)
        n = 1000
        r = srv.post("/v1/drones/observations",
                     {"receiver": "RX-1", "observations": flight(n, 0, tenths=1)}, officer)
        self.assertEqual((r.status, r.json["accepted"]), (202, n), r)
        wait_for(lambda: srv.get("/v1/drones/SSEVTFG93700070", officer).json
                 .get("position_time") == stamp(n - 1, 1), "the last position to be stored")
        for m in (100, 400):
            r = srv.get(f"/v1/drones/SSEVTFG93700070/track?max_points={m}", officer)
            self.assertEqual(r.status, 200, r)
            got = r.json["features"][0]["properties"]
            # sample j: the first position at or after first + (last - first) * j / (m - 1)
            span_us = (n - 1) * 100000
            want = [stamp(-(-int(float(span_us) * j / (m - 1)) // 100000), 1) for j in range(m)]
            self.assertEqual((got["points"], got["times"]), (m, want))

    def test_a_track_that_cannot_be_read_whole_is_not_a_200(self):
        """A long track is read from the overview; when that read fails, the
        answer is a 500, never a 200 carrying only the track's two ends."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        r = srv.post("/v1/drones/receivers", {"id": "RX-1", "name": "Mast", "lat": 45.5,
                                              "lon": 9.2}, officer)
        self.assertEqual(r.status, 201, r)
        n = 1000
        r = srv.post("/v1/drones/observations",
                     {"receiver": "RX-1", "observations": flight(n, 0)}, officer)
        self.assertEqual((r.status, r.json["accepted"]), (202, n), r)
        wait_for(lambda: srv.get("/v1/drones/SSEVTFG93700070", officer).json
                 .get("position_time") == stamp(n - 1), "the last position to be stored")
        path = "/v1/drones/SSEVTFG93700070/track?max_points=100"
        r = srv.get(path, officer)
        self.assertEqual((r.status, r.json["features"][0]["properties"]["points"]), (200, 100), r)
        srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        # an alert whose stored document is not JSON: the alerts' read fails
        db.execute("INSERT INTO alerts(id, kind, subject, type, severity, time, drone, doc, "
                   "created) VALUES('AL-BAD', 'drone', 'SSEVTFG93700070', 'zone', 'high', 1, "
                   "'SSEVTFG93700070', '{', 0)")
        srv = self.serve()
        r = srv.get(path, officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (500, "internal"), r)
        srv.stop()
        db.execute("DELETE FROM alerts WHERE id = 'AL-BAD'")
        db.execute("DROP TABLE drones_track_lod")  # the overview's read now fails
        db.close()
        srv = self.serve()
        r = srv.get(path, officer)
        self.assertEqual(r.status, 500, r)
        self.assertEqual(r.json["error"]["code"], "internal", r)
        r = srv.get("/v1/drones/SSEVTFG93700070/track?max_points=2000", officer)
        self.assertEqual((r.status, r.json["features"][0]["properties"]["points"]), (200, n), r)

    def test_a_drones_alerts_are_its_windows_newest_first(self):
        """A drone with 100,000 alerts from long before, and five in the
        track's window, raised out of order: the track shows the window's
        alerts newest first (event time), the newest max_points of them when
        there are more, and none of the old ones (read by the alerts'
        (drone, time) index: test_query_plans)."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        r = srv.post("/v1/drones/receivers", {"id": "RX-1", "name": "Mast", "lat": 45.5,
                                              "lon": 9.2}, officer)
        self.assertEqual(r.status, 201, r)
        n = 20
        r = srv.post("/v1/drones/observations", {"receiver": "RX-1",
                                                 "observations": flight(n)}, officer)
        self.assertEqual((r.status, r.json["accepted"]), (202, n), r)
        wait_for(lambda: srv.get("/v1/drones/SSEVTFG93700070", officer).json
                 .get("position_time") == stamp(n - 1), "the last position to be stored")
        srv.stop()
        t0_ms = T0_US // 1000

        def row(i, at_ms):
            doc = {"id": f"AL-{i}", "seq": i, "type": "drone_incursion", "severity": "warning",
                   "time": at_ms, "lat": 45.5, "lon": 9.2, "detail": {"n": i}}
            return (f"AL-{i}", "drone", "SSEVTFG93700070", "drone_incursion", "warning", at_ms,
                    "SSEVTFG93700070", json.dumps(doc), 0)

        window = [12, 2, 15, 5, 9]  # seconds into the flight, in the order raised
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("BEGIN")
        sql = ("INSERT INTO alerts(id, kind, subject, type, severity, time, drone, doc, created)"
               " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
        db.executemany(sql, (row(i, t0_ms - 86400000 + i) for i in range(100000)))
        db.executemany(sql, (row(100000 + i, t0_ms + s * 1000) for i, s in enumerate(window)))
        db.execute("COMMIT")
        db.close()
        srv = self.serve()

        def alerts(q):
            r = srv.get(f"/v1/drones/SSEVTFG93700070/track?from={stamp(0)}&to={stamp(n - 1)}"
                        + q, officer)
            self.assertEqual(r.status, 200, r)
            return ([f["properties"]["detail"]["n"] - 100000 for f in r.json["features"]
                     if f["properties"]["kind"] == "alert"], r.json["alerts_truncated"])

        newest = sorted(range(len(window)), key=lambda i: -window[i])  # 15, 12, 9, 5, 2
        self.assertEqual(alerts("&max_points=20"), (newest, False))
        self.assertEqual(alerts("&max_points=3"), (newest[:3], True))

    def test_a_track_reads_every_drone_folding_in_however_many(self):
        """Twelve MAC-only drones fold into one UAS ID at once (a drone per
        transport and a few rotated addresses; more than the eight a track
        used to read). The database is left as the folding batch leaves it
        (drones_folds rows, MACs and aliases moved, the MAC-only drones gone)
        with 5,000 positions under each folded key, interleaved in time;
        their fold then takes hundreds of writer jobs. Every track read, while
        they move and after, holds every position of the window."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        r = srv.post("/v1/drones/receivers", {"id": "RX-1", "name": "Mast", "lat": 45.5,
                                              "lon": 9.2}, officer)
        self.assertEqual(r.status, 201, r)
        known = flight(1, -1)  # the UAS ID, heard once before the window
        known[0]["mac"] = "60:60:1f:00:00:02"
        k, n = 12, 5000
        macs = [f"60:60:1f:00:01:{i:02x}" for i in range(k)]
        heard = []
        for i, mac in enumerate(macs):  # each MAC-only drone heard once, far later
            o = flight(1, 10 ** 6 + i)[0]
            o["mac"], o["payload_hex"] = mac, o["payload_hex"][6 + len(BASIC):]
            heard.append(o)
        r = srv.post("/v1/drones/observations", {"receiver": "RX-1",
                                                 "observations": known + heard}, officer)
        self.assertEqual((r.status, r.json["accepted"]), (202, k + 1), r)
        for mac in macs:
            wait_for(lambda: srv.get("/v1/drones/mac:ble4:" + mac, officer).status == 200,
                     "the MAC-only drone to be stored")
        srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("BEGIN")
        into = db.execute("SELECT idx FROM drones_drones WHERE uas_id = ?",
                          ("SSEVTFG93700070",)).fetchone()[0]
        for i, mac in enumerate(macs):
            src = db.execute("SELECT idx FROM drones_drones WHERE uas_id = ?",
                             ("mac:ble4:" + mac,)).fetchone()[0]
            for sql in ("DELETE FROM drones_positions WHERE drone = ?1",
                        "DELETE FROM drones_track_lod WHERE drone = ?1",
                        "INSERT INTO drones_folds(from_drone, into_drone) VALUES(?1, ?2)",
                        "UPDATE OR IGNORE drones_heard SET drone = ?2 WHERE drone = ?1",
                        "DELETE FROM drones_heard WHERE drone = ?1",
                        "UPDATE drones_macs SET drone = ?2 WHERE drone = ?1",
                        "UPDATE drones_aliases SET drone = ?2 WHERE drone = ?1",
                        "DELETE FROM drones_drones WHERE idx = ?1"):
                db.execute(sql, (src, into)[:sql.count("?")])
            db.executemany("INSERT INTO drones_positions(drone, time, lat, lon, height)"
                           " VALUES(?, ?, 45.5, 9.2, 80)",
                           [(src, T0_US + (i + k * j) * 10 ** 6) for j in range(n)])
            db.execute(LOD_FILL, (src,))
        db.execute("COMMIT")
        db.close()
        srv = self.serve()
        window = [stamp(t) for t in range(k * 100)]  # 100 positions of every folded key

        def whole():
            r = srv.get(f"/v1/drones/SSEVTFG93700070/track?to={window[-1]}&max_points=20000",
                        officer)
            self.assertEqual(r.status, 200, r)
            got = r.json["features"][0]["properties"]["times"]
            self.assertEqual(got, [stamp(-1)] + window)
            r = srv.get("/v1/drones/SSEVTFG93700070/track?max_points=100", officer)
            got = r.json["features"][0]["properties"]["times"]
            self.assertEqual((len(got), got[0], got[-1]), (100, stamp(-1), stamp(k * n - 1)))
            self.assertEqual(got, sorted(set(got)))
            return srv.metric("customs_drones_folds_waiting")

        self.assertGreater(whole(), 8)  # read while more than eight still fold
        wait_for(lambda: whole() == 0, "the folds to finish")
        whole()


if __name__ == "__main__":
    unittest.main()
