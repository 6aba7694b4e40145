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

    def test_options_written_in_full(self):
        """getopt_long would take a prefix: --port for --port-file. Every command
        and action refuses abbreviated, unknown and misplaced options, names
        the option, lists the valid ones and changes nothing."""
        port_file = os.path.join(self.tmp, "9000")
        p = run("serve", "--db", self.db, "--port", port_file, check=False, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unknown option '--port'", p.stderr)
        self.assertIn("did you mean --port-file?", p.stderr)
        self.assertIn("Valid options: --db, --listen,", p.stderr)
        self.assertFalse(os.path.exists(port_file))
        self.assertFalse(os.path.exists(self.db))
        cases = [
            (["serve", "--db=" + self.db, "--liste=127.0.0.1:0"], "'--liste'"),
            (["serve", "--db", self.db, "-q"], "'-q'"),
            # the edge's limits parse through the same app_getopt
            (["serve", "--db", self.db, "--max-conn", "64"], "'--max-conn'"),
            (["serve", "--db", self.db, "--anon-rat=0"], "'--anon-rat' (did you mean --anon-rate?"),
            (["keys", "create", "--db", self.db, "--org", "A", "--role", "officer",
              "--subj", "OP-1"], "'--subj'"),
            (["serve", "--db"], "'--db' needs a value"),
            (["import", "--db", self.db, "--or", "ACME", "x.jsonl"], "'--or'"),
            (["keys", "create", "--db", self.db, "--org", "A", "--rol", "trader"], "'--rol'"),
            (["keys", "list", "--db", self.db, "--org", "A"], "'--org' does not apply"),
            (["risk", "models", "--db", self.db, "--rounds", "3"], "'--rounds' does not apply"),
            (["risk", "train", "--db", self.db, "--round", "3"], "'--round'"),
            (["hs", "search", "--lim", "3", "beef"], "'--lim'"),
            (["keygen", "--ou", os.path.join(self.tmp, "k.key")], "'--ou'"),
            (["ledger", "verify", "--db", self.db, "--thread", "2"], "'--thread'"),
            (["ledger", "show", "--db", self.db, "--key", "k.key", "0"], "'--key' does not apply"),
            # the ledger network's options (issue 16)
            (["serve", "--db", self.db, "--ledger-net", "nats://127.0.0.1:1"], "'--ledger-net'"),
            (["ledger", "submit", "--db", self.db, "--ledger-orig", "x", "-"], "'--ledger-orig'"),
            (["ledger", "verify", "--db", self.db, "--ledger-network", "nats://127.0.0.1:1"],
             "'--ledger-network' does not apply"),
            (["ledger", "network", "status", "--nat", "nats://127.0.0.1:1"], "'--nat'"),
            (["ledger", "snapshot", "--db", self.db, "--ou", "x.db"], "'--ou'"),
            (["track", "simulate", "--out", "-", "--dev", "3"], "'--dev'"),
            (["track", "retention", "--db", self.db, "--track-conf", "x"], "'--track-conf'"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                p = run(*args, check=False, timeout=20)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(needle, p.stderr)
                self.assertIn("Valid options:", p.stderr)
                self.assertEqual(p.stdout, "")
        self.assertFalse(os.path.exists(self.db))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "k.key")))
        # the list is the action's own
        p = run("keys", "list", "--db", self.db, "--name", "x", check=False)
        self.assertIn("Valid options: --db, --json, --help", p.stderr)

    def test_unknown_risk_predictor_is_refused(self):
        """CUSTOMS_RISK_PREDICTOR takes xgboost only: a misspelt value is
        refused by name, not run as the flattened trees it did not ask for."""
        p = run("serve", "--db", self.db, "--listen", "127.0.0.1:0", check=False, timeout=60,
                env={"CUSTOMS_RISK_PREDICTOR": "XGBoost"})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("CUSTOMS_RISK_PREDICTOR: unknown value 'XGBoost'", p.stderr)

    def test_db_is_a_directory(self):
        for args in (["keys", "list", "--db", self.tmp],
                     ["serve", "--db", self.tmp, "--listen", "127.0.0.1:0"]):
            p = run(*args, check=False, timeout=20)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(f"{self.tmp} is a directory", p.stderr)
            self.assertIn(os.path.join(self.tmp, "customs.db"), p.stderr)
        p = run("keys", "list", "--db", os.path.join(self.tmp, "no", "x.db"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("its directory does not exist", p.stderr)

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
