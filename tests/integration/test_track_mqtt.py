"""MQTT against Debian's real mosquitto on a free loopback port.

Ingestion and dead letters over MQTT; a broker restart in the middle of a
stream loses no QoS 1 message; and customs killed with -9 in the middle of
a stream loses no message it had acknowledged (PUBACK after commit)."""
import os
import signal
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BIN, TempDirTestCase, child_options, create_key  # noqa: E402
from trackkit import Mosquitto, db_rows, now_ms, setup_world, wait_for  # noqa: E402

PUB = "/usr/bin/mosquitto_pub"


class TrackMqttTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.broker = Mosquitto()
        self.officer = create_key(self.db, "KCS", "officer")

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.broker.close()

    def serve_mqtt(self, client_id="customs-test"):
        return self.serve("--mqtt", self.broker.url, "--mqtt-client-id", client_id)

    def pub(self, topic, payload):
        """One QoS 1 message (bytes go through a file: they may hold NUL)."""
        if isinstance(payload, bytes):
            path = os.path.join(self.tmp, "payload.bin")
            with open(path, "wb") as f:
                f.write(payload)
            body = ["-f", path]
        else:
            body = ["-m", payload]
        subprocess.run([PUB, "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1",
                        "-V", "mqttv311", "-t", topic, *body], check=True, timeout=30)

    def positions(self):
        return db_rows(self.db, "SELECT count(*) FROM (SELECT DISTINCT dev, ts FROM "
                                "track_positions_all)")[0][0]

    def gaps(self):
        """Where each device's reports skip (for failure messages)."""
        per = {}
        for dev, ts in db_rows(self.db, "SELECT DISTINCT d.id, p.ts FROM track_positions_all p "
                                        "JOIN track_devices d ON d.idx = p.dev ORDER BY 1, 2"):
            per.setdefault(dev, []).append(ts)
        out = {}
        for dev, ts in per.items():
            steps = [b - a for a, b in zip(ts, ts[1:])]
            usual = sorted(steps)[len(steps) // 2] if steps else 0
            odd = [(a, b - a) for a, b in zip(ts, ts[1:]) if b - a > 1.5 * usual]
            if odd:
                out[dev] = odd[:3]
        return out

    def simulate(self, count, rate, devices=20, seed=11):
        """Starts the simulator publishing count messages; returns the process."""
        log = open(os.path.join(self.tmp, f"sim-{seed}.log"), "w")
        cmd = [BIN, "track", "simulate", "--mqtt", self.broker.url, "--devices", str(devices),
               "--rate", str(rate), "--count", str(count), "--seed", str(seed),
               "--start", "-2h", "--time-scale", "1", "--connections", "2"]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **child_options()), log

    def register(self, srv, devices=20):
        p = subprocess.run([BIN, "track", "simulate", "--register", "--api",
                            f"http://127.0.0.1:{srv.port}", "--token", self.officer,
                            "--out", os.devnull, "--devices", str(devices), "--count", "1",
                            "--quiet"], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_ingest_and_dead_letters(self):
        srv = self.serve_mqtt()
        setup_world(srv, self.officer)
        wait_for(lambda: srv.metric("customs_track_mqtt_connected") == 1, "a subscription")
        t = now_ms() - 10000
        self.pub("customs/telemetry/TRK-1", "{\"device\":\"TRK-1\",\"ts\":%d,\"lat\":0,"
                 "\"lon\":30.3,\"seal\":\"closed\"}" % t)
        self.pub("customs/telemetry/TRK-1", "not json at all")
        self.pub("customs/telemetry/TRK-1", "{\"device\":\"TRK-1\",\"ts\":%d,\"lat\":0,"
                 "\"lon\":300}" % (t + 1))
        self.pub("customs/telemetry/OTHER", "{\"device\":\"TRK-1\",\"ts\":%d,\"lat\":0,"
                 "\"lon\":30.3}" % (t + 2))
        self.pub("customs/telemetry/GHOST", "{\"device\":\"GHOST\",\"ts\":%d,\"lat\":0,"
                 "\"lon\":30.3}" % (t + 3))
        self.pub("customs/telemetry/TRK-1", b"\xff\xfe\x00binary")
        # a gateway batch: two reports in one payload, the second opens the seal
        self.pub("customs/telemetry/TRK-1",
                 "[{\"device\":\"TRK-1\",\"ts\":%d,\"lat\":0,\"lon\":30.31,\"seal\":\"closed\"},"
                 "{\"device\":\"TRK-1\",\"ts\":%d,\"lat\":0,\"lon\":30.32,\"seal\":\"open\"}]"
                 % (t + 4, t + 5))
        wait_for(lambda: srv.metric('customs_track_messages_total{source="mqtt"}') == 8,
                 "eight messages through the pipeline")
        wait_for(lambda: db_rows(self.db, "SELECT (SELECT count(*) FROM track_positions_all), "
                                          "(SELECT count(*) FROM track_dead_letters)")[0] == (3, 5),
                 "three positions and five dead letters stored")
        dl = srv.get("/v1/telemetry/dead-letters", token=self.officer).json["items"]
        self.assertEqual([(d["source"], d["reason"]) for d in dl],
                         [("mqtt", "malformed_json"), ("mqtt", "bad_coordinates"),
                          ("mqtt", "topic_mismatch"), ("mqtt", "unknown_device"),
                          ("mqtt", "malformed_json")])
        self.assertEqual(dl[0]["payload"], "not json at all")
        self.assertEqual(dl[4]["payload"], "hex:fffe0062696e617279")
        self.assertEqual(self.positions(), 3)
        alerts = srv.get("/v1/alerts", token=self.officer).json["items"]
        self.assertEqual([a["type"] for a in alerts], ["seal_opened"])
        self.assertIn('customs_track_mqtt_connects_total 1', srv.get("/metrics").body)

    def check_all_stored(self, srv, n):
        try:
            wait_for(lambda: self.positions() == n or (self.positions(), n),
                     f"all {n} positions stored", limit=120, done=lambda v: v is True)
        except AssertionError as e:
            with open(srv.log_path) as f:
                raise AssertionError(f"{e}; gaps {self.gaps()}; broker:\n"
                                     f"{self.broker.output()[-4000:]}\nserver:\n"
                                     f"{f.read()[-3000:]}") from None
        self.assertEqual(srv.metric("customs_track_dead_letters_total"), 0)

    def test_broker_restart_mid_stream(self):
        """The broker restarts while the simulator publishes: both clients
        reconnect, and whatever was not acknowledged is sent again."""
        srv = self.serve_mqtt()
        self.register(srv)
        wait_for(lambda: srv.metric("customs_track_mqtt_connected") == 1, "a subscription")
        n = 6000
        sim, log = self.simulate(n, 1000)
        wait_for(lambda: srv.metric("customs_track_positions_stored_total") >= 1500,
                 "the stream to be under way")
        self.broker.restart()
        self.assertEqual(sim.wait(timeout=300), 0)
        log.close()
        with open(log.name) as f:
            self.assertIn(f"sent={n} ", f.read())
        self.check_all_stored(srv, n)
        wait_for(lambda: srv.metric("customs_track_mqtt_connected") == 1, "the resubscription")
        self.assertGreaterEqual(srv.metric("customs_track_mqtt_connects_total"), 2)
        rc = srv.stop()
        with open(srv.log_path) as f:
            self.assertEqual(rc, 0, f.read()[-3000:])

    def test_broker_restart_keeps_the_backlog(self):
        """Customs cannot store anything (its database's write lock is held
        from outside) while 20,000 messages arrive: the broker queues them
        for customs' session, is restarted (saving and restoring them), and
        once the lock is released every one of them is stored."""
        srv = self.serve_mqtt()
        self.register(srv)
        wait_for(lambda: srv.metric("customs_track_mqtt_connected") == 1, "a subscription")
        blocker = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        n = 20000
        try:
            sim, log = self.simulate(n, 0, seed=13)
            self.assertEqual(sim.wait(timeout=300), 0)  # the broker has them all
            log.close()
            self.broker.restart()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        self.check_all_stored(srv, n)
        self.assertIn("Saving in-memory database", self.broker.output())
        self.assertNotIn("Error saving", self.broker.output())
        rc = srv.stop()
        with open(srv.log_path) as f:
            text = f.read()
        self.assertEqual(rc, 0, text[-3000:])
        self.assertIn("(session resumed)", text)

    def test_customs_killed_loses_no_acknowledged_message(self):
        """The database's write lock is taken from outside so that nothing
        customs reads can become durable; customs keeps reading (and would
        acknowledge, if it acknowledged on receipt), then dies. Everything
        must arrive once it is back."""
        srv = self.serve_mqtt(client_id="customs-crash")
        self.register(srv)
        wait_for(lambda: srv.metric("customs_track_mqtt_connected") == 1, "a subscription")
        blocker = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        n = 20000
        sim, log = self.simulate(n, 0, seed=12)
        try:
            # nothing read from now on can be stored: any acknowledgement
            # sent before the kill would lose that message
            wait_for(lambda: srv.metric("customs_track_mqtt_received_total") >= 100,
                     "customs to read messages it cannot store", step=0.01)
            srv.kill9()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        srv = self.serve_mqtt(client_id="customs-crash")
        self.assertEqual(sim.wait(timeout=300), 0)
        log.close()
        wait_for(lambda: self.positions() == n or (self.positions(), n),
                 f"all {n} positions stored after the restart", limit=120, done=lambda v: v is True)
        self.assertEqual(srv.stop(signal.SIGTERM), 0)


if __name__ == "__main__":
    unittest.main()
