"""Drones (issue 10): the decoder CLI, the shared captures, the registry,
the simulator through import with every alert type, and the live API.

The shared captures come from the Open Drone ID project (data/remoteid,
Apache-2.0); expected figures are derived from ASTM F3411 by hand (see
docs/drones.md): 274 BT5 frames of which 30 failed their CRC at capture.
"""
import json
import os
import socket
import sqlite3
import subprocess
import unittest

from harness import (BIN, SOURCE, Server, TempDirTestCase, create_key, damage_table, key_id,
                     run, wait_for)
from trackkit import Mosquitto

DATA = os.path.join(SOURCE, "data")
CAP = os.path.join(DATA, "remoteid")
ZONES = os.path.join(DATA, "drones", "zones.geojson")
REGISTRY = os.path.join(DATA, "drones", "registry.csv")

BASIC = "00125353455654464739333730303037300000000000000000"
LOCATION = "122624160a42bf241b6ed1b4b69808ac0870086b53150e0200"
SYSTEM = "4004a485251b6edbb3b6010032000000001500000000000000"
OPERATOR = "50004742522d4f502d31323341424344000000000000000000"


def decode(*hexes, check=True):
    p = run("drones", "decode", *hexes, check=check)
    return p, [json.loads(line) for line in p.stdout.splitlines()]


class DecodeCli(unittest.TestCase):
    def test_worked_examples(self):
        _, (b, l, s, o) = decode(BASIC, LOCATION, SYSTEM, OPERATOR)
        self.assertEqual(b["type"], "basic_id")
        self.assertEqual((b["id_type"], b["id_type_name"]), (1, "serial_number"))
        self.assertEqual((b["ua_type"], b["ua_type_name"]), (2, "helicopter_or_multirotor"))
        self.assertEqual(b["uas_id"], "SSEVTFG93700070")
        self.assertEqual(l["type"], "location")
        self.assertEqual(l["version"], 2)
        self.assertEqual(l["status_name"], "airborne")
        expect = {"direction_deg": 216, "speed_h_mps": 5.5, "speed_v_mps": 5.0,
                  "lat": 45.539309, "lon": -122.966389, "alt_baro_m": 100, "alt_geo_m": 110,
                  "height_m": 80, "height_ref": "ground", "acc_h_m": 3, "acc_v_m": 1,
                  "acc_baro_m": 3, "acc_speed_mps": 1, "timestamp_s": 360.5,
                  "timestamp_acc_s": 0.2}
        for k, v in expect.items():
            self.assertEqual(l[k], v, k)
        self.assertEqual(s["type"], "system")
        self.assertEqual(s["operator_location_type_name"], "takeoff")
        self.assertEqual(s["classification_type_name"], "eu")
        self.assertEqual((s["operator_lat"], s["operator_lon"]), (45.5443876, -122.9726866))
        self.assertEqual((s["area_count"], s["area_radius_m"]), (1, 500))
        self.assertEqual((s["category_eu"], s["class_eu"], s["class_eu_name"]), (1, 5, "class_4"))
        for k in ("area_ceiling_m", "area_floor_m", "operator_alt_geo_m", "timestamp"):
            self.assertIsNone(s[k], k)
        self.assertEqual(o, {"type": "operator_id", "version": 0, "operator_id_type": 0,
                             "operator_id_type_name": "operator_id",
                             "operator_id": "GBR-OP-123ABCD"})

    def test_pack(self):
        pack = "f01904" + BASIC + LOCATION + SYSTEM + OPERATOR
        _, (p,) = decode(pack)
        self.assertEqual(p["type"], "message_pack")
        self.assertEqual([m["type"] for m in p["messages"]],
                         ["basic_id", "location", "system", "operator_id"])

    def test_invalid(self):
        for bad, why in (("60" + "00" * 24, "unknown message type 6"),
                         (BASIC[:-2], "25 bytes"),
                         ("f0194603", "at most 9"),
                         ("f0594f", "size must be 25"),
                         ("zz", "hex")):
            p, out = decode(bad, check=False)
            self.assertNotEqual(p.returncode, 0, bad)
            self.assertIn(why, p.stderr, bad)
            self.assertEqual(out, [])


class Captures(TempDirTestCase):
    def imp(self, name, *extra):
        p = run("drones", "import", "--db", self.db, *extra, os.path.join(CAP, name))
        return p.stdout.strip()

    def test_counts(self):
        self.assertEqual(self.imp("odid_wifi_bcn_sample.pcap"),
                         "frames 21, remote_id_messages 105, drones 1")
        self.assertEqual(self.imp("odid_bt5_lr_sample.pcapng", "--receiver", "RX-BT"),
                         "frames 274, remote_id_messages 1069, drones 1")
        # no Basic ID: grouped by transport and address, one per transport
        self.assertEqual(self.imp("odid_wifi_sample.pcap"),
                         "frames 63, remote_id_messages 42, drones 2")

    def test_drones_from_captures(self):
        self.imp("odid_wifi_sample.pcap")
        self.imp("odid_bt5_lr_sample.pcapng", "--receiver", "RX-BT")
        srv = self.serve()
        tok = create_key(self.db, "CUSTOMS", "officer")
        items = srv.get("/v1/drones", tok).json["items"]
        names = sorted(d["uas_id"] for d in items)
        self.assertEqual(names, ["SSEVTFG93700070", "mac:wifi_beacon:84:cc:a8:60:43:24",
                                 "mac:wifi_nan:84:cc:a8:60:43:24"])
        bt = srv.get("/v1/drones/SSEVTFG93700070", tok).json
        self.assertEqual(bt["ua_type"], 2)
        self.assertEqual(bt["operator_id"], "FIN87astrdge12kxyz8")
        self.assertIsNone(bt["lat"])  # no GPS fix in this capture
        self.assertEqual(bt["receivers"], ["RX-BT"])
        self.assertEqual(bt["broadcasters"], [{"transport": "ble5", "mac": "e0:7d:ea:eb:2f:1c"}])
        nan = srv.get("/v1/drones/mac:wifi_nan:84:cc:a8:60:43:24", tok).json
        self.assertEqual(nan["operator_id"], "GBR-OP-123ABCD")
        self.assertAlmostEqual(nan["operator_lat"], 45.5443876)
        track = srv.get("/v1/drones/mac:wifi_nan:84:cc:a8:60:43:24/track", tok).json
        flight = [f for f in track["features"] if f["properties"]["kind"] == "flight"]
        self.assertEqual(len(flight), 1)
        self.assertEqual(flight[0]["geometry"]["type"], "LineString")
        self.assertEqual(len(flight[0]["geometry"]["coordinates"]),
                         len(flight[0]["properties"]["times"]))

    def test_receivers_that_cannot_be_read_fail_the_drone(self):
        # a drone's nested receivers list is read whole or the reply fails:
        # with drones_heard unreadable (its root page damaged) the drone and
        # the list answer 503 "retry", not "receivers": [] in a 200
        self.imp("odid_bt5_lr_sample.pcapng", "--receiver", "RX-BT")
        damage_table(self.db, "drones_heard")
        srv = self.serve()
        tok = create_key(self.db, "CUSTOMS", "officer")
        for path in ("/v1/drones/SSEVTFG93700070", "/v1/drones"):
            r = srv.get(path, tok)
            self.assertEqual((r.status, r.json["error"]["code"]), (503, "unavailable"), path)

    def test_bad_capture(self):
        path = os.path.join(self.tmp, "x.pcap")
        with open(path, "wb") as f:
            f.write(b"not a capture")
        p = run("drones", "import", "--db", self.db, path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("x.pcap", p.stderr)


class Registry(TempDirTestCase):
    def test_load_and_refuse(self):
        p = run("drones", "registry", "--db", self.db, REGISTRY)
        self.assertEqual(p.stdout.strip(), "registry: 2 entries")
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("uas_id,operator_id,holder,valid_until\nA1,OP,x,2024-02-30\n")
        p = run("drones", "registry", "--db", self.db, bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 2, column valid_until", p.stderr)
        with open(bad, "w") as f:
            f.write("uas,operator_id,holder,valid_until\n")
        p = run("drones", "registry", "--db", self.db, bad, check=False)
        self.assertIn("header", p.stderr)
        # the refused files changed nothing
        out = subprocess.run(["sqlite3", self.db, "SELECT count(*) FROM drones_registry"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            self.assertEqual(out.stdout.strip(), "2")


class Simulated(TempDirTestCase):
    """The built-in flights through a capture file: every alert type."""

    def test_alerts(self):
        pcap = os.path.join(self.tmp, "sim.pcap")
        alerts = os.path.join(self.tmp, "alerts.jsonl")
        run("drones", "simulate", "--out", pcap, "--seed", "3", "--quiet")
        run("drones", "registry", "--db", self.db, REGISTRY)
        p = run("drones", "import", "--db", self.db, "--zones", ZONES, "--alerts", alerts, pcap)
        self.assertRegex(p.stdout, r"^frames \d+, remote_id_messages \d+, drones 3\n$")
        with open(alerts) as f:
            got = [json.loads(line) for line in f]
        kinds = [(a["drone"], a["type"], a["severity"]) for a in got]
        smug, spoof, survey = "SMG3RX000000417", "1581F5FKD23280099", "1581F5FKD23280021"
        self.assertFalse([k for k in kinds if k[0] == survey], "the legal survey raised alerts")
        self.assertIn((smug, "drone_unregistered", "info"), kinds)
        cross = [a for a in got if a["type"] == "drone_border_crossing"]
        self.assertEqual([(a["drone"], a["detail"]["direction"]) for a in cross],
                         [(smug, "in"), (smug, "out")])
        self.assertTrue(all(a["detail"]["zone"] == "LT-EAST" and a["detail"]["height_m"] <= 30
                            for a in cross))
        drop = [a for a in got if a["type"] == "drone_drop_pattern"]
        self.assertEqual(len(drop), 1)
        self.assertEqual(drop[0]["severity"], "critical")  # it had crossed the border
        self.assertEqual(set(drop[0]["detail"]), {"hover_s", "height_m", "distance_to_border_m"})
        self.assertLess(drop[0]["detail"]["distance_to_border_m"], 5000)
        spoofs = [a for a in got if a["type"] == "drone_spoofing"]
        self.assertEqual(sorted(k for a in spoofs for k in a["detail"] if k != "seconds"),
                         ["pilot_jump_m", "speed_mps"])
        self.assertTrue(all(a["drone"] == spoof for a in spoofs))
        zone = [a for a in got if a["type"] == "drone_restricted_zone"]
        self.assertTrue(zone)
        self.assertEqual(zone[0]["detail"], {"zone": "BW-VILNIUS", "zone_kind": "bonded-warehouse"})
        self.assertEqual(zone[0]["severity"], "warning")
        # the same capture again raises the same alerts: event time, not the clock
        alerts2 = os.path.join(self.tmp, "alerts2.jsonl")
        db2 = os.path.join(self.tmp, "again.db")
        run("drones", "registry", "--db", db2, REGISTRY)
        run("drones", "import", "--db", db2, "--zones", ZONES, "--alerts", alerts2, pcap)
        with open(alerts2) as f:
            self.assertEqual([json.loads(line) for line in f], got)
        # the same alerts are in the alerting door's table, about the drone
        srv = self.serve()
        tok = create_key(self.db, "CUSTOMS", "officer")
        stored = srv.get("/v1/alerts?drone=" + smug, tok).json["items"]
        self.assertEqual(sorted((a["type"], a["severity"]) for a in stored),
                         sorted((a["type"], a["severity"]) for a in got if a["drone"] == smug))
        for a in stored:
            self.assertEqual((a["subject"], a["drone"]), ({"kind": "drone", "id": smug}, smug))
            self.assertEqual((a["device"], a["container"], a["consignment"]), (None, None, None))
        self.assertEqual(srv.get("/v1/alerts?subject=drone&type=drone_spoofing", tok)
                         .json["items"][0]["drone"], spoof)
        # and on the flight's map: alerts as Points
        track = srv.get("/v1/drones/%s/track" % smug, tok).json
        points = [f for f in track["features"] if f["properties"]["kind"] == "alert"]
        self.assertEqual(sorted(f["properties"]["id"] for f in points),
                         sorted(a["id"] for a in stored if a["lat"] is not None))
        self.assertTrue(all(f["geometry"]["type"] == "Point" for f in points))
        self.assertIs(track["alerts_truncated"], False)
        # the alerts read are bounded by what the reply shows: max_points of
        # them, the newest (event time, then seq) first, and the reply says
        # there are more
        self.assertGreater(len(stored), 2)
        track = srv.get("/v1/drones/%s/track?max_points=2" % smug, tok).json
        newest = sorted(stored, key=lambda a: (a["time"], a["seq"]), reverse=True)[:2]
        self.assertEqual([f["properties"]["id"] for f in track["features"]
                          if f["properties"]["kind"] == "alert"],
                         [a["id"] for a in newest if a["lat"] is not None])
        self.assertIs(track["alerts_truncated"], True)
        n = len(stored)
        track = srv.get("/v1/drones/%s/track?max_points=%d" % (smug, n), tok).json
        self.assertIs(track["alerts_truncated"], False)
        # a window that ends within the epoch's first millisecond holds none
        # of them (the door's to_ms 0 means "no bound", not "before 1 ms")
        track = srv.get("/v1/drones/%s/track?from=1970-01-01T00:00:00Z"
                        "&to=1970-01-01T00:00:00.0005Z" % smug, tok)
        self.assertEqual(track.status, 200, track)
        self.assertEqual([f for f in track.json["features"]
                          if f["properties"]["kind"] == "alert"], [])

    def test_drop_pattern_escalates_one_alert(self):
        """A hover outside, near the border, then a crossing: the warning
        becomes critical — one episode, one alert, updated on the stream."""
        scen = os.path.join(self.tmp, "scenario.json")
        with open(scen, "w") as f:
            json.dump({"flights": [{
                "uas_id": "ESC0000000000001", "pilot_lat": 54.24, "pilot_lon": 25.84,
                "waypoints": [
                    {"lat": 54.24, "lon": 25.84, "height_m": 0, "speed_mps": 5},
                    {"lat": 54.24, "lon": 25.80, "height_m": 10, "speed_mps": 10, "hover_s": 30},
                    {"lat": 54.24, "lon": 25.70, "height_m": 20, "speed_mps": 15},
                    {"lat": 54.24, "lon": 25.84, "height_m": 20, "speed_mps": 15}]}]}, f)
        pcap = os.path.join(self.tmp, "esc.pcap")
        tap = os.path.join(self.tmp, "esc.jsonl")
        run("drones", "simulate", "--out", pcap, "--scenario", scen, "--quiet")
        run("drones", "import", "--db", self.db, "--zones", ZONES, "--alerts", tap, pcap)
        with open(tap) as f:
            drops = [json.loads(line) for line in f]
        drops = [(a["severity"], a["escalation"]) for a in drops
                 if a["type"] == "drone_drop_pattern"]
        self.assertEqual(drops, [("warning", False), ("critical", True)])
        srv = self.serve()
        tok = create_key(self.db, "CUSTOMS", "officer")
        stored = srv.get("/v1/alerts?type=drone_drop_pattern&drone=ESC0000000000001", tok)
        self.assertEqual([a["severity"] for a in stored.json["items"]], ["critical"])


class SimulateMqtt(TempDirTestCase):
    """simulate --mqtt publishes the observation JSON to a real mosquitto
    (the server's subscription comes with the shared broker wiring)."""

    def test_publish(self):
        broker = Mosquitto()
        try:
            # a persistent session subscribed first: the broker queues what
            # arrives meanwhile, so nothing races
            sub = ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-c", "-i", "drones-t",
                   "-t", "customs/remoteid/#", "-v"]
            subprocess.run(sub + ["-E"], check=True, timeout=30)
            run("drones", "simulate", "--mqtt", broker.url, "--receiver", "RX-7",
                "--frames", "600", "--seed", "2", "--quiet")
            got = subprocess.run(sub + ["-C", "2"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout
            lines = got.splitlines()
            self.assertEqual(len(lines), 2)
            topic, body = lines[0].split(" ", 1)
            self.assertEqual(topic, "customs/remoteid/RX-7")
            doc = json.loads(body)
            self.assertEqual(doc["receiver"], "RX-7")
            self.assertEqual(len(doc["observations"]), 500)
            self.assertEqual(len(json.loads(lines[1].split(" ", 1)[1])["observations"]), 100)
            o = doc["observations"][0]
            self.assertEqual(set(o), {"time", "transport", "mac", "rssi", "payload_hex"})
            _, (p,) = decode(o["payload_hex"])
            self.assertEqual(p["messages"][0]["type"], "basic_id")
        finally:
            broker.close()


    def test_server_ingests_remoteid_topic(self):
        """The server takes customs/remoteid/<receiver> on track's broker
        connection; a message it can never take is acknowledged (and
        logged), the rest once stored: a restart gets nothing again."""
        broker = Mosquitto()
        try:
            run("drones", "registry", "--db", self.db, REGISTRY)
            tok = create_key(self.db, "CUSTOMS", "officer")
            args = ("--drone-zones", ZONES, "--mqtt", broker.url, "--mqtt-client-id", "srv-d")
            srv = self.serve(*args)
            self.assertEqual(srv.post("/v1/drones/receivers", {"id": "RX-7", "name": "Mast 7",
                                      "lat": 54.2, "lon": 25.7}, tok).status, 201)
            wait_for(lambda: "customs_track_mqtt_connected 1" in srv.get("/metrics").body,
                     "the server's MQTT subscription")
            pub = ["mosquitto_pub", "-p", str(broker.port), "-q", "1"]
            subprocess.run(pub + ["-t", "customs/remoteid/RX-7", "-m", "not json"], check=True)
            subprocess.run(pub + ["-t", "customs/remoteid/RX-404", "-m",
                                  '{"receiver":"RX-404","observations":[]}'], check=True)
            run("drones", "simulate", "--mqtt", broker.url, "--receiver", "RX-7",
                "--frames", "1500", "--seed", "2", "--quiet")
            items = wait_for(lambda: srv.get("/v1/drones", tok).json["items"],
                             "three drones over MQTT", done=lambda v: len(v) == 3)
            self.assertTrue(all(d["receivers"] == ["RX-7"] for d in items))
            wait_for(lambda: srv.get("/v1/alerts?subject=drone", tok).json["items"],
                     "drone alerts from MQTT")
            srv.stop()
            srv = self.serve(*args)
            wait_for(lambda: "customs_track_mqtt_connected 1" in srv.get("/metrics").body,
                     "the resumed session")
            metrics = srv.get("/metrics").body
            self.assertIn("customs_drones_observations_total 0\n", metrics)
        finally:
            broker.close()


class LiveApi(TempDirTestCase):
    def setUp(self):
        super().setUp()
        run("drones", "registry", "--db", self.db, REGISTRY)
        self.officer = create_key(self.db, "CUSTOMS", "officer", "officer")
        self.device = create_key(self.db, "CUSTOMS", "device", "rx1")
        self.trader = create_key(self.db, "ACME", "trader")
        self.srv = self.serve("--drone-zones", ZONES)

    def receiver(self, rid="RX-1", **kw):
        body = {"id": rid, "name": "Mast 1", "lat": 54.2, "lon": 25.7, **kw}
        return self.srv.post("/v1/drones/receivers", body, self.officer)

    def test_observations(self):
        self.assertEqual(self.receiver(key_id=key_id(self.db, "rx1")).status, 201)
        self.assertEqual(self.receiver().status, 409)
        self.assertEqual(self.receiver("RX-2", lat=95).status, 400)
        pack = "f01904" + BASIC + LOCATION + SYSTEM + OPERATOR
        obs = [{"time": "2024-06-01T10:00:00Z", "transport": "wifi_beacon",
                "mac": "60:60:1f:00:00:01", "rssi": -71, "payload_hex": pack},
               {"time": "2024-06-01T10:00:01Z", "transport": "ble4",
                "mac": "60:60:1f:00:00:02", "payload_hex": OPERATOR},
               {"time": "2024-06-01T10:00:01Z", "transport": "ble9", "mac": "x",
                "payload_hex": OPERATOR},
               {"time": "2024-06-01T10:00:01Z", "transport": "ble4",
                "mac": "60:60:1f:00:00:02", "payload_hex": "60" + "00" * 24},
               {"time": "2099-01-01T00:00:00Z", "transport": "ble4",
                "mac": "60:60:1f:00:00:02", "payload_hex": OPERATOR},
               {"time": "2024-06-01T10:00:01Z", "transport": "ble4",
                "mac": "60:60:1f:00:00:02", "payload_hex": OPERATOR, "extra": 1}]
        r = self.srv.post("/v1/drones/observations", {"receiver": "RX-1", "observations": obs},
                          self.device)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json["accepted"], 2)
        self.assertEqual([x["index"] for x in r.json["rejected"]], [2, 3, 4, 5])
        self.assertIn("transport", r.json["rejected"][0]["reason"])
        self.assertIn("unknown message type 6", r.json["rejected"][1]["reason"])
        d = self.srv.get("/v1/drones/SSEVTFG93700070", self.officer).json
        self.assertEqual(d["lat"], 45.539309)
        self.assertEqual(d["height_m"], 80)
        self.assertEqual(d["registered"], False)
        self.assertEqual(d["receivers"], ["RX-1"])
        self.assertEqual(d["operator_id"], "GBR-OP-123ABCD")
        lst = self.srv.get("/v1/drones?limit=1", self.officer).json
        self.assertEqual(len(lst["items"]), 1)
        self.assertIsNotNone(lst["next_cursor"])
        rest = self.srv.get("/v1/drones?cursor=" + lst["next_cursor"], self.officer).json
        self.assertEqual(len(rest["items"]), 1)
        self.assertNotEqual(rest["items"][0]["uas_id"], lst["items"][0]["uas_id"])
        # refusals
        self.assertEqual(self.srv.get("/v1/drones?colour=red", self.officer).status, 400)
        self.assertEqual(self.srv.get("/v1/drones", self.trader).status, 403)
        self.assertEqual(self.srv.get("/v1/drones/NOPE", self.officer).status, 404)
        r = self.srv.post("/v1/drones/observations", {"receiver": "RX-9", "observations": obs},
                          self.officer)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/receiver")
        self.assertEqual(self.receiver("RX-2").status, 201)
        r = self.srv.post("/v1/drones/observations", {"receiver": "RX-2", "observations": obs},
                          self.device)
        self.assertEqual(r.status, 403)  # the device key is bound to RX-1
        r = self.srv.post("/v1/drones/observations", {"receiver": "RX-1", "observations": obs},
                          self.trader)
        self.assertEqual(r.status, 403)

    def test_stream(self):
        self.assertEqual(self.receiver().status, 201)
        c = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        c.sendall(("GET /v1/drones/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "\r\n" % self.officer).encode())
        buf = b""
        while b"customs drone positions" not in buf:
            buf += c.recv(4096)
        self.assertIn(b"text/event-stream", buf)
        obs = []
        for i in range(30):  # 10 Hz for 3 s: thinned to about one a second
            obs.append({"time": "2024-06-01T10:00:%02d.%dZ" % (i // 10, i % 10),
                        "transport": "ble4", "mac": "60:60:1f:00:00:03",
                        "payload_hex": LOCATION})
        r = self.srv.post("/v1/drones/observations",
                          {"receiver": "RX-1", "observations": [
                              {"time": "2024-06-01T09:59:59Z", "transport": "ble4",
                               "mac": "60:60:1f:00:00:03", "payload_hex": BASIC}] + obs},
                          self.officer)
        self.assertEqual(r.json["accepted"], 31)
        while buf.count(b"event: position") < 1:
            buf += c.recv(65536)
        c.close()
        events = [json.loads(line[6:]) for line in buf.decode().splitlines()
                  if line.startswith("data: ")]
        self.assertTrue(events)
        self.assertEqual(events[0]["uas_id"], "SSEVTFG93700070")
        self.assertEqual(events[0]["lat"], 45.539309)


def location(lat, lon, tenths):
    """The worked Location message moved to lat/lon, its timestamp at tenths
    of a second after the hour."""
    b = bytearray.fromhex(LOCATION)
    b[5:9] = round(lat * 1e7).to_bytes(4, "little", signed=True)
    b[9:13] = round(lon * 1e7).to_bytes(4, "little", signed=True)
    b[21:23] = tenths.to_bytes(2, "little")
    return b.hex()


def square(lon0, lat0, lon1, lat1):
    return {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1],
                                                [lon0, lat1], [lon0, lat0]]]}


class Zones(TempDirTestCase):
    """The drone rules use tracking's zones (/v1/zones), also those created
    while the server runs: from the next observation on."""

    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "CUSTOMS", "officer", "officer")
        self.srv = self.serve()
        rx = {"id": "RX-1", "name": "Mast 1", "lat": 45.5, "lon": -122.9}
        self.assertEqual(self.srv.post("/v1/drones/receivers", rx, self.officer).status, 201)

    def observe(self, mac, second, lat, lon):
        obs = [{"time": "2024-06-01T10:%02d:%02dZ" % (second // 60, second % 60),
                "transport": "ble4", "mac": mac, "payload_hex": location(lat, lon, second * 10)}]
        r = self.srv.post("/v1/drones/observations", {"receiver": "RX-1", "observations": obs},
                          self.officer)
        self.assertEqual((r.status, r.json["accepted"]), (202, 1), r)

    def alerts(self, mac):
        drone = "mac:ble4:" + mac
        return [(a["type"], a["detail"].get("zone")) for a in
                self.srv.get("/v1/alerts?drone=" + drone, self.officer).json["items"]]

    def test_zones_created_at_runtime(self):
        a, b = "60:60:1f:00:00:10", "60:60:1f:00:00:11"
        self.observe(a, 0, 45.5393, -122.9664)  # no zone there yet: nothing
        self.assertEqual(self.alerts(a), [])
        zone = {"id": "RZ-1", "name": "Airfield", "kind": "restricted",
                "geometry": square(-122.97, 45.53, -122.96, 45.545)}
        self.assertEqual(self.srv.post("/v1/zones", zone, self.officer).status, 201)
        self.observe(b, 1, 45.5393, -122.9664)
        self.assertEqual(self.alerts(b), [("drone_restricted_zone", "RZ-1")])
        self.observe(a, 2, 45.5394, -122.9664)  # a drone already flying sees it too
        self.assertEqual(self.alerts(a), [("drone_restricted_zone", "RZ-1")])
        # territory: a new kind of tracking's zones, listed with the others
        terr = {"id": "TERR", "name": "Territory", "kind": "territory",
                "geometry": square(-122.98, 45.50, -122.90, 45.60)}
        self.assertEqual(self.srv.post("/v1/zones", terr, self.officer).status, 201)
        kinds = self.srv.get("/v1/zones?kind=territory", self.officer).json["items"]
        self.assertEqual([z["id"] for z in kinds], ["TERR"])
        c = "60:60:1f:00:00:12"
        self.observe(c, 10, 45.5393, -123.0)   # outside, 1.5 km west of the line
        self.observe(c, 70, 45.5393, -122.95)  # a minute later inside
        self.assertIn(("drone_border_crossing", "TERR"), self.alerts(c))

    def test_a_zone_that_cannot_be_read_is_said_and_the_others_used(self):
        """A stored zone whose document no longer reads is named in the
        server's log as one the drone rules skip, never skipped unnoticed;
        the other zones still raise their alerts."""
        for zid, lon0 in (("RZ-BAD", -122.99), ("RZ-OK", -122.97)):
            zone = {"id": zid, "name": zid, "kind": "restricted",
                    "geometry": square(lon0, 45.53, lon0 + 0.01, 45.545)}
            self.assertEqual(self.srv.post("/v1/zones", zone, self.officer).status, 201)
        self.srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("UPDATE track_zones SET doc = '{\"id\":' WHERE id = 'RZ-BAD'")
        db.close()
        self.srv = self.serve()
        self.assertIn("zone RZ-BAD cannot be read", self.srv.output())
        self.assertIn("the drone rules) skip it", self.srv.output())
        a = "60:60:1f:00:00:20"
        self.observe(a, 0, 45.5393, -122.9664)
        self.assertEqual(self.alerts(a), [("drone_restricted_zone", "RZ-OK")])

    def test_zones_file_joins_the_zones(self):
        self.srv.stop()
        srv = self.serve("--drone-zones", ZONES)
        ids = sorted(z["id"] for z in srv.get("/v1/zones", self.officer).json["items"])
        self.assertEqual(ids, ["AIRBASE-1", "BW-VILNIUS", "CO-MEDININKAI", "LT-EAST"])
        srv.stop()
        srv = self.serve("--drone-zones", ZONES)  # again: kept, not doubled
        self.assertEqual(len(srv.get("/v1/zones", self.officer).json["items"]), 4)

    def test_a_qgis_zones_file_keeps_its_own_properties(self):
        """QGIS (and most GIS tools) write their own members into a feature's
        properties — fid, description, styles. GeoJSON's properties are an
        open object (RFC 7946 §3.2): the loaders take id, kind and name and
        keep the rest, as given, as the zone's properties; the drone rules
        use the zone as before."""
        with open(ZONES) as f:
            fc = json.load(f)
        theirs = []
        for i, feat in enumerate(fc["features"]):
            extra = {"fid": i + 1, "description": f"layer row {i + 1}",
                     "qgis": {"layer": "zones", "style": {"fill": "#80ff0000", "width": 0.26},
                              "tags": ["border", None, 3]}, "geometry": "not ours either"}
            feat["properties"].update(extra)
            theirs.append((feat["properties"]["id"], extra))
        path = os.path.join(self.tmp, "qgis.geojson")
        with open(path, "w") as f:
            json.dump(fc, f)
        self.srv.stop()
        srv = self.serve("--drone-zones", path)
        for zid, extra in theirs:
            z = srv.get("/v1/zones/" + zid, self.officer).json
            self.assertEqual(z["properties"], extra, zid)
            self.assertEqual(sorted(z), ["created_at", "geometry", "id", "kind", "name",
                                         "properties"])
        srv.stop()
        # the import's loader too, and the rules read the zones as before
        pcap = os.path.join(self.tmp, "sim.pcap")
        alerts = os.path.join(self.tmp, "alerts.jsonl")
        db2 = os.path.join(self.tmp, "import.db")
        run("drones", "simulate", "--out", pcap, "--seed", "3", "--quiet")
        run("drones", "import", "--db", db2, "--zones", path, "--alerts", alerts, pcap)
        with open(alerts) as f:
            types = {json.loads(line)["type"] for line in f}
        self.assertTrue({"drone_border_crossing", "drone_restricted_zone"} <= types, types)
        officer2 = create_key(db2, "KCS", "officer")
        srv = Server(db2)
        self.servers.append(srv)
        for zid, extra in theirs:
            self.assertEqual(srv.get("/v1/zones/" + zid, officer2).json["properties"], extra)
        srv.stop()
        # ours are still checked: a bad kind names the feature's member
        fc["features"][0]["properties"]["kind"] = "harbour"
        with open(path, "w") as f:
            json.dump(fc, f)
        p = run("drones", "import", "--db", db2, "--zones", path, pcap, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/features/0/properties/kind", p.stderr)


if __name__ == "__main__":
    unittest.main()
