"""The ledger as a network (issue 16): three real nats-server processes
clustered on loopback, the demo consortium seeded through the stream, and
`customs serve` nodes of several organisations, each with its own database.

Convergence under concurrent submissions to different nodes, the double
transfer raced across two nodes, a replayed entry, a node killed -9 and
restarted, a late joiner, a node started from a snapshot (and a forged
one refused), a trust file that does not match, and a byzantine cosigner.
The NATS server failures are in test_ledger_network_faults.py."""
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import unittest

from harness import BIN, create_key, declaration, run
import lnetkit
import natskit


class LedgerNetworkTest(lnetkit.ThreeNodes):
    def test_1_nodes_replay_the_demo_and_cosign_one_history(self):
        seq, size, root = self.net.converge()
        self.assertEqual(size, 25)
        seed = json.loads(run("ledger", "show", "--db", self.net.seed, "0").stdout)
        for n in self.nodes():
            self.assertEqual(n.get("/v1/ledger/entries/0").json["leaf_hash"], seed["leaf_hash"])
            # received_at is the stream's timestamp: the same row on every node
            self.assertEqual(n.get("/v1/ledger/entries/3").json["received_at"],
                             self.customs.get("/v1/ledger/entries/3").json["received_at"])
        # the nodes' cosignatures gather on one checkpoint, final at the threshold
        deadline = time.time() + 20
        while time.time() < deadline:
            cps = [n.get("/v1/ledger/checkpoint").json for n in self.nodes()]
            if all(c.get("final") and c["tree_size"] == size for c in cps):
                break
            time.sleep(0.2)
        for c in cps:
            self.assertEqual(c["root_hash"], root)
            self.assertTrue(c["final"], c)
            self.assertGreaterEqual(len(c["cosignatures"]), c["threshold"])
        status = json.loads(run("ledger", "network", "status", "--nats", self.net.cluster.urls,
                                "--json").stdout)
        self.assertEqual(len(status["ledgers"]), 1)
        led = status["ledgers"][0]
        self.assertEqual(led["stream"]["replicas"], 3)
        self.assertEqual({x["org"] for x in led["nodes"]}, {"KCS", "OCEANIC", "HANSEONG-BANK"})
        text = run("ledger", "network", "status", "--nats", self.net.cluster.urls).stdout
        self.assertIn("ledger ledger.customs.example/demo", text)

    def test_2_concurrent_submissions_converge(self):
        entries = [self.net.manifest() for _ in range(24)]
        # two organisations' nodes race one manifest id: one wins everywhere
        dup = self.net.manifest(manifest_id="M-RACE")
        dup2 = self.net.manifest(manifest_id="M-RACE")
        texts = self.net.sign(entries + [dup, dup2], "OCEANIC")
        nodes = self.nodes()
        pairs = [(nodes[i % 3], t) for i, t in enumerate(texts[:-2])]
        pairs += [(self.carrier, texts[-2]), (self.bank, texts[-1])]
        replies = lnetkit.post_all(pairs)
        codes = [r.status for r in replies]
        self.assertEqual(codes[:-2], [201] * 24, [r for r in replies if r.status != 201][:3])
        self.assertEqual(sorted(codes[-2:]), [201, 409], replies[-2:])
        loser = replies[-2] if codes[-2] == 409 else replies[-1]
        self.assertEqual(loser.json["error"]["code"], "state_conflict")
        seq, size, root = self.net.converge()
        rejected = [n.rejected() for n in nodes]
        self.assertEqual(rejected[0], rejected[1])
        self.assertEqual(rejected[0], rejected[2])
        # every acknowledged entry is the same leaf at the same index everywhere,
        # with the stream sequence that ordered it beside it
        for r in replies:
            if r.status == 201:
                for n in nodes:
                    e = n.get(f"/v1/ledger/entries/{r.json['index']}").json
                    self.assertEqual(e["leaf_hash"], r.json["leaf_hash"])
                    self.assertEqual(e["seq"], r.json["seq"])

    def test_2b_the_command_line_writes_through_the_stream(self):
        # a fresh database: the command applies the stream up to now (one
        # more copy), then submits as a node does; a replay is refused there
        db = os.path.join(self.net.dir, "cli.db")
        text = self.net.sign([self.net.manifest()], "OCEANIC")[0]
        out = run("ledger", "submit", "--db", db, "--ledger-network", self.net.cluster.urls,
                  "-", input=text + "\n").stdout
        ack = json.loads(out.splitlines()[0])
        self.assertIn("seq", ack, out)
        seq, size, root = self.net.converge()
        self.assertGreaterEqual(seq, ack["seq"])
        for n in self.nodes():
            self.assertEqual(n.get(f"/v1/ledger/entries/{ack['index']}").json["leaf_hash"],
                             ack["leaf_hash"])
        p = run("ledger", "submit", "--db", db, "--ledger-network", self.net.cluster.urls, "-",
                input=text + "\n", check=False)
        self.assertIn("duplicate_entry", p.stdout + p.stderr)
        self.assertEqual(self.net.converge()[1], size)

    def test_3_double_transfer_race_has_one_winner_everywhere(self):
        bl = {"type": "bl.issue", "org": "OCEANIC",
              "body": {"number": "OCLU-RACE-1", "shipper": "Saigon Textile Export JSC",
                       "holder": "SAIGON-TEXTILE", "port_of_loading": "VNSGN",
                       "port_of_discharge": "KRPUS", "containers": ["CSQU3054383"],
                       "issued": "2024-03-05"}}
        r = self.carrier.post(self.net.sign([bl], "OCEANIC")[0])
        self.assertEqual(r.status, 201, r)
        self.net.converge()
        prev = self.customs.get("/v1/ledger/bls/OCLU-RACE-1").json["last_leaf_hash"]
        to_bank = {"type": "bl.transfer", "org": "SAIGON-TEXTILE",
                   "body": {"number": "OCLU-RACE-1", "to": "HANSEONG-BANK", "prev": prev}}
        to_acme = {"type": "bl.transfer", "org": "SAIGON-TEXTILE",
                   "body": {"number": "OCLU-RACE-1", "to": "ACME", "prev": prev}}
        a, b = self.net.sign([to_bank, to_acme], "SAIGON-TEXTILE")
        replies = lnetkit.post_all([(self.customs, a), (self.bank, b)])
        # the loser gets what one node would answer: once the bill moved, its
        # author is no longer the holder
        self.assertEqual(sorted(r.status for r in replies), [201, 403], replies)
        winner = "HANSEONG-BANK" if replies[0].status == 201 else "ACME"
        loser = replies[1] if replies[0].status == 201 else replies[0]
        self.assertEqual(loser.json["error"]["code"], "not_authorised")
        self.net.converge()
        for n in self.nodes():
            b = n.get("/v1/ledger/bls/OCLU-RACE-1").json
            self.assertEqual(b["holder"], winner)
            self.assertEqual(len(b["history"]), 2)
        rejected = [n.rejected() for n in self.nodes()]
        self.assertEqual(rejected[0], rejected[1])
        self.assertEqual(rejected[1], rejected[2])

    def test_3b_only_the_node_holding_a_declaration_endorses_its_anchor(self):
        # ACME lodges a declaration with customs (the KCS node)
        acme = create_key(self.customs.db, "ACME", "trader")
        r = self.customs.server.post("/v1/declarations", declaration("NET-ANCHOR-1"), token=acme)
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]

        def anchor(org):
            return {"type": "declaration.anchor", "org": org,
                    "body": {"declaration_id": did, "fields": {"/office": "ab" * 32}}}

        mine, theirs = self.net.sign([anchor("ACME")], "ACME")[0], \
            self.net.sign([anchor("SAIGON-TEXTILE")], "SAIGON-TEXTILE")[0]
        # the carrier's node does not hold it: nobody endorses, every rule refuses
        r = self.carrier.post(mine)
        self.assertEqual((r.status, r.json["error"]["code"]), (403, "policy_unsatisfied"), r)
        # another trader cannot anchor (and so block) ACME's declaration:
        # to it the declaration is not there
        r = self.customs.post(theirs)
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "not_found"), r)
        r = self.customs.post(mine)
        self.assertEqual(r.status, 201, r)
        self.net.converge()
        for n in self.nodes():
            e = n.get(f"/v1/ledger/entries/{r.json['index']}").json["entry"]
            self.assertEqual([s["org"] for s in e["signatures"]], ["ACME", "KCS"])

    def test_4_replayed_entry_is_a_duplicate_on_every_node(self):
        old = self.customs.get("/v1/ledger/entries/5").json
        # through a node: its own check refuses it before the stream
        r = self.bank.post(old["canonical"])
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "duplicate_entry"))
        # behind the nodes' backs, straight onto the stream (no Nats-Msg-Id):
        # every node rejects it at that sequence
        before = self.net.converge()
        c = natskit.Client(self.net.cluster.url(0))
        ack = c.js_publish(self.net.stream_subject(), old["canonical"].encode())
        c.close()
        self.assertIn("seq", ack, ack)
        seq, size, _ = self.net.converge()
        self.assertEqual(seq, ack["seq"])
        self.assertEqual(size, before[1])
        for n in self.nodes():
            self.assertIn((ack["seq"], old["entry_hash"], "duplicate_entry"), n.rejected())

    def test_5_killed_node_catches_up(self):
        texts = self.net.sign([self.net.manifest() for _ in range(30)], "OCEANIC")
        self.bank.server.kill9()
        results = []

        def post(ts):
            for t in ts:
                results.append(self.customs.post(t).status)

        t = threading.Thread(target=post, args=(texts[:20],))
        t.start()
        t.join()
        self.bank.start()
        post(texts[20:])
        self.assertEqual(results, [201] * 30)
        self.net.converge()

    def test_6_late_joiner_and_snapshot(self):
        # a chamber joins with an empty database: it replays the stream
        chamber = self.net.node("VCCI-HCM")
        head = self.net.converge()
        self.assertEqual(chamber.head(), head)
        # another starts from a snapshot of the customs node's tables
        snap = os.path.join(self.net.dir, "snap.db")
        run("ledger", "snapshot", "--db", self.customs.db, "--out", snap)
        con = sqlite3.connect(snap)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        con.close()
        self.assertNotIn("ledger_salts", tables)
        self.assertNotIn("ledger_findings", tables)
        self.assertNotIn("declarations", tables)
        r = self.customs.post(self.net.sign([self.net.manifest()], "OCEANIC")[0])
        self.assertEqual(r.status, 201, r)
        joined = self.net.node("VCCI-HCM", extra=["--ledger-snapshot", snap])
        head = self.net.converge()
        self.assertEqual(joined.head(), head)
        self.assertIn("joined from snapshot", joined.server.output())
        # a copy made from a snapshot pages its rejections as the source does
        def rejected_pages(n):
            out, cursor = [], ""
            while cursor is not None:
                r = n.get("/v1/ledger/rejected?limit=1" + (f"&cursor={cursor}" if cursor
                                                            else "")).json
                out += [(x["seq"], x["pos"], x["code"]) for x in r["items"]]
                cursor = r["next_cursor"]
            return out
        self.assertTrue(rejected_pages(self.customs), "no rejection to page through")
        self.assertEqual(rejected_pages(joined), rejected_pages(self.customs))
        # a snapshot taken by the version before batches (ledger schema 7:
        # no `pos`) is imported too: the seed's, whose demo entries went to
        # the stream one per message, as that version's did
        older = os.path.join(self.net.dir, "snap7.db")
        run("ledger", "snapshot", "--db", self.net.seed, "--out", older)
        con = sqlite3.connect(older)
        self.assertEqual(con.execute("SELECT max(pos) FROM ledger_entries").fetchone(), (0,))
        con.executescript(
            "DROP INDEX ledger_entries_seq;"
            "ALTER TABLE ledger_entries DROP COLUMN pos;"
            "CREATE UNIQUE INDEX ledger_entries_seq ON ledger_entries(seq) WHERE seq IS NOT NULL;"
            "CREATE TABLE r7(seq INTEGER PRIMARY KEY, entry_hash BLOB, type TEXT, org TEXT,"
            " status INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,"
            " details TEXT NOT NULL, received_at TEXT NOT NULL);"
            "INSERT INTO r7 SELECT seq, entry_hash, type, org, status, code, message, details,"
            " received_at FROM ledger_rejected;"
            "DROP TABLE ledger_rejected; ALTER TABLE r7 RENAME TO ledger_rejected;")
        con.close()
        joined7 = self.net.node("VCCI-HCM", extra=["--ledger-snapshot", older])
        head = self.net.converge()
        self.assertEqual(joined7.head(), head)
        self.assertIn("joined from snapshot", joined7.server.output())
        e = joined7.get("/v1/ledger/entries/3").json
        self.assertEqual((e["seq"], e["pos"]),
                         tuple(self.customs.get("/v1/ledger/entries/3").json[k]
                               for k in ("seq", "pos")))
        # every node's database verifies on its own, from scratch
        for n in (chamber, joined, joined7, self.carrier):
            out = run("ledger", "verify", "--db", n.db).stdout
            self.assertTrue(out.startswith(f"ok {head[1]} entries root {head[2]}"), out)
        # a snapshot whose entry was altered is refused
        forged = os.path.join(self.net.dir, "forged.db")
        shutil.copy(snap, forged)
        con = sqlite3.connect(forged)
        con.execute("UPDATE ledger_entries SET entry = replace(entry, '\"time\":\"2', "
                    "'\"time\":\"1') WHERE idx = 20")
        con.commit()
        con.close()
        db = os.path.join(self.net.dir, "refused.db")
        p = subprocess.run([BIN, "serve", "--db", db, "--listen", "127.0.0.1:0", "--org",
                            "VCCI-HCM", "--node-key", self.net.key("VCCI-HCM"),
                            "--ledger-network", self.net.cluster.urls, "--ledger-trust",
                            self.net.trust, "--ledger-snapshot", forged],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("snapshot does not verify at index 20", p.stderr)

    def test_7_a_node_refuses_a_genesis_its_trust_file_does_not_name(self):
        with open(self.net.trust) as f:
            trust = json.load(f)
        trust["genesis"] = "00" * 32
        path = os.path.join(self.net.dir, "other-trust.json")
        with open(path, "w") as f:
            json.dump(trust, f)
        p = subprocess.run([BIN, "serve", "--db", os.path.join(self.net.dir, "t.db"), "--listen",
                            "127.0.0.1:0", "--org", "KCS", "--node-key", self.net.key("KCS"),
                            "--ledger-network", self.net.cluster.urls, "--ledger-trust", path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is not the one the trust file names", p.stderr)
        # a database that follows one ledger refuses another stream
        p = run("ledger", "show", "--db", self.customs.db, "0", "--ledger-network",
                self.net.cluster.urls, "--ledger-origin", "ledger.other.example/x", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("follows the ledger ledger.customs.example/demo", p.stderr)

    def test_8_byzantine_cosigner_is_detected_by_every_node(self):
        self.net.converge()
        # the carrier's database, with one tree node rewritten: its root is forged
        forged = os.path.join(self.net.dir, "byzantine.db")
        src = sqlite3.connect(self.carrier.db)
        dst = sqlite3.connect(forged)
        src.backup(dst)
        src.close()
        dst.execute("UPDATE ledger_nodes SET hash = randomblob(32) WHERE id = "
                    "(SELECT max(id) FROM ledger_nodes)")
        dst.commit()
        dst.close()
        run("ledger", "checkpoint", "--db", forged, "--key", self.net.key("OCEANIC"),
            "--ledger-network", self.net.cluster.urls)
        deadline = time.time() + 20
        while time.time() < deadline:
            if all(n.health()["ledger"]["state"] == "fork" for n in self.nodes()):
                break
            time.sleep(0.2)
        for n in self.nodes():
            h = n.health()
            self.assertEqual(h["status"], "degraded")
            self.assertEqual(h["ledger"]["state"], "fork")
            self.assertEqual(h["ledger"]["fork"]["org"], "OCEANIC")
            self.assertEqual(n.metric("customs_ledger_fork"), 1)
            alerts = n.get("/v1/alerts?type=ledger_fork").json["items"]
            self.assertEqual(len(alerts), 1)
            a = alerts[0]
            self.assertEqual(a["severity"], "critical")
            self.assertEqual(a["subject"], {"kind": "ledger", "id": "ledger.customs.example/demo"})
            self.assertNotEqual(a["detail"]["root_ours"], a["detail"]["root_theirs"])
            self.assertIn("— OCEANIC ", a["detail"]["note_theirs"])
        # they stop cosigning: more entries, no more cosignatures
        sent = [n.metric("customs_ledger_cosignatures_sent_total") for n in self.nodes()]
        r = self.customs.post(self.net.sign([self.net.manifest()], "OCEANIC")[0])
        self.assertEqual(r.status, 201)
        self.net.converge(self.nodes())
        time.sleep(2.5)  # more than a second of activity
        self.assertEqual([n.metric("customs_ledger_cosignatures_sent_total")
                          for n in self.nodes()], sent)


if __name__ == "__main__":
    unittest.main(verbosity=2)
