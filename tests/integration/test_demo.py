"""make run (scripts/demo): one demo per checkout, the keys printed last.

The demo runs with its own var/ directory (DEMO_VAR) and a small step of
its own (DEMO_STEPS) instead of the slow data steps: what is tested is the
script's life cycle, not the demo data.
"""
import os
import signal
import subprocess
import threading
import unittest
import urllib.request

from harness import BIN, SOURCE, TempDirTestCase, busy_port
from trackkit import free_port, wait_for

DEMO = os.path.join(SOURCE, "scripts", "demo")

# A live step that starts a background "simulator" the way 40-track does.
SIM_STEP = """#!/bin/sh
set -eu
if [ "$1" = prepare ]; then  # a "broker", started before the server
  setsid sleep 300 >/dev/null 2>&1 &
  echo "-$!" >> "$DEMO_VAR/demo.pids"
  echo "$!" >> "$DEMO_VAR/sim-started"
  exit 0
fi
[ "$1" = live ] || exit 0
echo "demo: sim started"
setsid sleep 300 >/dev/null 2>&1 &
echo "-$!" >> "$DEMO_VAR/demo.pids"
echo "$!" >> "$DEMO_VAR/sim-started"
"""


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class Demo:
    def __init__(self, var, steps, port):
        self.var, self.port = var, port
        env = dict(os.environ, BIN=BIN, DEMO_VAR=var, DEMO_STEPS=steps,
                   LISTEN=f"127.0.0.1:{port}", MQTT_PORT=str(free_port()))
        self.proc = subprocess.Popen(["sh", DEMO], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.out = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)

    def text(self):
        return "".join(self.out)

    def stop(self, sig=signal.SIGINT):
        """Ctrl-C: the terminal signals the whole foreground group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        rc = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return rc


class DemoTest(TempDirTestCase):
    def steps(self):
        d = os.path.join(self.tmp, "steps")
        os.makedirs(d)
        p = os.path.join(d, "50-sim")
        with open(p, "w") as f:
            f.write(SIM_STEP)
        os.chmod(p, 0o755)
        return d

    def snapshot(self, var):
        out = {}
        for name in ("customs.db", "demo-keys.txt", "demo.pid", "demo.pids", "sim-started",
                     "demo.port"):
            p = os.path.join(var, name)
            st = os.stat(p)
            with open(p, "rb") as f:
                out[name] = (st.st_ino, st.st_mtime_ns, f.read())
        return out

    def test_second_run_refuses_and_leaves_the_first_alone(self):
        var, steps, port = os.path.join(self.tmp, "var"), self.steps(), free_port()
        a = Demo(var, steps, port)
        try:
            wait_for(lambda: "Demo API keys" in a.text() or a.proc.poll() is not None,
                     "the first demo's banner", limit=120)
            self.assertIsNone(a.proc.poll(), a.text())
            out = a.text()
            # the keys come last: after the steps' output and the server's log
            self.assertGreater(out.index("Demo API keys"), out.index("demo: sim started"))
            self.assertGreater(out.index("Demo API keys"), out.index("listening on"))
            self.assertRegex(out, r"officer +KCS +cst_")
            with open(os.path.join(var, "demo.pid")) as f:
                pid, listen, _since, srv = f.read().split()
            self.assertEqual((int(pid), listen), (a.proc.pid, f"127.0.0.1:{port}"))
            before = self.snapshot(var)

            b = Demo(var, steps, port)
            rc = b.proc.wait(timeout=60)
            b.reader.join(timeout=10)
            self.assertEqual(rc, 1, b.text())
            self.assertIn(f"a demo is already running on 127.0.0.1:{port}, PID {a.proc.pid}",
                          b.text())
            # nothing of the running demo changed: database, keys, PID files,
            # and no second simulator (or broker) was started
            self.assertEqual(self.snapshot(var), before)
            self.assertTrue(alive(int(srv)))
            officer = [x.split()[2] for x in before["demo-keys.txt"][2].decode().splitlines()
                       if x.startswith("officer")][0]
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/whoami",
                                         headers={"Authorization": f"Bearer {officer}"})
            with urllib.request.urlopen(req, timeout=10) as r:
                self.assertEqual(r.status, 200)
        finally:
            rc = a.stop()
        self.assertEqual(rc, 0, a.text())
        # Ctrl-C stops everything it started, and frees the demo for the next run
        sims = [int(x) for x in open(os.path.join(var, "sim-started")).read().split()]
        self.assertEqual(len(sims), 2)  # one before the server, one after
        wait_for(lambda: not any(alive(p) for p in sims + [int(srv)]),
                 "the demo's processes to end", limit=30)
        self.assertFalse(os.path.exists(os.path.join(var, "demo.pid")))

    def test_refuses_when_another_server_has_the_port(self):
        """It waits for its own server, never for whatever answers on the port:
        with the port taken it says so before touching anything."""
        var = os.path.join(self.tmp, "var")
        sock, port = busy_port()
        try:
            d = Demo(var, self.steps(), port)
            rc = d.proc.wait(timeout=60)
            d.reader.join(timeout=10)
        finally:
            sock.close()
        self.assertEqual(rc, 1, d.text())
        self.assertIn(f"something else already listens on 127.0.0.1:{port}", d.text())
        self.assertFalse(os.path.exists(os.path.join(var, "customs.db")))
        self.assertFalse(os.path.exists(os.path.join(var, "demo-keys.txt")))


class ConsoleFilesTest(TempDirTestCase):
    def test_server_names_the_missing_console_files(self):
        """A build without web/node_modules has no vendor files: the server
        says which at start (make build fetches them: scripts/install-deps --web)."""
        web = os.path.join(self.tmp, "web")
        os.makedirs(os.path.join(web, "js"))
        for name in ("index.html", "app.css", "js/main.js"):
            with open(os.path.join(web, name), "w") as f:
                f.write("x")
        srv = self.serve("--web-dir", web)
        self.assertEqual(srv.get("/vendor/leaflet.css").status, 404)
        self.assertEqual(srv.get("/openapi.json").status, 404)
        srv.stop()
        log = srv.output()
        line = [x for x in log.splitlines() if "console:" in x]
        self.assertEqual(len(line), 1, log)
        for name in ("openapi.json", "vendor/leaflet.js", "vendor/leaflet.css", "vendor/uplot.js",
                     "vendor/countries-50m.json"):
            self.assertIn(name, line[0])
        self.assertNotIn("index.html", line[0])
        self.assertIn("scripts/install-deps --web", line[0])
        # the build's own console has them all: no warning
        srv = self.serve()
        self.assertEqual(srv.get("/vendor/leaflet.css").status, 200)
        srv.stop()
        self.assertNotIn("console:", srv.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
