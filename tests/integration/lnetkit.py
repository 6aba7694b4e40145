"""A ledger network for tests: a real NATS cluster (natskit), the demo
consortium seeded through the stream, and `customs serve` nodes of several
organisations, each with its own database. Standard library only."""
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from harness import Server, create_key, run
import natskit

# the demo's organisations, their key files, and the API role of a node's admin
ORGS = {
    "KCS": "kcs.key",
    "OCEANIC": "carrier.key",
    "HANSEONG-BANK": "bank.key",
    "VCCI-HCM": "chamber.key",
    "ACME": "importer.key",
    "SAIGON-TEXTILE": "exporter.key",
}


class Node:
    def __init__(self, net, org, db=None, extra=(), wait=True):
        self.net = net
        self.org = org
        self.db = db or os.path.join(net.dir, f"{org}-{len(net.nodes)}.db")
        self.token = create_key(self.db, org, "admin")
        self.extra = list(extra)
        self.server = None
        self.start(wait)

    def start(self, wait=True):
        if self.server:  # a restart: what the last process printed still counts
            self.stop()
        self.server = Server(self.db, ["--org", self.org, "--node-key", self.net.key(self.org),
                                       "--ledger-network", self.net.cluster.urls,
                                       "--ledger-trust", self.net.trust, "--quiet", *self.extra],
                             wait=wait)

    def get(self, path):
        return self.server.get(path, token=self.token)

    def post(self, body):
        return self.server.post("/v1/ledger/entries", body, token=self.token)

    def health(self):
        return json.loads(self.server.get("/healthz").body)

    def metric(self, name):
        return self.server.metric(name)

    def head(self):
        """(applied sequence, tree size, root)."""
        h = self.health()["ledger"]
        return h["applied_seq"], h["tree_size"], h["root_hash"]

    def rejected(self):
        items, cursor = [], None
        while True:
            r = self.get("/v1/ledger/rejected?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            assert r.status == 200, r
            items += [(x["seq"], x["entry_hash"], x["code"]) for x in r.json["items"]]
            cursor = r.json["next_cursor"]
            if not cursor:
                return items

    def stop(self):
        if self.server:
            if self.server.proc.poll() is None:
                self.server.stop()
            out = self.server.output()
            # a sanitizer build reports at exit: the test fails on it
            for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                         "WARNING: ThreadSanitizer:"):
                i = out.find(mark)
                if i >= 0:
                    self.net.reports.append(f"{self.org} ({self.db}):\n{out[i:i + 4000]}")
            self.server.close()


class Network:
    """A cluster, the demo consortium on it, and nodes."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="customs-lnet-")
        self.cluster = natskit.Cluster()
        self.keys = os.path.join(self.dir, "keys")
        self.seed = os.path.join(self.dir, "seed.db")
        self.nodes = []
        self.reports = []
        run("ledger", "demo", "--db", self.seed, "--keys-dir", self.keys, "--ledger-network",
            self.cluster.urls)
        self.trust = os.path.join(self.dir, "trust.json")
        run("ledger", "trust", "--db", self.seed, "--out", self.trust)
        self.counter = 0

    def key(self, org):
        return os.path.join(self.keys, ORGS[org])

    def node(self, org, **kw):
        n = Node(self, org, **kw)
        self.nodes.append(n)
        return n

    def sign(self, entries, org, *also):
        """Entries (dicts) signed by org and then each of also: canonical texts."""
        entries = [dict(e, signatures=e.get("signatures", [])) for e in entries]
        text = "\n".join(json.dumps(e) for e in entries) + "\n"
        for o in (org, *also):
            p = run("ledger", "sign", "--key", self.key(o), "--org", o, "-", input=text)
            text = p.stdout
        return [line for line in text.splitlines() if line.strip()]

    def manifest(self, org="OCEANIC", manifest_id=None, parcels=2):
        self.counter += 1
        mid = manifest_id or f"M-{os.getpid()}-{self.counter}"
        return {"type": "parcel.manifest", "org": org, "ledger": "ledger.customs.example/demo",
                "body": {"manifest_id": mid,
                         "parcels": [hashlib.sha256(f"{mid}/{i}/{self.counter}".encode())
                                     .hexdigest() for i in range(parcels)]}}

    def stream_subject(self):
        """The entries' subject, from a node's health."""
        for n in self.nodes:
            if n.server and n.server.proc.poll() is None:
                stream = n.health()["ledger"]["stream"]
                return "customs.ledger." + stream[len("LEDGER_"):] + ".entries"
        raise AssertionError("no node running")

    def converge(self, nodes=None, timeout=60):
        """Waits until the nodes applied the same sequence with the same tree;
        returns (seq, size, root)."""
        nodes = [n for n in (nodes or self.nodes) if n.server and n.server.proc.poll() is None]
        deadline = time.time() + timeout
        heads = []
        while time.time() < deadline:
            heads = [n.head() for n in nodes]
            last = max(n.health()["ledger"]["stream_last_seq"] for n in nodes)
            if len(set(heads)) == 1 and heads[0][0] >= last:
                return heads[0]
            time.sleep(0.2)
        raise AssertionError(f"the nodes did not converge: {heads}")

    def close(self):
        """Stops everything; raises if a node's sanitizer reported anything."""
        for n in self.nodes:
            n.stop()
        self.cluster.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.reports:
            raise AssertionError("sanitizer reports:\n" + "\n".join(self.reports))


def post_all(pairs):
    """Posts (node, text) pairs concurrently; returns the responses in order."""
    out = [None] * len(pairs)
    start = threading.Barrier(len(pairs))

    def one(i, node, text):
        start.wait()
        out[i] = node.post(text)

    threads = [threading.Thread(target=one, args=(i, n, t)) for i, (n, t) in enumerate(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


class ThreeNodes(unittest.TestCase):
    """A cluster and the customs, carrier and bank nodes on it, converged
    once for the whole class and closed after it."""

    @classmethod
    def setUpClass(cls):
        cls.net = Network()
        cls.customs = cls.net.node("KCS")
        cls.carrier = cls.net.node("OCEANIC")
        cls.bank = cls.net.node("HANSEONG-BANK")
        cls.net.converge()

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def nodes(self):
        return [self.customs, self.carrier, self.bank]
