"""The command line: help, version, keys."""
import json
import os
import stat
import unittest

from harness import BIN, TempDirTestCase, run

COMMANDS = ["serve", "keys", "import", "risk", "hs", "keygen", "ledger", "track", "tariff", "rates"]


class CliTest(TempDirTestCase):
    def test_help_and_version(self):
        p = run("--help")
        for c in COMMANDS:
            self.assertIn(c, p.stdout)
        self.assertRegex(run("--version").stdout, r"^customs \d+\.\d+\.\d+\n$")
        for c in COMMANDS:
            h = run(c, "--help").stdout
            self.assertIn("Usage:", h)
            self.assertIn("Example", h)
            if c not in ("keygen", "hs", "track"):
                self.assertIn("--db", h)

    def test_unknown_command_and_option(self):
        p = run("smuggle", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command", p.stderr)
        p = run("serve", "--db", self.db, "--colour", "red", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--colour", p.stderr)
        p = run("import", "--org", "A", check=False)
        self.assertEqual(p.returncode, 2)

    def test_keys_create_prints_only_the_token(self):
        p = run("keys", "create", "--db", self.db, "--org", "ACME", "--role", "trader",
                "--name", "ERP system")
        self.assertRegex(p.stdout, r"^cst_[A-Za-z0-9_-]{43}\n$")
        self.assertEqual(p.stderr, "")
        # the database never holds the token itself
        with open(self.db, "rb") as f:
            self.assertNotIn(p.stdout.strip()[4:].encode(), f.read())

    def test_keys_list_and_revoke(self):
        run("keys", "create", "--db", self.db, "--org", "ACME", "--role", "trader", "--name", "a")
        run("keys", "create", "--db", self.db, "--org", "KCS", "--role", "officer")
        rows = [json.loads(x) for x in
                run("keys", "list", "--db", self.db, "--json").stdout.splitlines()]
        self.assertEqual([(r["org"], r["role"], r["name"]) for r in rows],
                         [("ACME", "trader", "a"), ("KCS", "officer", "")])
        self.assertTrue(all(r["revoked_at"] is None for r in rows))
        run("keys", "revoke", "--db", self.db, str(rows[0]["id"]))
        rows = [json.loads(x) for x in
                run("keys", "list", "--db", self.db, "--json").stdout.splitlines()]
        self.assertIsNotNone(rows[0]["revoked_at"])
        table = run("keys", "list", "--db", self.db).stdout
        self.assertIn("ACME", table)
        p = run("keys", "revoke", "--db", self.db, str(rows[0]["id"]), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already revoked", p.stderr)
        p = run("keys", "revoke", "--db", self.db, "999", check=False)
        self.assertIn("no key", p.stderr)

    def test_keys_bad_input(self):
        for args, needle in ((["--org", "ACME", "--role", "root"], "--role"),
                             (["--org", "bad org", "--role", "trader"], "--org"),
                             (["--role", "trader"], "--org")):
            p = run("keys", "create", "--db", self.db, *args, check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(needle, p.stderr)
            self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
