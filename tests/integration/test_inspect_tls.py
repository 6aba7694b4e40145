"""HTTPS for a phone at the container (issue 13; `make run TLS=1`): the pair
scripts/tls-pair makes (key 0600, names 127.0.0.1, kept while valid), a
server started with it, clients that trust it explicitly (Python with the
certificate as CA file; the tracking simulator with --cacert) get answers,
and the same clients without that trust are refused."""
import os
import ssl
import stat
import subprocess
import unittest
import urllib.error
import urllib.request

from harness import SOURCE, TempDirTestCase, create_key, run


class InspectTlsTest(TempDirTestCase):
    def pair(self):
        d = os.path.join(self.tmp, "tls")
        p = subprocess.run([os.path.join(SOURCE, "scripts", "tls-pair"), d], check=True,
                           capture_output=True, text=True, timeout=60)
        return p.stdout.strip(), os.path.join(d, "key.pem")

    def test_pair_served_and_trusted_explicitly(self):
        cert, key = self.pair()
        self.assertEqual(cert, os.path.join(self.tmp, "tls", "cert.pem"))
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode), 0o700)
        with open(cert, "rb") as f:
            first = f.read()
        self.assertEqual(self.pair()[0], cert)  # a valid pair is kept, not remade
        with open(cert, "rb") as f:
            self.assertEqual(f.read(), first)
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve("--tls-cert", cert, "--tls-key", key, tls=cert)
        url = "https://127.0.0.1:%d" % srv.port
        # trusting the certificate: the name 127.0.0.1 is checked as well
        trusted = ssl.create_default_context(cafile=cert)
        with urllib.request.urlopen(url + "/healthz", context=trusted, timeout=10) as r:
            self.assertEqual(r.status, 200)
        # the system's CAs alone refuse it
        with self.assertRaises(urllib.error.URLError) as cm:
            urllib.request.urlopen(url + "/healthz", context=ssl.create_default_context(),
                                   timeout=10)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)
        # the tracking simulator: refused without --cacert, accepted with it
        sim = ("track", "simulate", "--http", url, "--token", officer, "--devices", "1",
               "--count", "3", "--rate", "0")
        p = run(*sim, check=False, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("certificate", p.stderr)
        p = run(*sim, "--cacert", cert, check=False, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = run(*sim, "--cacert", os.path.join(self.tmp, "nope.pem"), check=False, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--cacert: cannot read", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
