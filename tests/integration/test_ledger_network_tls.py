"""The ledger network on a NATS server that wants TLS (client certificates
verified against the consortium's CA) and a user with a password: the
command line seeds the demo through it and a node with the right options
converges; without the CA, with the wrong password or with a secret file
others may read, a node refuses to start and says why. One nats-server with
JetStream (R1): the option plumbing, not the cluster (test_ledger_network)."""
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Server, create_key, run, wait_for
import natskit


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, the server's certificate (127.0.0.1, localhost) and a client's."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj",
            "/CN=consortium test CA", cwd=d)
    openssl("req", "-x509", *ec, "-CA", "ca.pem", "-CAkey", "ca.key", "-keyout", "server.key",
            "-out", "server.pem", "-subj", "/CN=nats", "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost", cwd=d)
    openssl("req", "-x509", *ec, "-CA", "ca.pem", "-CAkey", "ca.key", "-keyout", "client.key",
            "-out", "client.pem", "-subj", "/CN=customs node", cwd=d)
    # a second CA that signed nothing here: the wrong trust
    openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.pem", "-subj",
            "/CN=another CA", cwd=d)
    for k in ("ca.key", "server.key", "client.key", "other.key"):
        os.chmod(os.path.join(d, k), 0o600)


class TlsNats:
    """One nats-server with JetStream, TLS that verifies clients, a user."""

    def __init__(self, d, password):
        self.dir = d
        conf = os.path.join(d, "nats.conf")
        with open(conf, "w") as f:
            f.write(f"listen: 127.0.0.1:-1\n"
                    f"ports_file_dir: \"{d}\"\n"
                    f"jetstream {{ store_dir: \"{os.path.join(d, 'js')}\" }}\n"
                    f"tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server.key\", "
                    f"ca_file: \"{d}/ca.pem\", verify: true, timeout: 2 }}\n"
                    f"authorization {{ user: customs, password: \"{password}\" }}\n")
        self.log = open(os.path.join(d, "nats.log"), "w")
        self.proc = subprocess.Popen([natskit.NATS_SERVER, "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        ports = os.path.join(d, f"nats-server_{self.proc.pid}.ports")
        wait_for(lambda: os.path.exists(ports) or self.proc.poll() is not None,
                 "nats-server's ports file", limit=20)
        assert self.proc.poll() is None, open(os.path.join(d, "nats.log")).read()
        with open(ports) as f:
            self.url = json.load(f)["nats"][0]  # tls://127.0.0.1:PORT

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class LedgerNetworkTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="customs-lnet-tls-")
        make_pki(cls.dir)
        cls.pw = os.path.join(cls.dir, "password")
        with open(cls.pw, "w") as f:
            f.write("s3cret-of-the-consortium\n")
        os.chmod(cls.pw, 0o600)
        cls.nats = TlsNats(cls.dir, "s3cret-of-the-consortium")
        # nats:// URLs: the options alone must ask for TLS
        cls.url = cls.nats.url.replace("tls://", "nats://")
        cls.keys = os.path.join(cls.dir, "keys")
        cls.seed = os.path.join(cls.dir, "seed.db")
        cls.nodes = []
        run("ledger", "demo", "--db", cls.seed, "--keys-dir", cls.keys,
            "--ledger-network", cls.url, *cls.secure())
        cls.trust = os.path.join(cls.dir, "trust.json")
        run("ledger", "trust", "--db", cls.seed, "--out", cls.trust)

    @classmethod
    def tearDownClass(cls):
        reports = []
        for s in cls.nodes:
            if s.proc.poll() is None:
                s.stop()
            out = s.output()
            for mark in ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer:"):
                if mark in out:
                    reports.append(out[out.find(mark):][:4000])
            s.close()
        cls.nats.close()
        shutil.rmtree(cls.dir, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer reports:\n" + "\n".join(map(str, reports)))

    @classmethod
    def secure(cls, ca="ca.pem", password=None):
        opts = ["--nats-cert", os.path.join(cls.dir, "client.pem"),
                "--nats-key", os.path.join(cls.dir, "client.key"),
                "--nats-user", "customs", "--nats-password-file", password or cls.pw]
        return (["--nats-ca", os.path.join(cls.dir, ca)] if ca else []) + opts

    def serve_args(self, *secure):
        return ["--org", "KCS", "--node-key", os.path.join(self.keys, "kcs.key"),
                "--ledger-network", self.url, "--ledger-trust", self.trust, "--quiet", *secure]

    def refused(self, *secure):
        """Starts a node that must not start; its output."""
        db = os.path.join(self.dir, f"refused-{time.monotonic_ns()}.db")
        p = subprocess.run([BIN, "serve", "--db", db, "--listen", "127.0.0.1:0",
                            *self.serve_args(*secure)],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stderr

    def test_1_node_with_the_options_converges(self):
        db = os.path.join(self.dir, "kcs.db")
        token = create_key(db, "KCS", "admin")
        s = Server(db, self.serve_args(*self.secure()))
        self.nodes.append(s)
        health = wait_for(lambda: json.loads(s.get("/healthz").body).get("ledger"),
                          "the node's ledger state",
                          done=lambda h: h and h["state"] == "ok" and h["tree_size"] > 0 and
                          h["applied_seq"] == h["stream_last_seq"])
        # every entry the command line wrote through the stream, none rejected
        with sqlite3.connect(f"file:{self.seed}?mode=ro", uri=True) as c:
            seeded = c.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        self.assertGreater(seeded, 10)
        self.assertEqual(health["tree_size"], seeded)
        self.assertEqual(health["applied_seq"], seeded)
        r = s.get("/v1/ledger/rejected", token=token)
        self.assertEqual((r.status, r.json["items"]), (200, []))
        # the operators' view goes through the same options
        st = json.loads(run("ledger", "network", "status", "--nats", self.url, "--json",
                            *self.secure()).stdout)
        orgs = [n["org"] for l in st["ledgers"] for n in l["nodes"]]
        self.assertIn("KCS", orgs)

    def test_2_without_the_ca_a_node_refuses_to_start(self):
        err = self.refused(*self.secure(ca=None))
        self.assertIn("--nats-ca", err)
        self.assertIn("TLS", err)
        err = self.refused(*self.secure(ca="other.pem"))
        self.assertIn("certificate", err)

    def test_3_wrong_password_refused(self):
        wrong = os.path.join(self.dir, "wrong")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        os.chmod(wrong, 0o600)
        err = self.refused(*self.secure(password=wrong))
        self.assertIn("refused this node's credentials", err)

    def test_4_secret_files_others_may_read_refused(self):
        loose = os.path.join(self.dir, "loose")
        shutil.copy(self.pw, loose)
        os.chmod(loose, 0o640)
        err = self.refused(*self.secure(password=loose))
        self.assertIn("--nats-password-file", err)
        self.assertIn("chmod 600", err)
        key = os.path.join(self.dir, "client-loose.key")
        shutil.copy(os.path.join(self.dir, "client.key"), key)
        os.chmod(key, 0o644)
        opts = self.secure()
        opts[opts.index("--nats-key") + 1] = key
        err = self.refused(*opts)
        self.assertIn("--nats-key", err)
        self.assertIn("chmod 600", err)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o644)
        # a credentials file and a token file: the same rule
        for opt in ("--nats-creds", "--nats-token-file"):
            err = self.refused("--nats-ca", os.path.join(self.dir, "ca.pem"), opt, loose)
            self.assertIn(f"{opt} {loose} must be a file readable by its owner only", err)

    def test_5_options_checked_before_anything_starts(self):
        p = run("serve", "--db", os.path.join(self.dir, "x.db"), "--nats-ca",
                os.path.join(self.dir, "ca.pem"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("need --ledger-network", p.stderr)
        err = self.refused("--nats-cert", os.path.join(self.dir, "client.pem"))
        self.assertIn("--nats-cert and --nats-key go together", err)
        p = run("ledger", "show", "--db", self.seed, "--nats-user", "customs", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("need --ledger-network", p.stderr)


if __name__ == "__main__":
    unittest.main()
