"""docs/api.md's tour, run as written against a server with demo data.

The ```sh blocks between <!-- tour --> and <!-- /tour --> are the commands
a newcomer copies; they run here in one shell (the first sets BASE, the
keys file gives the officer's key), each block's output checked. The last
block follows the alert stream: it runs until an alert has come.
"""
import json
import os
import re
import subprocess
import time
import unittest

from harness import SOURCE, TempDirTestCase, create_key, run
from trackkit import now_ms, setup_world, wait_for


def tour_blocks():
    with open(os.path.join(SOURCE, "docs", "api.md")) as f:
        md = f.read()
    tour = md[md.index("<!-- tour -->"):md.index("<!-- /tour -->")]
    return re.findall(r"```sh\n(.*?)```", tour, re.S)


class ApiTourTest(TempDirTestCase):
    def seed(self):
        """What `make run` has: demo keys in var/demo-keys.txt, the demo
        declarations, a ledger with a cosigned checkpoint, a tracking alert."""
        os.makedirs(os.path.join(self.tmp, "var"))
        keys = {}
        with open(os.path.join(self.tmp, "var", "demo-keys.txt"), "w") as f:
            for role, org in (("admin", "KCS"), ("officer", "KCS"), ("trader", "ACME-KR")):
                keys[role] = create_key(self.db, org, role)
                f.write(f"{role:<8} {org:<10} {keys[role]}\n")
        demo = os.path.join(SOURCE, "data", "demo", "acme-kr.jsonl")
        part = os.path.join(self.tmp, "acme.jsonl")
        with open(demo) as src, open(part, "w") as dst:
            dst.writelines(src.readlines()[:40])
        run("import", "--db", self.db, "--org", "ACME-KR", part)
        run("ledger", "demo", "--db", self.db, "--customs", "KCS", "--importer", "ACME-KR",
            "--carrier", "MAERSK", "--bank", "KEXIM-BANK")
        return keys

    def test_tour(self):
        blocks = tour_blocks()
        self.assertEqual(len(blocks), 7, "the tour: setup + six steps")
        keys = self.seed()
        srv = self.serve()
        setup_world(srv, keys["officer"])
        t = now_ms()
        r = srv.post("/v1/telemetry", [
            {"device": "TRK-1", "ts": t - 2000, "lat": 0, "lon": 30.3, "seal": "closed"},
            {"device": "TRK-1", "ts": t - 1000, "lat": 0, "lon": 30.31, "seal": "open"}],
            token=keys["officer"])
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: srv.get("/v1/alerts", token=keys["officer"]).json["items"],
                 "the seal alert")
        env = dict(os.environ, BASE=f"http://127.0.0.1:{srv.port}")
        script = ""
        for i, b in enumerate(blocks[:6]):
            script += f"echo '@@ {i}'\n{b}"
        p = subprocess.run(["sh", "-eu", "-c", script], cwd=self.tmp, env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")
        out = dict(re.findall(r"@@ (\d+)\n(.*?)(?=@@ \d+\n|\Z)", p.stdout, re.S))
        step = {k: [json.loads(x) for x in re.findall(r"^\{.*?^\}", v, re.S | re.M)]
                for k, v in out.items()}
        queue, decl, insp, dec, cp = (step[str(i)] for i in range(1, 6))
        self.assertEqual(len(queue), 3)
        self.assertTrue(all(x["org"] == "ACME-KR" and x["lane"] for x in queue), queue)
        self.assertEqual(decl[0]["reference"], queue[0]["reference"])
        self.assertEqual(decl[0]["status"], "submitted")
        self.assertTrue(decl[0]["why"], decl)
        self.assertEqual(insp[0]["result"], "compliant")
        self.assertEqual(dec[0]["status"], "released")
        self.assertGreater(cp[0]["tree_size"], 10)
        self.assertIn("KCS", cp[0]["cosigned_by"])
        # the released declaration left the open queue
        q = srv.get("/v1/risk/queue?status=open&limit=500", token=keys["officer"]).json
        self.assertNotIn(queue[0]["id"], [x["id"] for x in q["items"]])

        # 6: the stream replays the stored alert, then follows (until Ctrl-C)
        p = subprocess.Popen(["sh", "-eu", "-c", blocks[0] + blocks[6]], cwd=self.tmp, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        lines = []
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if line.startswith("data:") and "seal_opened" in line:
                    break
        finally:
            os.killpg(p.pid, 9)
            p.wait()
        text = "".join(lines)
        self.assertIn("event: alert", text)
        self.assertIn('"type":"seal_opened"', text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
