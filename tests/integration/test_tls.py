"""HTTPS with --tls-cert/--tls-key (GnuTLS in the HTTP edge)."""
import os
import ssl
import subprocess
import unittest

from harness import TempDirTestCase, create_key, declaration, run


class TlsTest(TempDirTestCase):
    def make_cert(self):
        key = os.path.join(self.tmp, "key.pem")
        cert = os.path.join(self.tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        return cert, key

    def test_https(self):
        cert, key = self.make_cert()
        token = create_key(self.db, "ACME", "trader")
        srv = self.serve("--tls-cert", cert, "--tls-key", key, tls=cert)
        r = srv.get("/healthz")
        self.assertEqual(r.status, 200)
        r = srv.post("/v1/declarations", declaration("TLS-1"), token=token)
        self.assertEqual(r.status, 201, r)
        # plain HTTP to the TLS port gets no API answer
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        with self.assertRaises((http.client.HTTPException, OSError)):
            c.request("GET", "/healthz")
            c.getresponse().read()
        c.close()

    def test_bad_tls_options(self):
        cert, key = self.make_cert()
        p = run("serve", "--db", self.db, "--listen", "127.0.0.1:0", "--tls-cert", cert,
                check=False, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("go together", p.stderr)
        p = run("serve", "--db", self.db, "--listen", "127.0.0.1:0", "--tls-cert", cert,
                "--tls-key", "/nonexistent.pem", check=False, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent.pem", p.stderr)
        garbage = os.path.join(self.tmp, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a key")
        p = run("serve", "--db", self.db, "--listen", "127.0.0.1:0", "--tls-cert", cert,
                "--tls-key", garbage, check=False, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("TLS", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
