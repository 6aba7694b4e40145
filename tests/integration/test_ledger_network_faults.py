"""The ledger network when NATS servers fail (issue 16): with one of three
servers killed under load the nodes go on and nothing acknowledged is lost;
with two killed a submission answers 503 unavailable and nothing is applied
anywhere, and the nodes resume once the servers are back — an entry whose
publish timed out may be ordered then, once, and a retry says where."""
import threading
import time
import unittest

import lnetkit


class LedgerNetworkFaultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = lnetkit.Network()
        cls.nodes = [cls.net.node("KCS"), cls.net.node("OCEANIC"), cls.net.node("HANSEONG-BANK")]
        cls.net.converge()

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def test_1_one_server_killed_under_load(self):
        texts = self.net.sign([self.net.manifest() for _ in range(90)], "OCEANIC")
        replies = []
        lock = threading.Lock()
        posted = threading.Semaphore(0)

        def worker(node, part):
            for t in part:
                r = node.post(t)
                with lock:
                    replies.append(r)
                posted.release()

        threads = [threading.Thread(target=worker, args=(n, texts[i::3]))
                   for i, n in enumerate(self.nodes)]
        for t in threads:
            t.start()
        for _ in range(25):  # a third of the load in, kill a server
            posted.acquire()
        self.net.cluster.kill(0)
        for t in threads:
            t.join()
        ok = [r for r in replies if r.status == 201]
        other = [r for r in replies if r.status != 201]
        # a submission caught by the failover may answer 503 (safe to
        # retry); nothing else
        self.assertTrue(all(r.status == 503 and r.json["error"]["code"] == "unavailable"
                            for r in other), other[:3])
        self.assertGreater(len(ok), 60, other[:3])
        self.net.converge()
        # every acknowledged entry is on every node, at the index it was given
        for n in self.nodes:
            for r in ok:
                e = n.get(f"/v1/ledger/entries/{r.json['index']}").json
                self.assertEqual(e["leaf_hash"], r.json["leaf_hash"])
        self.net.cluster.start(0)

    def test_2_two_servers_killed_then_back(self):
        self.net.cluster.wait_ready()
        before = self.net.converge()
        self.net.cluster.kill(1)
        self.net.cluster.kill(2)
        text = self.net.sign([self.net.manifest()], "OCEANIC")[0]
        r = self.nodes[0].post(text)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["error"]["code"], "unavailable")
        # never a local-only commit: nothing moved anywhere
        for n in self.nodes:
            self.assertEqual(n.head()[1], before[1])
        self.net.cluster.start(1)
        self.net.cluster.start(2)
        answers = [r]
        deadline = time.time() + 90
        while time.time() < deadline:
            r = self.nodes[1].post(text)
            answers.append(r)
            if r.status != 503:
                break
            time.sleep(1)
        seq, size, root = self.net.converge(timeout=60)
        # exactly one copy, wherever it came from: this retry (201), or an
        # earlier attempt committed when quorum returned, which the retry
        # names (409 duplicate_entry with that index)
        self.assertEqual(size, before[1] + 1)
        if r.status == 409:
            self.assertEqual(r.json["error"]["code"], "duplicate_entry", r)
            self.assertIn(f"at index {before[1]} ", r.json["error"]["message"])
            # then an earlier 503 came after a publish with no answer (a
            # timeout while the servers came back), and it must not have
            # promised the entry was absent
            said = [a.json["error"]["message"] for a in answers[:-1]]
            self.assertTrue(any("may still be ordered" in m for m in said), said)
        else:
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["index"], before[1])
        for n in self.nodes:
            self.assertEqual(n.health()["ledger"]["state"], "ok")


if __name__ == "__main__":
    unittest.main(verbosity=2)
