"""kill -9 the server under concurrent durable load; after a restart every
declaration that got a 201 is there, unchanged, and the database is sound."""
import http.client
import json
import sqlite3
import threading
import unittest

from harness import TempDirTestCase, create_key, declaration, wait_for

WRITERS = 12


class CrashTest(TempDirTestCase):
    def load(self, srv, token, tag, acked, stop):
        def worker(n):
            c = srv.connection(timeout=10)
            i = 0
            while not stop.is_set():
                body = declaration(f"{tag}-{n}-{i}", items=1 + i % 5)
                try:
                    r = srv.post("/v1/declarations", body, token=token, conn=c)
                except (http.client.HTTPException, OSError):
                    return  # the server died mid-request: not acknowledged
                if r.status == 201:
                    acked.append(r.json)
                i += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        return threads

    def test_kill9_loses_no_acknowledged_declaration(self):
        token = create_key(self.db, "ACME", "trader")
        acked = []
        for rnd in range(3):
            srv = self.serve()
            stop = threading.Event()
            before = len(acked)
            threads = self.load(srv, token, f"R{rnd}", acked, stop)
            # let a hundred or more commits happen, then pull the plug mid-stream
            # (a sanitizer build commits a few hundred in 30 s; a plain one thousands)
            wait_for(lambda: len(acked) - before, "a hundred acknowledged commits", limit=60,
                     step=0.01, done=lambda n: n >= 100)
            srv.kill9()
            stop.set()
            for t in threads:
                t.join()
            self.assertGreater(len(acked) - before, 0, "no load reached the server")

        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        con.close()
        srv = self.serve()
        officer = create_key(self.db, "KCS", "officer")
        c = srv.connection()
        for d in acked:
            r = srv.get("/v1/declarations/" + d["id"], token=officer, conn=c)
            self.assertEqual(r.status, 200, f"acknowledged {d['id']} lost")
            got = {k: v for k, v in r.json.items() if k not in ("risk", "inspection")}
            self.assertEqual(got, {k: v for k, v in d.items() if k != "risk"})
        # arrival order is intact and nothing half-written is visible
        stored, cursor = [], None
        while True:
            q = "/v1/declarations?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            page = srv.get(q, token=officer, conn=c).json
            stored += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        c.close()
        ids = {d["id"] for d in acked}
        self.assertTrue(ids <= {d["id"] for d in stored})
        for d in stored:  # every stored declaration is whole
            self.assertGreaterEqual(len(d["items"]), 1)
            self.assertEqual(d["status"], "submitted")


if __name__ == "__main__":
    unittest.main(verbosity=2)
