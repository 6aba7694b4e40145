"""Several entries per stream message (issue 16, docs/ledger.md "Stream
format"): batches put on the stream behind the nodes' backs, byte for byte
what a node publishes (header Ledger-Batch: n, the canonical texts joined by
newlines), and the nodes' own batches under concurrent submissions.

Every node applies a batch's entries in order at (seq, position), a batch
published twice with its id is stored once, one that reaches the stream
twice anyway is rejected entry by entry as duplicates, a bad entry among
good ones is rejected alone, a malformed batch is one rejection, messages of
one entry (the format before batches) are still read, and a node stopped
while batches arrive resumes from the middle of the stream."""
import hashlib
import json
import unittest

import lnetkit
import natskit


def batch_id(body):
    return hashlib.sha256(body).hexdigest()


class LedgerBatchTest(lnetkit.ThreeNodes):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.subject = cls.net.stream_subject()

    def publish(self, lines, count=None, msg_id=None, raw=None):
        body = raw if raw is not None else "\n".join(lines).encode()
        headers = {"Ledger-Batch": str(len(lines) if count is None else count)}
        c = natskit.Client(self.net.cluster.url(0))
        ack = c.js_publish(self.subject, body, msg_id=msg_id, headers=headers)
        c.close()
        self.assertIn("seq", ack, ack)
        return ack

    def rejected_at(self, node, seq):
        """(pos, entry_hash, code) of what node rejected at seq."""
        r = node.get("/v1/ledger/rejected?limit=1000")
        self.assertEqual(r.status, 200, r)
        return sorted((x["pos"], x["entry_hash"], x["code"]) for x in r.json["items"]
                      if x["seq"] == seq)

    def entries_at(self, node, first, size):
        return [node.get(f"/v1/ledger/entries/{i}").json for i in range(first, size)]

    def test_1_a_batch_is_applied_in_order_with_its_indexes_on_every_node(self):
        _, before, _ = self.net.converge()
        texts = self.net.sign([self.net.manifest() for _ in range(5)], "OCEANIC")
        ack = self.publish(texts, msg_id=batch_id("\n".join(texts).encode()))
        seq, size, root = self.net.converge()
        self.assertEqual((seq, size), (ack["seq"], before + 5))
        for n in self.nodes():
            got = self.entries_at(n, before, size)
            self.assertEqual([e["canonical"] for e in got], texts)
            self.assertEqual([(e["seq"], e["pos"]) for e in got],
                             [(ack["seq"], i) for i in range(5)])
            self.assertEqual(self.rejected_at(n, ack["seq"]), [])
        # the same batch again with its id: JetStream keeps one copy
        again = self.publish(texts, msg_id=batch_id("\n".join(texts).encode()))
        self.assertTrue(again.get("duplicate"), again)
        self.assertEqual(again["seq"], ack["seq"])
        self.assertEqual(self.net.converge(), (seq, size, root))
        # once more without an id (past the window, or another publisher):
        # on the stream twice, rejected entry by entry on every node
        third = self.publish(texts)
        seq3, size3, _ = self.net.converge()
        self.assertEqual((seq3, size3), (third["seq"], size))
        want = None
        for n in self.nodes():
            rej = self.rejected_at(n, third["seq"])
            self.assertEqual([(p, c) for p, _, c in rej],
                             [(i, "duplicate_entry") for i in range(5)])
            want = want or rej
            self.assertEqual(rej, want)

    def test_2_a_bad_entry_among_good_ones_is_rejected_alone(self):
        _, before, _ = self.net.converge()
        good = self.net.sign([self.net.manifest() for _ in range(3)], "OCEANIC")
        old = self.customs.get("/v1/ledger/entries/5").json["canonical"]
        forged = good[1].replace('"manifest_id":"', '"manifest_id":"X', 1)
        self.assertNotEqual(forged, good[1])
        lines = [good[0], forged, "not json", old, good[1], good[2]]
        ack = self.publish(lines)
        seq, size, _ = self.net.converge()
        self.assertEqual((seq, size), (ack["seq"], before + 3))
        want = None
        for n in self.nodes():
            got = self.entries_at(n, before, size)
            self.assertEqual([e["canonical"] for e in got], [good[0], good[1], good[2]])
            self.assertEqual([e["pos"] for e in got], [0, 4, 5])
            rej = self.rejected_at(n, ack["seq"])
            self.assertEqual([p for p, _, _ in rej], [1, 2, 3], rej)
            self.assertEqual(rej[2][2], "duplicate_entry")
            want = want or rej
            self.assertEqual(rej, want)

    def test_3_a_malformed_batch_is_one_rejection(self):
        text = self.net.sign([self.net.manifest()], "OCEANIC")[0]
        cases = [
            ([text, text], 3, None),             # fewer lines than the header says
            ([text], 1, (text + "\n\n" + text).encode()),  # an empty line
            ([text], 0, None),                   # no count
            ([text], "+1", None),                # not a plain count
            ([text] * 65, None, None),           # more than 64 entries
        ]
        _, before, _ = self.net.converge()
        seqs = [self.publish(lines, count=c, raw=raw)["seq"] for lines, c, raw in cases]
        seq, size, _ = self.net.converge()
        self.assertEqual((seq, size), (seqs[-1], before))
        for n in self.nodes():
            for s in seqs:
                self.assertEqual(self.rejected_at(n, s), [(0, "", "invalid_batch")])

    def test_4_messages_of_one_entry_are_still_read(self):
        _, before, _ = self.net.converge()
        text = self.net.sign([self.net.manifest()], "OCEANIC")[0]
        c = natskit.Client(self.net.cluster.url(0))
        ack = c.js_publish(self.subject, text.encode(), msg_id=batch_id(text.encode()))
        c.close()
        seq, size, _ = self.net.converge()
        self.assertEqual((seq, size), (ack["seq"], before + 1))
        for n in self.nodes():
            e = n.get(f"/v1/ledger/entries/{before}").json
            self.assertEqual((e["canonical"], e["seq"], e["pos"]), (text, ack["seq"], 0))

    def test_5_a_node_resumes_in_the_middle_of_a_stream_of_batches(self):
        self.net.converge()
        self.bank.server.kill9()
        texts = self.net.sign([self.net.manifest() for _ in range(12)], "OCEANIC")
        acks = [self.publish(texts[i:i + 4]) for i in range(0, 12, 4)]
        # and the nodes' own submissions, many at once: batches of theirs
        more = self.net.sign([self.net.manifest() for _ in range(24)], "OCEANIC")
        replies = lnetkit.post_all([(self.customs if i % 2 else self.carrier, t)
                                    for i, t in enumerate(more)])
        self.assertEqual([r.status for r in replies], [201] * 24,
                         [r for r in replies if r.status != 201][:3])
        self.bank.start()
        seq, size, root = self.net.converge(self.nodes())
        self.assertGreaterEqual(seq, acks[-1]["seq"])
        # a late joiner replays the whole stream, batches and all
        chamber = self.net.node("VCCI-HCM")
        self.assertEqual(self.net.converge(), (seq, size, root))
        for r in replies:
            for n in self.nodes() + [chamber]:
                e = n.get(f"/v1/ledger/entries/{r.json['index']}").json
                self.assertEqual((e["leaf_hash"], e["seq"], e["pos"]),
                                 (r.json["leaf_hash"], r.json["seq"], r.json["pos"]))
        for a in acks:
            for n in self.nodes() + [chamber]:
                self.assertEqual([(e["seq"], e["pos"]) for e in
                                  self.entries_at(n, 0, size) if e.get("seq") == a["seq"]],
                                 [(a["seq"], i) for i in range(4)])

    def test_6_a_node_that_does_not_say_it_reads_batches_holds_them_back(self):
        """A status without stream_format (a node of the version before
        batches, which would take a batch for one bad entry) keeps a node
        that starts after it to one entry per message, until it says it
        reads them."""
        self.net.converge()
        stream = self.customs.health()["ledger"]["stream"]
        key = f"$KV.{stream}_NODES.OLD-NODE"
        c = natskit.Client(self.net.cluster.url(0))
        old = {"state": "ok", "org": "OLD-NODE", "stream": stream}
        self.assertIn("seq", c.js_publish(key, json.dumps(old).encode()))
        self.bank.start()  # a new process: it has seen no status yet

        def round_of(n):
            texts = self.net.sign([self.net.manifest() for _ in range(n)], "OCEANIC")
            replies = lnetkit.post_all([(self.bank, t) for t in texts])
            self.assertEqual([r.status for r in replies], [201] * n,
                             [r for r in replies if r.status != 201][:3])
            return [r.json["pos"] for r in replies]

        for _ in range(3):
            self.assertEqual(round_of(24), [0] * 24)
        # the node says it reads batches now: the bank's own batches form
        old["stream_format"] = 2
        self.assertIn("seq", c.js_publish(key, json.dumps(old).encode()))
        c.close()
        batched = False
        for _ in range(30):
            if max(round_of(24)) > 0:
                batched = True
                break
        self.assertTrue(batched, "no batch formed once every node reads them")
        self.net.converge()


if __name__ == "__main__":
    unittest.main(verbosity=2)
