"""Tracking over HTTP against the real binary: registration and validation,
batch telemetry and dead letters, Traccar/OsmAnd compatibility, alerts with
acknowledgement and lane raising, replay as GeoJSON, state across a
restart, and a recorded journey replayed at once."""
import json
import os
import sqlite3
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key, declaration, key_id, run  # noqa: E402
from trackkit import SSE, db_rows, now_ms, setup_world, square, wait_for  # noqa: E402

T0 = 1709251200000  # 2024-03-01T00:00:00Z
MIN = 60000


def msg(ts, lat, lon, device="TRK-1", **extra):
    m = {"device": device, "ts": ts, "lat": lat, "lon": lon}
    m.update(extra)
    return m


def north(m):
    """Degrees of latitude for m metres at the equator (meridional radius)."""
    return m / 6335439.327 * 57.29577951308232


class TrackApiTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "KCS", "officer")
        self.srv = self.serve()

    def post(self, path, body, token=None):
        return self.srv.post(path, body, token=token or self.officer)

    def get(self, path, token=None):
        return self.srv.get(path, token=token or self.officer)

    def telemetry(self, msgs, token=None):
        r = self.post("/v1/telemetry", msgs, token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def alerts(self, **q):
        r = self.get("/v1/alerts?" + urllib.parse.urlencode(q))
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    # ---- registration ------------------------------------------------------------------

    def test_registration_validates_every_field(self):
        r = self.post("/v1/zones", {"id": "Z1", "kind": "port", "geometry": {
            "type": "Polygon", "coordinates": [[[0, 1], [1, 1], [1, 2], [0, 2]]]}})
        self.assertEqual(r.status, 400, r)
        paths = [d["path"] for d in r.json["error"]["details"]]
        self.assertIn("/geometry/coordinates/0/3", paths)
        r = self.post("/v1/zones", {"id": "Z1", "kind": "harbour", "geometry": square(0, 1, .1)})
        self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/kind"])
        # a yard with a hole, and a zone cut at the antimeridian
        r = self.post("/v1/zones", {"id": "YARD", "name": "Yard", "kind": "port", "geometry": {
            "type": "Polygon", "coordinates": [
                [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]],
                [[.4, .4], [.4, .6], [.6, .6], [.6, .4], [.4, .4]]]}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.post("/v1/zones", {"id": "YARD", "kind": "port",
                                                 "geometry": square(5, 5, .1)}).status, 409)
        # others' members go in properties (an open object, kept as given,
        # never read); ours stay closed
        theirs = {"fid": 7, "description": "Gate 3 — night shift", "style": {
            "stroke": "#ff0000", "width": 1.5, "dash": [4, 2], "label": None}}
        r = self.post("/v1/zones", {"id": "GATE", "kind": "port", "geometry": square(3, 3, .1),
                                    "properties": theirs})
        self.assertEqual((r.status, r.json["properties"]), (201, theirs), r)
        self.assertEqual(self.get("/v1/zones/GATE").json["properties"], theirs)
        self.assertNotIn("properties", self.get("/v1/zones/YARD").json)
        for bad, path in (({"properties": [1]}, "/properties"),
                          ({"properties": {"x": "y" * 70000}}, "/properties"),
                          ({"fid": 7}, "/fid")):
            r = self.post("/v1/zones", {"id": "GATE2", "kind": "port",
                                        "geometry": square(3, 4, .1), **bad})
            self.assertEqual((r.status, [d["path"] for d in r.json["error"]["details"]]),
                             (400, [path]), r)
        r = self.post("/v1/zones", {"id": "FJ", "kind": "customs-office", "geometry": {
            "type": "Polygon", "coordinates": [[[179.9, -16.9], [-179.9, -16.9], [-179.9, -16.7],
                                                [179.9, -16.7], [179.9, -16.9]]]}})
        self.assertEqual(r.status, 201, r)

        r = self.post("/v1/devices", {"id": "TRK 1", "kind": "gps-tracker",
                                      "container": "CSQU3054384", "contianer": "x"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(sorted(d["path"] for d in r.json["error"]["details"]),
                         ["/container", "/contianer", "/id"])
        r = self.post("/v1/devices", {"id": "TRK-1", "kind": "gps-tracker",
                                      "container": "CSQU3054383"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["org"], "KCS")
        self.assertEqual(self.post("/v1/devices", {"id": "TRK-1", "kind": "e-seal"}).status, 409)
        # bulk, with the carrier named as owner
        r = self.post("/v1/devices", [{"id": f"B-{i}", "kind": "reefer", "org": "CARRIER-A",
                                       "temperature_c": {"min": 2, "max": 8}} for i in range(3)])
        self.assertEqual(r.status, 201, r)
        self.assertEqual([d["id"] for d in r.json["items"]], ["B-0", "B-1", "B-2"])
        r = self.post("/v1/devices", [{"id": "C-1", "kind": "reefer"}] * 3)
        self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/1/id", "/2/id"])

        r = self.post("/v1/consignments", {
            "id": "CONS-1", "containers": ["CSQU3054383", "CSQU3054383"],
            "declarations": ["nope"], "corridor_m": 5,
            "route": {"type": "LineString", "coordinates": [[0, 0]]},
            "origin_zone": "YARD", "destination_zone": "ATLANTIS",
            "expected_arrival": "tomorrow", "rules": {"stop_min_s": -1, "colour": 1}})
        self.assertEqual(r.status, 400, r)
        paths = sorted(d["path"] for d in r.json["error"]["details"])
        for p in ["/containers/1", "/declarations/0", "/corridor_m", "/destination_zone",
                  "/expected_arrival", "/rules/stop_min_s", "/rules/colour"]:
            self.assertIn(p, paths)
        r = self.post("/v1/consignments", {
            "id": "CONS-1", "containers": ["CSQU3054383"], "corridor_m": 2000,
            "route": {"type": "LineString", "coordinates": [[0.5, 0.1], [3, 0.1]]},
            "origin_zone": "YARD", "destination_zone": "FJ",
            "expected_arrival": "2099-01-01T00:00:00Z", "temperature_c": {"min": 2, "max": 8},
            "rules": {"stop_min_s": 600}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["status"], "in_transit")
        r = self.get("/v1/consignments/CONS-1")
        self.assertEqual(r.json["devices"], ["TRK-1"])
        r = self.get("/v1/consignments/CONS-1/corridor")
        self.assertEqual(r.json["geometry"]["type"], "MultiPolygon")
        self.assertEqual(r.json["properties"]["corridor_m"], 2000)
        r = self.get("/v1/devices/TRK-1")
        self.assertEqual(r.json["consignment"], "CONS-1")
        self.assertIsNone(r.json["last"])
        self.assertEqual(len(self.get("/v1/zones").json["items"]), 3)

        trader = create_key(self.db, "ACME", "trader")
        self.assertEqual(self.post("/v1/devices", {"id": "X", "kind": "e-seal"}, trader).status,
                         403)
        self.assertEqual(self.get("/v1/consignments", trader).status, 403)
        self.assertEqual(self.get("/v1/alerts", trader).status, 403)

    def test_consignment_zones_are_places_the_engine_sees(self):
        # a territory zone is the drone rules' alone: tracking never loads
        # it, so no consignment may leave or reach it (it would never arrive)
        for zid, kind in (("LAND", "territory"), ("PORT", "port")):
            r = self.post("/v1/zones", {"id": zid, "kind": kind, "geometry": square(0, 0, 1)})
            self.assertEqual(r.status, 201, r)
        cons = {"id": "CONS-T", "containers": ["CSQU3054383"], "corridor_m": 2000,
                "route": {"type": "LineString", "coordinates": [[0.5, 0.1], [3, 0.1]]},
                "origin_zone": "PORT", "destination_zone": "LAND",
                "expected_arrival": "2099-01-01T00:00:00Z"}
        r = self.post("/v1/consignments", cons)
        self.assertEqual(r.status, 400, r)
        self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/destination_zone"])
        self.assertIn("territory", r.json["error"]["details"][0]["message"])
        self.assertEqual(self.get("/v1/consignments/CONS-T").status, 404)
        cons["destination_zone"] = "PORT"
        self.assertEqual(self.post("/v1/consignments", cons).status, 201)

    def test_thresholds_are_for_customs_only(self):
        """The thresholds say how long a truck may stop or stray unseen:
        officers and admins read them, the tracked parties do not."""
        r = self.get("/v1/track/config")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["stop_min_s"], 1200)
        admin = create_key(self.db, "KCS", "admin")
        self.assertEqual(self.get("/v1/track/config", admin).status, 200)
        for role in ["carrier", "device", "trader", "bank"]:
            r = self.get("/v1/track/config", create_key(self.db, "CARRIER-A", role))
            self.assertEqual(r.status, 403, (role, r))
            self.assertEqual(r.json["error"]["code"], "forbidden")

    # ---- telemetry and dead letters -------------------------------------------------------

    def test_batches_dead_letters_and_device_keys(self):
        setup_world(self.srv, self.officer)
        self.post("/v1/devices", {"id": "CAR-2", "kind": "gps-tracker", "org": "CARRIER-A"})
        t = now_ms()
        res = self.telemetry([
            msg(t - 5000, 0, 30.3),
            msg(t - 4000, 0, 0),                                   # null island
            msg(t - 3000, 91, 30.3),                               # impossible
            msg(t + 3600 * 1000, 0, 30.3),                         # an hour ahead
            {"device": "TRK-1", "ts": "last tuesday", "lat": 0, "lon": 30.3},
            msg(t - 2000, 0, 30.3, device="GHOST"),                # not registered
            "not an object",
            msg(t - 1000, 0, 30.31),
        ])
        self.assertEqual(res["accepted"], 2)
        got = {x["index"]: x["reason"] for x in res["rejected"]}
        self.assertEqual(got, {1: "bad_coordinates", 2: "bad_coordinates", 3: "future_timestamp",
                               4: "bad_timestamp", 5: "unknown_device", 6: "not_object"})
        # a body that is not JSON at all: the platform's invalid_json (issue 2,
        # docs/api.md), and kept as a dead letter with its own reason
        r = self.srv.request("POST", "/v1/telemetry", body="{\"device\": ", token=self.officer)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["code"], "invalid_json")
        self.assertEqual([d["path"] for d in r.json["error"]["details"]], [""])
        # JSON that is neither a message nor an array of them: invalid_batch
        for body, path in [("42", ""), ("[]", ""), ('"x"', "")]:
            r = self.srv.request("POST", "/v1/telemetry", body=body, token=self.officer)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(r.json["error"]["code"], "invalid_batch", (body, r))
            self.assertEqual([d["path"] for d in r.json["error"]["details"]], [path], body)
        dl = self.get("/v1/telemetry/dead-letters").json["items"]
        self.assertEqual([d["reason"] for d in dl], ["bad_coordinates", "bad_coordinates",
                                                     "future_timestamp", "bad_timestamp",
                                                     "unknown_device", "not_object",
                                                     "malformed_json", "not_object",
                                                     "not_object"])
        self.assertEqual(dl[4]["device"], "GHOST")
        self.assertIn("GHOST", dl[4]["payload"])
        self.assertEqual(dl[6]["payload"], "{\"device\": ")
        self.assertEqual(self.srv.metric("customs_track_dead_letters_total"), 9)
        # ingestion goes on: the device's last position is the newest good one
        last = self.get("/v1/devices/TRK-1").json["last"]
        self.assertEqual(last["lon"], 30.31)
        # duplicates (QoS 1 redelivery) and late reports
        res = self.telemetry([msg(t - 1000, 0, 30.31), msg(t - 3000, 0, 30.305)])
        self.assertEqual((res["accepted"], res["duplicates"], res["late"]), (0, 1, 1))
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM (SELECT DISTINCT dev, ts FROM "
                                          "track_positions_all)")[0][0], 3)

        # a device key speaks only for the devices bound to it (issue 5: "its
        # own devices"), not for its organisation's others
        dev = create_key(self.db, "CARRIER-A", "device", "tracker CAR-1")
        kid = key_id(self.db, "tracker CAR-1")
        r = self.post("/v1/devices", {"id": "CAR-1", "kind": "gps-tracker", "org": "CARRIER-A",
                                      "key_id": kid})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["key_id"], kid)
        res = self.telemetry([msg(t, 0.5, 30.5, device="CAR-1"), msg(t, 0, 30.32),
                              msg(t, 0.5, 30.6, device="CAR-2")], dev)
        self.assertEqual(res["accepted"], 1)
        self.assertEqual([(x["index"], x["reason"]) for x in res["rejected"]],
                         [(1, "forbidden_device"), (2, "forbidden_device")])
        self.assertEqual(self.get("/v1/alerts", dev).status, 403)
        self.assertEqual({d["id"] for d in self.get("/v1/devices", dev).json["items"]},
                         {"CAR-1", "CAR-2"})
        # a carrier key keeps its organisation's devices; another's device is
        # answered like one that does not exist (issue 17), officers see why
        carrier = create_key(self.db, "CARRIER-A", "carrier")
        res = self.telemetry([msg(t, 0.5, 30.6, device="CAR-2"), msg(t + 1, 0, 30.33)], carrier)
        self.assertEqual(res["accepted"], 1)
        ghost = self.telemetry([msg(t + 1, 0, 30.33, device="NO-SUCH")], carrier)["rejected"][0]
        # its list is its own devices, page by page (read by (org, idx)); an
        # officer's is everyone's
        every = self.get("/v1/devices?limit=10000").json["items"]
        self.assertGreater(len({d["org"] for d in every}), 1)
        got, cursor = [], None
        while True:
            page = self.get("/v1/devices?limit=1" + ("&cursor=" + cursor if cursor else ""),
                            carrier).json
            got += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(got, [d["id"] for d in every if d["org"] == "CARRIER-A"])
        self.assertEqual(res["rejected"][0]["reason"], "unknown_device")
        self.assertEqual({k: v.replace("TRK-1", "X") for k, v in res["rejected"][0].items()
                          if k != "index"},
                         {k: v.replace("NO-SUCH", "X") for k, v in ghost.items() if k != "index"})
        self.assertEqual(self.get("/v1/telemetry/dead-letters?reason=forbidden_device")
                         .json["items"][-1]["message"], "/device: TRK-1 belongs to another "
                                                         "organisation")
        self.assertEqual(sorted(d["device"] for d in self.get("/v1/positions", carrier)
                                .json["items"]), ["CAR-1", "CAR-2"])
        self.assertEqual(len(self.get("/v1/positions").json["items"]), 3)
        # the binding survives a restart (it is in the stored device)
        self.assertEqual(self.srv.stop(), 0)
        self.srv = self.serve()
        res = self.telemetry([msg(t + 2, 0.5, 30.6, device="CAR-2"),
                              msg(t + 2, 0.5, 30.5, device="CAR-1")], dev)
        self.assertEqual((res["accepted"], [x["index"] for x in res["rejected"]]), (1, [0]))

    def test_device_keys_bind_only_to_devices_of_their_org(self):
        create_key(self.db, "CARRIER-A", "device", "a-dev")
        create_key(self.db, "CARRIER-B", "device", "b-dev")
        create_key(self.db, "CARRIER-A", "carrier", "a-car")
        create_key(self.db, "CARRIER-A", "device", "a-old")
        old = key_id(self.db, "a-old")
        run("keys", "revoke", "--db", self.db, str(old))
        for kid, why in [(key_id(self.db, "b-dev"), "another organisation's key"),
                         (key_id(self.db, "a-car"), "a carrier key"),
                         (old, "a revoked key"), (99999, "no such key"), ("7", "a string"),
                         (0, "zero")]:
            r = self.post("/v1/devices", {"id": "CAR-9", "kind": "e-seal", "org": "CARRIER-A",
                                          "key_id": kid})
            self.assertEqual(r.status, 400, (why, r))
            self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/key_id"], why)
        # bulk: pointers name the device
        r = self.post("/v1/devices", [
            {"id": "CAR-8", "kind": "e-seal", "org": "CARRIER-A",
             "key_id": key_id(self.db, "a-dev")},
            {"id": "CAR-9", "kind": "e-seal", "key_id": key_id(self.db, "a-dev")}])
        self.assertEqual(r.status, 400, r)   # the second is the officer's org's, not CARRIER-A's
        self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/1/key_id"])

    # ---- Traccar / OsmAnd ---------------------------------------------------------------------

    def test_osmand_traccar_clients(self):
        for d in ["902064", "123456", "353861053849681", "861001000719969", "8737767034",
                  "123456789012345"]:
            self.assertEqual(self.post("/v1/devices", {"id": d, "kind": "gps-tracker"}).status,
                             201)
        # query strings as Traccar's own decoder tests and the Traccar Client apps send them
        queries = [
            "/osmand?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z"
            "&hdop=6.0&altitude=224.0&speed=0.0",
            "/osmand?id=902064&lat=42.06288&lon=-88.23412&timestamp=1453921000000&hdop=6.0"
            "&altitude=224.0&speed=0.0",
            "/osmand?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7"
            "&speed=0.0&id=353861053849681",
            "/osmand?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0"
            "&altitude=0&hdop=0.0",
            "/osmand?id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479"
            "&speed=0.000000&batt=87",
            "/osmand?id=123456789012345&timestamp=1504763810&lat=40.7232948571"
            "&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24",
        ]
        for q in queries:
            r = self.srv.request("GET", q)
            self.assertEqual(r.status, 200, (q, r))
        # POST with the query string (Traccar Client for Android), and with a form body
        r = self.srv.request("POST", "/osmand?id=123456&timestamp=1377177300&lat=60.001"
                                     "&lon=30.001&speed=10&bearing=90", body="")
        self.assertEqual(r.status, 200, r)
        r = self.srv.request("POST", "/osmand", body="id=123456&timestamp=1377177360"
                             "&location=60.002,30.002", content_type="application/x-www-form"
                             "-urlencoded")
        self.assertEqual(r.status, 200, r)
        # the JSON body of Traccar Client 9
        body = {"location": {"event": "motionchange", "is_moving": False,
                             "timestamp": "2021-07-21T08:06:34.444Z", "odometer": 0,
                             "coords": {"latitude": -6.1148096, "longitude": 106.6837015,
                                        "accuracy": 3.8, "speed": 18.67, "heading": 63,
                                        "altitude": 35.7},
                             "battery": {"is_charging": False, "level": 0.79}, "extras": {}},
                "device_id": "8737767034"}
        r = self.srv.request("POST", "/osmand", body=json.dumps(body))
        self.assertEqual(r.status, 200, r)

        last = self.get("/v1/devices/902064").json["last"]
        self.assertEqual(last["time"], "2016-01-27T18:56:40.000Z")
        self.assertEqual((last["lat"], last["lon"]), (42.06288, -88.23412))
        last = self.get("/v1/devices/123456789012345").json["last"]
        self.assertAlmostEqual(last["speed_kmh"], 40 * 1.852)  # Traccar reads knots
        self.assertAlmostEqual(last["heading"], 7.19889788244)
        last = self.get("/v1/devices/123456").json["last"]
        self.assertEqual((last["lat"], last["lon"]), (60.002, 30.002))
        last = self.get("/v1/devices/8737767034").json["last"]
        self.assertAlmostEqual(last["battery_pct"], 79)
        self.assertAlmostEqual(last["speed_kmh"], 18.67 * 3.6)
        self.assertEqual(last["time"], "2021-07-21T08:06:34.444Z")
        self.assertEqual(self.get("/v1/devices/861001000719969").json["last"]["battery_pct"], 87)

        # unknown id, like Traccar: 400, and a dead letter
        r = self.srv.request("GET", "/osmand?id=999999&lat=1&lon=2&timestamp=1377177267")
        self.assertEqual(r.status, 400, r)
        self.assertIn("unknown_device", r.body)
        r = self.srv.request("GET", "/osmand?timestamp=1377177267&lat=60.0&lon=30.0")
        self.assertEqual(r.status, 400, r)
        dl = self.get("/v1/telemetry/dead-letters").json["items"]
        self.assertEqual([(d["source"], d["reason"]) for d in dl],
                         [("osmand", "unknown_device"), ("osmand", "missing_field")])
        self.assertEqual(self.srv.metric('customs_track_messages_total{source="osmand"}'), 11)

    def test_osmand_device_keys(self):
        """/osmand has no bearer token (trackers cannot send headers): a device
        registered with an osmand_key must carry it as key= in its server
        URL, and a report without it can neither blind the device's rules
        nor tell an attacker which ids exist."""
        key = "Zt4-rK9q_W2x.Lm7~Pb5"
        r = self.post("/v1/devices", {"id": "TRK-K", "kind": "e-seal", "osmand_key": key})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("osmand_key", r.json)
        self.assertNotIn(key, r.body)
        self.assertEqual(self.post("/v1/devices", {"id": "TRK-N", "kind": "gps-tracker"}).status,
                         201)
        for bad in ["short", "x" * 129, "has space in it!!", 12345678901234567]:
            r = self.post("/v1/devices", {"id": "TRK-X", "kind": "e-seal", "osmand_key": bad})
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/osmand_key"])
        self.assertNotIn(key, self.get("/v1/devices/TRK-K").body)
        # stored only as a salted hash
        (doc, stored), = db_rows(self.db, "SELECT doc, osmand_key FROM track_devices "
                                          "WHERE id = 'TRK-K'")
        self.assertNotIn(key, doc)
        self.assertEqual(len(stored), 48)
        self.assertNotIn(key.encode(), stored)

        def osm(dev, ts_s, lat, k=None, **extra):
            q = {"id": dev, "lat": lat, "lon": 30.3, "timestamp": ts_s, **extra}
            if k is not None:
                q["key"] = k
            return self.srv.request("GET", "/osmand?" + urllib.parse.urlencode(q))

        now = now_ms() // 1000
        self.assertEqual(osm("TRK-K", now - 60, 0.1, key).status, 200)
        # a wrong or missing key answers exactly like an id that does not exist
        wrong, missing = osm("TRK-K", now - 50, 0.2, "Zt4-rK9q_W2x.Lm7~Pb6"), osm("TRK-K", now - 50, 0.2)
        ghost = osm("GHOST-9", now - 50, 0.2, "Zt4-rK9q_W2x.Lm7~Pb6")
        for r in (wrong, missing, ghost):
            self.assertEqual((r.status, r.body), (ghost.status, ghost.body))
        self.assertEqual(ghost.status, 400)
        self.assertTrue(ghost.body.startswith("unknown_device"), ghost)
        self.assertEqual(self.get("/v1/devices/TRK-K").json["last"]["lat"], 0.1)

        # the blinding attack: a forged report stamped minutes ahead would
        # make every genuine report "late". Unauthenticated reports may be
        # at most osmand_future_skew_s (30 s) ahead; keyed ones future_skew_s.
        self.assertEqual(self.get("/v1/track/config").json["osmand_future_skew_s"], 30)
        r = osm("TRK-N", now + 240, 0.3)
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.body.startswith("future_timestamp"), r)
        r = osm("TRK-K", now + 240, 0.3)                        # no key: same answer
        self.assertTrue(r.body.startswith("future_timestamp"), r)
        r = osm("GHOST-9", now + 240, 0.3)
        self.assertTrue(r.body.startswith("future_timestamp"), r)
        self.assertEqual(osm("TRK-N", now - 40, 0.4).status, 200)  # genuine: applied
        self.assertEqual(self.get("/v1/devices/TRK-N").json["last"]["lat"], 0.4)
        self.assertEqual(osm("TRK-N", now + 10, 0.5).status, 200)  # a clock a little ahead
        self.assertEqual(osm("TRK-K", now + 240, 0.6, key).status, 200)
        self.assertEqual(self.get("/v1/devices/TRK-K").json["last"]["lat"], 0.6)

        # the key in the server URL of clients that POST a form or Traccar
        # Client 9's JSON body
        r = self.srv.request("POST", "/osmand?key=" + urllib.parse.quote(key),
                             body=f"id=TRK-K&timestamp={now + 250}&lat=0.7&lon=30.3",
                             content_type="application/x-www-form-urlencoded")
        self.assertEqual(r.status, 200, r)
        body = {"location": {"timestamp": now * 1000 + 260000,
                             "coords": {"latitude": 0.8, "longitude": 30.3}},
                "device_id": "TRK-K"}
        r = self.srv.request("POST", "/osmand?key=" + urllib.parse.quote(key),
                             body=json.dumps(body))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get("/v1/devices/TRK-K").json["last"]["lat"], 0.8)
        body["location"]["timestamp"] = now * 1000 - 30000
        r = self.srv.request("POST", "/osmand?key=nope-nope-nope-nope", body=json.dumps(body))
        self.assertEqual((r.status, r.body), (ghost.status, ghost.body))
        r = self.srv.request("POST", "/osmand", body=f"id=TRK-K&timestamp={now - 20}&lat=0.9"
                             "&lon=30.3&k%65y=Zt4-rK9q_W2x.Lm7~Pb6",
                             content_type="application/x-www-form-urlencoded")
        self.assertEqual((r.status, r.body), (ghost.status, ghost.body))

        # officers see why, and never the keys that were sent
        # (unauthenticated: one row per reason and device, with a count)
        dl = self.get("/v1/telemetry/dead-letters").json["items"]
        self.assertEqual([(d["reason"], d["device"], d["count"]) for d in dl],
                         [("bad_key", "TRK-K", 4), ("unknown_device", "GHOST-9", 1),
                          ("future_timestamp", "TRK-N", 1), ("future_timestamp", "TRK-K", 1),
                          ("future_timestamp", "GHOST-9", 1)])
        for d in dl:
            self.assertNotIn("Pb5", d["payload"] or "")
            self.assertNotIn("Pb6", d["payload"] or "")
        self.assertIn("key=(hidden)", dl[0]["payload"])
        self.assertGreater(dl[0]["last_received_at"], dl[0]["received_at"])
        self.assertEqual(self.srv.metric('customs_track_dead_letters_total{reason="bad_key"}'),
                         4)

    # ---- alerts, acknowledgement, lane raising ------------------------------------------------

    def test_critical_alert_streams_acks_and_raises_the_lane(self):
        trader = create_key(self.db, "ACME", "trader")
        r = self.srv.post("/v1/declarations", declaration("REF-TRACK-1"), token=trader)
        self.assertEqual(r.status, 201, r)
        decl = r.json["id"]
        setup_world(self.srv, self.officer, declarations=[decl])
        sse = SSE(self.srv, "/v1/alerts/stream", self.officer)
        self.assertEqual(sse.status, 200)
        self.assertTrue(sse.headers["content-type"].startswith("text/event-stream"))
        t = now_ms()
        self.telemetry([msg(t - 2000, 0, 30.3, seal="closed"), msg(t - 1000, 0, 30.31, seal="open")])
        ev, a = sse.next_event()
        self.assertEqual((a["type"], a["severity"], a["device"], a["container"], a["consignment"]),
                         ("seal_opened", "critical", "TRK-1", "CSQU3054383", "CONS-1"))
        self.assertEqual(a["declarations"], [decl])
        self.assertEqual(ev["id"], str(a["seq"]))
        self.assertEqual((a["lat"], a["lon"]), (0, 30.31))
        self.assertIsNone(a["acked_at"])
        listed = self.alerts()
        self.assertEqual(listed, [a])
        self.assertEqual(self.get("/v1/alerts/" + a["id"]).json, a)
        # the same open seal again is the same episode
        self.telemetry([msg(t, 0, 30.32, seal="open")])
        self.assertEqual(len(self.alerts()), 1)

        r = self.srv.post(f"/v1/alerts/{a['id']}/ack", {"note": "inspected at Voi"},
                          token=self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertIsNotNone(r.json["acked_at"])
        self.assertTrue(r.json["acked_by"].startswith("KCS/"))
        ev, ack = sse.next_event("ack")
        self.assertEqual(ack["id"], a["id"])
        self.assertIsNone(ev["id"])
        self.assertEqual(self.alerts(acked="true")[0]["id"], a["id"])
        self.assertEqual(self.alerts(acked="false"), [])
        self.assertEqual(self.srv.post("/v1/alerts/nope/ack", {}, token=self.officer).status, 404)
        sse.close()

        def raised():
            d = self.srv.get(f"/v1/declarations/{decl}", token=self.officer).json
            return d.get("risk", {}).get("lane") == "red" and d["risk"]
        risk = wait_for(raised, "the declaration's lane to turn red")
        reason = [x for x in risk["reasons"] if x["feature"] == "alert.seal_opened"][0]
        self.assertEqual(reason["alert"], a["id"])
        self.assertIn("CONS-1", reason["detail"])
        # done: nothing left to redo at the next start
        wait_for(lambda: db_rows(self.db, "SELECT count(*) FROM track_escalations")[0][0] == 0,
                 "the escalation to be marked done")

    # ---- replay ------------------------------------------------------------------------------------

    def test_replay_as_geojson(self):
        setup_world(self.srv, self.officer)
        track = []
        t = T0
        lon = 30.05
        for i in range(20):                         # driving east, 1 km a minute
            track.append(msg(t, 0, lon))
            t += MIN
            lon += 0.009
        for i in range(6):                          # a 25-minute stop on the road
            track.append(msg(t, north(10 * (i % 2)), lon))
            t += 5 * MIN
        for i in range(8):                          # a detour 5 km north
            track.append(msg(t, north(5000), lon + i * 0.009))
            t += MIN
        self.telemetry(track)
        # (the first report is already out of the port: it sets the baseline)
        types = [a["type"] for a in self.alerts()]
        self.assertEqual(types, ["unscheduled_stop", "corridor_deviation"])

        fc = self.get("/v1/consignments/CONS-1/track").json
        # reports are first in the journal, then moved into the indexed
        # table: the replay is the same before and after
        wait_for(lambda: db_rows(self.db, "SELECT count(*) FROM track_journal")[0][0] == 0,
                 "the journal to be moved")
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM track_positions")[0][0],
                         len(track))
        self.assertEqual(self.get("/v1/consignments/CONS-1/track").json, fc)
        self.assertEqual(fc["type"], "FeatureCollection")
        kinds = [f["properties"]["kind"] for f in fc["features"]]
        self.assertEqual(kinds, ["route", "path", "stop", "alert", "alert"])
        path = fc["features"][1]
        self.assertEqual(path["geometry"]["type"], "LineString")
        self.assertEqual(len(path["geometry"]["coordinates"]), len(track))
        self.assertEqual(path["geometry"]["coordinates"][0], [30.05, 0])
        self.assertEqual(len(path["properties"]["times"]), len(track))
        self.assertEqual(path["properties"]["from"], "2024-03-01T00:00:00.000Z")
        stop = fc["features"][2]["properties"]
        self.assertEqual(stop["duration_s"], 25 * 60)
        alert_pt = fc["features"][4]
        self.assertEqual(alert_pt["properties"]["alert"]["type"], "corridor_deviation")
        self.assertEqual(alert_pt["geometry"]["type"], "Point")
        # a window, and thinning for a map
        fc = self.get("/v1/consignments/CONS-1/track?from=2024-03-01T00:05:00Z"
                      "&to=2024-03-01T00:10:00Z").json
        self.assertEqual(len(fc["features"][1]["geometry"]["coordinates"]), 6)
        fc = self.get("/v1/consignments/CONS-1/track?max_points=10").json
        coords = fc["features"][1]["geometry"]["coordinates"]
        self.assertLessEqual(len(coords), 10)
        self.assertEqual(coords[-1], path["geometry"]["coordinates"][-1])
        self.assertEqual(self.get("/v1/consignments/NOPE/track").status, 404)
        self.assertEqual(self.get("/v1/consignments/CONS-1/track?from=yesterday").status, 400)

    def test_consignments_on_one_route_share_its_corridor(self):
        """The corridor of a route and width is built once and kept for the
        next consignment on it (customs_track_corridors_cached counts the
        routes kept), also when the consignments are loaded at start."""
        setup_world(self.srv, self.officer)  # CONS-1: (30, 0) to (31, 0), 2,000 m
        self.assertEqual(self.srv.metric("customs_track_corridors_cached"), 1)
        route = {"type": "LineString", "coordinates": [[30.0, 0.0], [31.0, 0.0]]}
        other = {"type": "LineString", "coordinates": [[30.0, 0.0], [30.5, 0.2]]}
        for cid, rt, width in (("CONS-2", route, 2000), ("CONS-3", other, 2000),
                               ("CONS-4", route, 3000), ("CONS-5", other, 2000)):
            r = self.post("/v1/consignments", {
                "id": cid, "containers": ["CSQU3054383"], "route": rt, "corridor_m": width,
                "origin_zone": "ORIGIN", "destination_zone": "DEST",
                "expected_arrival": "2099-01-01T00:00:00Z"})
            self.assertEqual(r.status, 201, r)
        self.assertEqual(self.srv.metric("customs_track_corridors_cached"), 3)
        corridor = self.get("/v1/consignments/CONS-1/corridor").json["geometry"]
        self.assertEqual(self.get("/v1/consignments/CONS-2/corridor").json["geometry"], corridor)
        self.assertNotEqual(self.get("/v1/consignments/CONS-4/corridor").json["geometry"],
                            corridor)
        self.assertEqual(self.srv.metric("customs_track_corridors_built_total"), 3)
        self.srv.stop()
        self.srv = self.serve()
        self.assertEqual(self.srv.metric("customs_track_corridors_cached"), 3)
        # at start each is read back from its stored row, none built again
        self.assertEqual(self.srv.metric("customs_track_corridors_built_total"), 0)
        self.assertEqual(self.srv.metric("customs_track_corridors_read_total"), 3)
        self.assertEqual(self.get("/v1/consignments/CONS-2/corridor").json["geometry"], corridor)
        # and what was read is the corridor: a device 1.5 km off the route
        # is outside it (grace 0: at once), one 0.5 km off is not
        r = self.post("/v1/devices", {"id": "TRK-9", "kind": "e-seal",
                                      "container": "MSCU1234566"})
        self.assertEqual(r.status, 201, r)
        r = self.post("/v1/consignments", {
            "id": "CONS-9", "containers": ["MSCU1234566"], "route": route, "corridor_m": 2000,
            "origin_zone": "ORIGIN", "destination_zone": "DEST", "rules": {"corridor_grace_s": 0},
            "expected_arrival": "2099-01-01T00:00:00Z"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.srv.metric("customs_track_corridors_built_total"), 0)
        off = 1500 / 111320
        self.telemetry([msg(T0, 0.5 / 111.32, 30.4, device="TRK-9"),
                        msg(T0 + MIN, off, 30.5, device="TRK-9"),
                        msg(T0 + 2 * MIN, off, 30.6, device="TRK-9")])
        got = wait_for(lambda: self.get("/v1/alerts?type=corridor_deviation").json["items"],
                       "the deviation alert")
        self.assertEqual([a["subject"]["id"] for a in got], ["TRK-9"])
        self.assertAlmostEqual(got[0]["detail"]["distance_m"], 1500, delta=20)

    def test_a_route_too_long_for_its_corridor_is_refused(self):
        """A corridor's cost grows with its route: more than 10,000 km or
        5,000 positions is a 400 naming /route/coordinates and the rule, and
        writes nothing; a 9,900-km route is taken."""
        setup_world(self.srv, self.officer, with_consignment=False)

        def cons(cid, coords):
            return self.post("/v1/consignments", {
                "id": cid, "containers": ["CSQU3054383"], "corridor_m": 2000,
                "route": {"type": "LineString", "coordinates": coords},
                "origin_zone": "ORIGIN", "destination_zone": "DEST",
                "expected_arrival": "2099-01-01T00:00:00Z"})

        r = cons("HALF-GLOBE", [[-87, 0.5], [87, 0.5]])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["details"],
                         [{"path": "/route/coordinates",
                           "message": "the route is 19368 km long; at most 10000 km"}])
        r = cons("WIGGLY", [[30 + i * 0.0001, 0] for i in range(5001)])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["details"],
                         [{"path": "/route/coordinates", "message": "more than 5000 positions"}])
        self.assertEqual(self.get("/v1/consignments").json["items"], [])
        self.assertEqual(self.srv.metric("customs_track_corridors_cached"), 0)
        r = cons("LONG", [[-44.5, 0], [44.5, 0]])
        self.assertEqual(r.status, 201, r)
        corridor = self.get("/v1/consignments/LONG/corridor").json["geometry"]
        self.assertEqual(corridor["type"], "MultiPolygon")

    def test_a_consignment_that_does_not_read_back_is_a_500(self):
        """A consignment whose stored document does not parse is the
        server's fault, as the list already said (500): GET by id, its
        corridor and its journey answered 404 no such consignment. A journey
        whose alerts cannot be read is a 500 too, never the rest as a 200."""
        setup_world(self.srv, self.officer)
        self.telemetry([msg(T0, 0, 30.05), msg(T0 + MIN, 0, 30.06)])
        paths = ("/v1/consignments/CONS-1", "/v1/consignments/CONS-1/corridor",
                 "/v1/consignments/CONS-1/track")
        for p in paths:
            self.assertEqual(self.get(p).status, 200, p)
        self.srv.stop()
        db = sqlite3.connect(self.db, isolation_level=None)
        # an alert of the consignment whose document is not JSON
        db.execute("INSERT INTO alerts(id, kind, subject, type, severity, time, consignment, "
                   "doc, created) VALUES('AL-BAD', 'consignment', 'CONS-1', 'seal_opened', "
                   "'critical', 1, 'CONS-1', '{', 0)")
        self.srv = self.serve()
        r = self.get(paths[2])
        self.assertEqual((r.status, r.json["error"]["code"]), (500, "internal"), r)
        self.srv.stop()
        db.execute("DELETE FROM alerts WHERE id = 'AL-BAD'")
        db.execute("UPDATE track_consignments SET doc = '{' WHERE id = 'CONS-1'")
        db.close()
        self.srv = self.serve()
        for p in paths:
            r = self.get(p)
            self.assertEqual((r.status, r.json["error"]["code"]), (500, "internal"), (p, r))
        r = self.get("/v1/consignments")
        self.assertEqual((r.status, r.json["error"]["code"]), (500, "internal"), r)
        self.assertEqual(self.get("/v1/consignments/NOPE").status, 404)

    def test_antimeridian_journey(self):
        for z in [{"id": "MATEI", "kind": "port", "geometry": square(-179.877, -16.69, 0.005)},
                  {"id": "WAIYEVO", "kind": "customs-office", "geometry": {
                      "type": "MultiPolygon", "coordinates": [
                          [[[179.97, -16.80], [180, -16.80], [180, -16.78], [179.97, -16.78],
                            [179.97, -16.80]]],
                          [[[-180, -16.80], [-179.995, -16.80], [-179.995, -16.78],
                            [-180, -16.78], [-180, -16.80]]]]}}]:
            self.assertEqual(self.post("/v1/zones", z).status, 201)
        self.post("/v1/devices", {"id": "FJ-1", "kind": "e-seal", "container": "MSCU1234566"})
        route = [[-179.877, -16.690], [-179.950, -16.742], [-179.975, -16.760],
                 [179.990, -16.775], [179.985, -16.790]]
        r = self.post("/v1/consignments", {
            "id": "CONS-FJ", "containers": ["MSCU1234566"], "corridor_m": 1000,
            "route": {"type": "LineString", "coordinates": route},
            "origin_zone": "MATEI", "destination_zone": "WAIYEVO",
            "expected_arrival": "2099-01-01T00:00:00Z"})
        self.assertEqual(r.status, 201, r)
        track = []
        t = T0
        for i in range(len(route) - 1):
            a, b = route[i], route[i + 1]
            bx = b[0] + (360 if b[0] - a[0] < -180 else -360 if b[0] - a[0] > 180 else 0)
            for k in range(10):
                f = k / 10
                lon = a[0] + f * (bx - a[0])
                lon = lon - 360 if lon > 180 else lon + 360 if lon < -180 else lon
                track.append(msg(t, a[1] + f * (b[1] - a[1]), lon, device="FJ-1", seal="closed"))
                t += 20000
        for k in range(4):  # parked in the wharf compound, seal cut for inspection
            track.append(msg(t, -16.790, 179.985, device="FJ-1",
                             seal="open" if k > 1 else "closed"))
            t += 20000
        self.telemetry(track)
        types = [(a["type"], a["severity"]) for a in self.alerts()]
        self.assertEqual(types, [("zone_exit", "info"), ("zone_enter", "info"),
                                 ("seal_opened", "info")])
        self.assertEqual(self.get("/v1/consignments/CONS-FJ").json["status"], "arrived")
        fc = self.get("/v1/consignments/CONS-FJ/track").json
        path = fc["features"][1]["geometry"]
        self.assertEqual(path["type"], "MultiLineString")
        self.assertEqual(len(path["coordinates"]), 2)
        self.assertEqual(path["coordinates"][0][-1][0], -180.0)
        self.assertEqual(path["coordinates"][1][0][0], 180.0)

    # ---- restart -------------------------------------------------------------------------------------

    def test_rule_state_survives_a_restart(self):
        setup_world(self.srv, self.officer)
        t = now_ms() - 60000
        self.telemetry([msg(t, 0, 30.0, seal="closed"), msg(t + 1000, 0, 30.001, seal="open")])
        self.assertEqual([a["type"] for a in self.alerts()], ["seal_opened"])
        self.assertEqual(self.srv.stop(), 0)
        self.srv = self.serve()
        # still open, still in the port: same episode, same baseline
        self.telemetry([msg(t + 2000, 0, 30.002, seal="open")])
        self.assertEqual(len(self.alerts()), 1)
        self.telemetry([msg(t + 3000, 0, 30.003, seal="closed"),
                        msg(t + 4000, 0, 30.004, seal="open")])
        self.assertEqual([a["type"] for a in self.alerts()], ["seal_opened", "seal_opened"])
        self.assertEqual(self.alerts()[1]["seq"], 2)

    # ---- a recorded journey, replayed at once ---------------------------------------------------------

    def test_recorded_journey_replayed_in_one_go(self):
        """Two hours of reports posted in one request raise, on event time,
        exactly the alerts a live run would: the exit from the port, a
        silence of 20 minutes (jammer), a jump, a stop, an overdue arrival."""
        setup_world(self.srv, self.officer, with_consignment=False)
        r = self.post("/v1/consignments", {
            "id": "CONS-2", "containers": ["CSQU3054383"], "corridor_m": 2000,
            "route": {"type": "LineString", "coordinates": [[30.0, 0.0], [31.0, 0.0]]},
            "origin_zone": "ORIGIN", "destination_zone": "DEST",
            "expected_arrival": "2024-03-01T01:00:00Z", "rules": {"overdue_grace_s": 600,
                                                                  "signal_loss_s": 900}})
        self.assertEqual(r.status, 201, r)
        t = T0
        lon = 30.0
        track = []
        for i in range(30):              # 0:00-0:29 out of the port along the road
            track.append(msg(t, 0, lon, seal="closed"))
            t += MIN
            lon += 0.012
        t += 20 * MIN                    # 0:50 back after a 20-minute silence
        for i in range(10):
            track.append(msg(t, 0, lon, seal="closed"))
            t += MIN
            lon += 0.012
        track.append(msg(t, 0.6, lon, seal="closed"))   # 67 km off in a minute
        t += MIN
        for i in range(40):              # 1:01-1:40 parked by the road
            track.append(msg(t, 0, lon, seal="closed"))
            t += MIN
        self.telemetry(track)
        # by event time: the wall clock may already have seen the 2024
        # deadline pass, which raises the same overdue alert at the same time
        got = sorted((a["time"], a["type"]) for a in self.alerts())
        self.assertEqual(got, [
            ("2024-03-01T00:03:00.000Z", "zone_exit"),
            ("2024-03-01T00:44:00.000Z", "signal_loss"),
            ("2024-03-01T01:00:00.000Z", "impossible_jump"),
            ("2024-03-01T01:10:00.000Z", "overdue"),
            ("2024-03-01T01:21:00.000Z", "unscheduled_stop"),
        ])


if __name__ == "__main__":
    unittest.main()
