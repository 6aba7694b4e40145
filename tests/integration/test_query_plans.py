"""Hot keys (issue 17), for every module at once: each SQL statement in src/
that takes a value from its caller (a parameter) is explained against a
database migrated by the binary, and must read by an index — no full scan of
a table and no sort of every row a key has (a hot key's 100,000) — unless it
is listed below with the reason its rows are few. A new statement that
scans, or a migration that drops the index a statement needs, fails here.

The statements are the C string literals that start with SELECT, INSERT,
UPDATE, DELETE or WITH, with adjacent literals and simple string macros
("#define COLS \"a, b\"") joined; statements assembled at run time are not
seen, and their routes are tested by behaviour (test_hot_keys)."""
import glob
import os
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import SOURCE, TempDirTestCase, create_key  # noqa: E402

# (file, a piece of the statement): why it may scan or sort
ALLOWED = {
    ("src/bio/audit.c", "SELECT leaf FROM bio_audit WHERE at_us"):
        "one day's records, for that day's digest",
    ("src/bio/bstore.c", "FROM bio_templates WHERE subject=?1 ORDER BY id"):
        "a subject's templates, at most BIO_TEMPLATES_MAX (64)",
    ("src/inspect/guide_http.c", "INSERT INTO inspect_guide_steps"): "one constant row",
    ("src/inspect/guide_http.c", "WITH p(h, o) AS (SELECT value, key FROM json_each(?2)"):
        "an inspection record's photos: at most 64 sent and GUIDE_PHOTOS_MAX (20) per step "
        "of one declaration's guide, read by the steps' key",
    ("src/ledger/checkpoint.c", "FROM ledger_cosignatures WHERE size=?1"):
        "a checkpoint's cosignatures: one per member",
    ("src/ledger/checkpoint.c", "FROM ledger_cosignatures c LEFT JOIN"):
        "a checkpoint's cosignatures: one per member",
    ("src/ledger/coo.c", "FROM ledger_anchor_certs WHERE declaration_id=?1"):
        "the certificates one declaration cites",
    ("src/ledger/coo.c", "FROM ledger_coo_links WHERE declaration_id=?1"):
        "the certificates one declaration cites",
    ("src/ledger/ledger_http.c", "FROM ledger_findings WHERE org=?1 GROUP BY severity"):
        "an organisation counts its own findings (by its index), grouped by severity",
    ("src/ledger/rules.c", "INSERT INTO ledger_meta"): "two constant rows",
    ("src/ledger/snapshot.c", "FROM main.sqlite_master"): "the schema",
    ("src/ledger/snapshot.c", "FROM ledger_checkpoints WHERE ?1 = ?1"):
        "the newest checkpoint: the primary key read backwards, LIMIT 1",
    ("src/revenue/account.c", "FROM revenue_draws WHERE seq=?1"):
        "one declaration's draws on guarantees",
    ("src/risk/risk_http.c", "CROSS JOIN risk_scores s ON s.seq = d.seq WHERE d.status IN"):
        "the open work only (declare's partial index of submitted and held declarations), "
        "sorted into the queue's order",
    ("src/risk/risk_http.c", "WHERE d.received_at >= ?1 GROUP BY 1, 2"):
        "the declarations received since the start of a day (by the received_at index), "
        "grouped by lane and status",
    ("src/risk/train.c", "FROM risk_inspections i JOIN decl_view d ON d.seq = i.seq"):
        "a training set: every inspection's latest result, read by `customs risk train`, "
        "never by a request",
    ("src/risk/model.c", "FROM risk_active a WHERE a.model_id=m.id"):
        "the active models: one per lane model",
    ("src/track/devices.c", "FROM track_consignment_containers k JOIN"):
        "the open consignments of one container",
    ("src/track/positions.c", "FROM track_journal ORDER BY rowid LIMIT"):
        "the journal is a queue read from its head, LIMIT",
    ("src/track/replay.c", "FROM track_journal j WHERE dev = ?1"):
        "the journal holds the few positions not yet moved (counted, then read)",
    ("src/track/retention.c", "DELETE FROM track_positions WHERE dev = ?1"):
        "one device's positions in one retention window",
    ("src/track/retention.c", "DELETE FROM track_dead_letters WHERE seq IN"):
        "dead letters are capped (TRACK_DEAD_AGG_MAX), deleted 10,000 at a time",
    ("src/inspect/training.c", "FROM inspect_training_cases t WHERE NOT EXISTS"):
        "the generated training set, in order, up to the first case the key has not answered",
    ("src/xray/outcomes.c", "FROM xray_scans WHERE received_at >= ?1"):
        "the scans of the metrics window (officers' dashboard)",
    ("src/xray/outcomes.c", "FROM xray_outcomes WHERE at >= ?1"):
        "the outcomes of the metrics window (officers' dashboard)",
}

STRING = r'"(?:[^"\\\n]|\\.)*"'


def string_macros(sources):
    """NAME -> text of every #define whose body is string literals and
    string macros only."""
    bodies = {}
    for text in sources.values():
        for m in re.finditer(r'^#define\s+([A-Z_][A-Z0-9_]*)[ \t]+((?:.*\\\n)*.*)$', text,
                             re.M):
            bodies[m.group(1)] = m.group(2).replace("\\\n", " ").strip()
    out = {}
    while True:  # until no macro made of known pieces is left
        names = "|".join(sorted(out, key=len, reverse=True)) or "(?!)"
        piece = r'(?:%s|\b(?:%s)\b)' % (STRING, names)
        new = {k: "".join(unquote(p) if p.startswith('"') else out[p]
                          for p in re.findall(piece, b))
               for k, b in bodies.items()
               if k not in out and b and re.fullmatch(r'(?:%s\s*)+' % piece, b)}
        if not new:
            return out
        out.update(new)


def unquote(lit):
    return lit[1:-1].replace('\\"', '"').replace("\\n", " ").replace("\\\\", "\\")


def statements(sources, macros):
    """(file, line, sql) of every SQL literal."""
    names = "|".join(sorted(macros, key=len, reverse=True)) or "(?!)"
    piece = r'(?:%s|\b(?:%s)\b)' % (STRING, names)
    for path, text in sources.items():
        text = re.sub(r'/\*.*?\*/', lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
        text = re.sub(r'^#define(?:.*\\\n)*.*$', lambda m: "\n" * m.group(0).count("\n"),
                      text, flags=re.M)
        for m in re.finditer(r'%s(?:\s*%s)*' % (piece, piece), text):
            parts = re.findall(piece, m.group(0))
            sql = "".join(unquote(p) if p.startswith('"') else macros[p] for p in parts)
            if re.match(r'\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b', sql, re.I) and "%" not in sql:
                yield path, text.count("\n", 0, m.start()) + 1, sql


def bad_steps(db, sql):
    """The plan's full scans and sorts, or None when it cannot be explained here."""
    try:
        try:
            plan = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        except sqlite3.ProgrammingError as e:
            n = int(re.search(r"uses (\d+)", str(e)).group(1))
            plan = db.execute("EXPLAIN QUERY PLAN " + sql, [None] * n).fetchall()
    except sqlite3.Error:
        return None
    # SCAN is a walk of a whole table or index (SEARCH reads by a key); a
    # document's json_each and a subquery's rows are not tables
    return [p[3] for p in plan
            if (p[3].startswith("SCAN ") and not re.match(
                r"SCAN (\(subquery|CONSTANT ROW|\d+ CONSTANT ROWS|\w+ VIRTUAL TABLE)", p[3]))
            or ("TEMP B-TREE" in p[3] and "DISTINCT" not in p[3])]


class QueryPlansTest(TempDirTestCase):
    def test_every_keyed_statement_reads_by_an_index(self):
        create_key(self.db, "ACME", "trader")  # every module's migrations
        db = sqlite3.connect(self.db)
        self.addCleanup(db.close)
        sources, headers = {}, {}
        for p in sorted(glob.glob(os.path.join(SOURCE, "src", "*", "*.[ch]"))):
            with open(p, encoding="utf-8") as f:
                (sources if p.endswith(".c") else headers)[os.path.relpath(p, SOURCE)] = f.read()
        # the doors' macros too (DECL_VIEW, DECL_OPEN_WHERE): a statement
        # joining another module's view is explained like any other
        macros = string_macros({**sources, **headers})
        seen, explained, used = 0, 0, set()
        problems = []
        for path, line, sql in statements(sources, macros):
            if "?" not in sql:
                continue  # not keyed by a caller's value
            seen += 1
            bad = bad_steps(db, sql)
            if bad is None:
                continue
            explained += 1
            allowed = [k for k in ALLOWED if k[0] == path and k[1] in sql]
            used.update(allowed)
            if bad and not allowed:
                problems.append(f"{path}:{line}: {bad}: {sql[:160]}")
        self.assertEqual(problems, [], "statements keyed by a caller's value that scan or sort")
        # the net is cast: most keyed statements are seen and explained, and
        # every exception still names a statement that exists
        self.assertGreater(explained, 300, seen)
        self.assertGreater(explained, seen * 0.9, seen)
        self.assertEqual(set(ALLOWED) - used, set(), "exceptions for statements that are gone")

    def test_a_bank_seeks_its_own_payments(self):
        """A bank's page of a declaration's payments, and the check that a
        refund is a bank's, seek (seq, payer_org): other banks' payments on
        the same declaration are not walked (revenue migration 5)."""
        create_key(self.db, "ACME", "trader")
        db = sqlite3.connect(self.db)
        self.addCleanup(db.close)
        for sql in ("SELECT id FROM revenue_payments WHERE seq=?1 AND payer_org=?2 AND id > ?3 "
                    "ORDER BY id LIMIT ?4",
                    "SELECT 1 FROM revenue_payments p WHERE p.seq = ?1 AND p.payer_org = ?2"):
            plan = [p[3] for p in db.execute("EXPLAIN QUERY PLAN " + sql, [1, "B", 0, 9][
                :sql.count("?")])]
            self.assertTrue(any("revenue_payments_payer (seq=? AND payer_org=?" in p
                                for p in plan), plan)
            self.assertEqual(bad_steps(db, sql), [], plan)

    def plans(self, path, keep, headers=()):
        """(sql, plan, bad) of each statement in the source file path
        (macros from it and from headers) for which keep(sql), explained
        against a database every module migrated; bad is its scans and
        sorts (bad_steps)."""
        create_key(self.db, "ACME", "trader")
        db = sqlite3.connect(self.db)
        self.addCleanup(db.close)
        sources = {}
        for name in (path,) + tuple(headers):
            with open(os.path.join(SOURCE, name), encoding="utf-8") as f:
                sources[name] = f.read()
        out = []
        for _, _, sql in statements({path: sources[path]}, string_macros(sources)):
            if keep(sql):
                n = max([int(x) for x in re.findall(r"\?(\d+)", sql)] or [0])
                plan = [p[3] for p in db.execute("EXPLAIN QUERY PLAN " + sql, [None] * n)]
                out.append((sql, plan, bad_steps(db, sql)))
        return out

    def assert_indexes(self, plans, want, count=None):
        """Each of want (a piece of a plan step) is used by one of plans,
        and no plan walks a table or sorts."""
        seen = {w for w in want for _, plan, _ in plans if any(w in p for p in plan)}
        self.assertEqual(seen, set(want), plans)
        self.assertEqual([bad for _, _, bad in plans if bad], [], plans)
        self.assertEqual(len(plans), len(want) if count is None else count, plans)

    def test_one_orgs_risk_queue_seeks_its_rows_in_the_queues_order(self):
        """The risk queue's ?org= statements, read from the source, seek
        (org, order key…) for both orders (risk migration 4): the index walk
        is already in the queue's order, so no other organisation's row is
        read and nothing is sorted."""
        self.assert_indexes(
            self.plans("src/risk/risk_http.c",
                       lambda q: "FROM risk_scores s" in q and "WHERE s.org = ?6" in q,
                       ["src/declare/declare.h"]),
            {"USING INDEX risk_scores_org (org=? AND rank<?)",
             "USING INDEX risk_scores_org_expected (org=? AND (expected,rank)<(?,?))"})

    def test_the_open_queue_reads_only_open_declarations(self):
        """The risk queue's status=open statements, read from the source,
        read declare's partial index of open declarations (declare migration
        8) and look each one's score up: a million decided declarations are
        not walked to find the open work; only that is sorted."""
        queue = self.plans("src/risk/risk_http.c", lambda q: "CROSS JOIN risk_scores s" in q,
                           ["src/declare/declare.h"])
        self.assertEqual(len(queue), 2, queue)
        for _, plan, _ in queue:
            self.assertIn("SEARCH s USING INTEGER PRIMARY KEY (rowid=?)", plan)
            self.assertEqual([p for p in plan if p.startswith("SCAN ")],
                             ["SCAN declarations USING INDEX declarations_open"], plan)

    def test_the_risk_summary_reads_the_days_declarations_only(self):
        """GET /v1/risk/summary (the console's overview, since= the start of
        the day) seeks declarations by arrival time (declare migration 8):
        a year of history is not read to count today's work."""
        summary = self.plans("src/risk/risk_http.c", lambda q: "d.received_at >= ?1 GROUP BY" in q,
                             ["src/declare/declare.h"])
        self.assertEqual(len(summary), 1, summary)
        plan = summary[0][1]
        self.assertTrue(any(p.startswith("SEARCH declarations USING INDEX declarations_received")
                            for p in plan), plan)
        self.assertFalse(any(p.startswith("SCAN declarations") for p in plan), plan)

    def test_a_banks_refunds_are_read_from_its_own_rows(self):
        """A bank's refund list, read from the source, seeks its own rows of
        revenue_refund_payers (payer_org, refund) in id order (revenue
        migration 6), with or without ?status: no other bank's refund is
        walked and nothing is sorted."""
        listing = self.plans("src/revenue/settle.c",
                             lambda q: "FROM revenue_refund_payers b JOIN" in q and "LIMIT" in q,
                             ["src/revenue/revenue_int.h"])
        self.assertEqual(len(listing), 2, listing)
        for _, plan, bad in listing:
            self.assertIn("SEARCH b USING PRIMARY KEY (payer_org=? AND refund>?)", plan)
            self.assertEqual(bad, [], plan)

    def test_findings_are_listed_by_the_index_of_their_filter(self):
        """GET /v1/ledger/findings, read from the source: each filter drives
        its own index in id order (declaration, the reader's org, rule,
        severity: ledger migration 7), so a rare rule among a million
        findings is not a walk of the table by id; the other filters only
        narrow what that index gives."""
        self.assert_indexes(
            self.plans("src/ledger/ledger_http.c",
                       lambda q: "FROM ledger_findings WHERE" in q and "LIMIT ?5" in q),
            {"ledger_findings_decl (declaration_id=? AND rowid>?)",
             "ledger_findings_org (org=? AND id>?)", "ledger_findings_rule (rule=? AND id>?)",
             "ledger_findings_severity (severity=? AND id>?)", "INTEGER PRIMARY KEY (rowid>?)"})

    def test_ledger_entries_are_listed_by_the_index_of_their_filter(self):
        """GET /v1/ledger/entries, read from the source: ?org= seeks
        (org, idx) (ledger migration 7; a small member's entries in a long
        log were found by walking it), ?type= seeks (type, idx), both orders,
        nothing sorted."""
        self.assert_indexes(
            self.plans("src/ledger/ledger_http.c",
                       lambda q: "FROM ledger_entries WHERE" in q and "LIMIT ?4" in q),
            {"ledger_entries_org (org=? AND idx", "ledger_entries_type (type=? AND idx",
             "INTEGER PRIMARY KEY (rowid"}, count=6)

    def test_alert_windows_are_ranges_of_their_subjects_index(self):
        """alert_each's statements, read from the source: for a drone (its
        track's alert points), a device, a consignment or none, both orders
        seek (subject, time) between the window's two ends (alert migration
        3 for drones and devices) and walk it in the index's order. The
        drone's used the (drone, seq) index: every alert the drone ever
        raised was read to find a window's few."""
        each = self.plans("src/alert/alert.c", lambda q: "json_extract(doc, '$.lat')" in q)
        self.assertEqual(len(each), 8, each)
        want = {"WHERE drone = ?6": "alerts_drone_time (drone=? AND time>? AND time<?)",
                "WHERE device = ?2": "alerts_device_time (device=? AND time>? AND time<?)",
                "WHERE consignment = ?1":
                    "alerts_consignment (consignment=? AND time>? AND time<?)",
                "WHERE 1 ": "alerts_time (time>? AND time<?)"}
        seen = []
        for sql, plan, _ in each:
            key = [k for k in want if k in sql]
            self.assertEqual(len(key), 1, sql)
            self.assertEqual(plan, ["SEARCH alerts USING INDEX " + want[key[0]]], sql)
            seen.append((key[0], "DESC" in sql))
        self.assertEqual(sorted(seen), sorted((k, d) for k in want for d in (False, True)))

    def test_a_tenants_devices_are_read_from_its_own_rows(self):
        """GET /v1/devices, read from the source: an organisation's page
        seeks (org, idx), a container's (container, idx), so a tenant with
        ten devices does not walk everyone's million to fill its page."""
        self.assert_indexes(
            self.plans("src/track/devices.c",
                       lambda q: "FROM track_devices d" in q and "LIMIT ?2" in q),
            {"track_devices_org (org=? AND idx>?)",
             "track_devices_container (container=? AND rowid>?)",
             "USING INTEGER PRIMARY KEY (rowid>?)"})

    def test_a_scan_is_caught(self):
        """The check itself: a keyed read of a column with no index fails it."""
        db = sqlite3.connect(":memory:")
        self.addCleanup(db.close)
        db.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c TEXT)")
        db.execute("CREATE INDEX t_b ON t(b)")
        self.assertEqual(bad_steps(db, "SELECT a FROM t WHERE b = ?1"), [])
        self.assertTrue(bad_steps(db, "SELECT a FROM t WHERE c = ?1"))
        self.assertTrue(bad_steps(db, "SELECT a FROM t WHERE b = ?1 ORDER BY c LIMIT 5"))
        self.assertTrue(bad_steps(db, "SELECT a FROM t WHERE ?1 IS NULL OR b = ?1"))
        got = list(statements({"x.c": '#define COLS "a, b"\n'
                                      'st = f(c, "SELECT " COLS " FROM t "\n'
                                      '          "WHERE b = ?1");\n'},
                              string_macros({"x.c": '#define COLS "a, b"\n'})))
        self.assertEqual(got, [("x.c", 2, "SELECT a, b FROM t WHERE b = ?1")])
        # a macro's continued lines are the macro's, not a statement of their own
        text = '#define Q \\\n    "SELECT a FROM t " \\\n    "WHERE "\nst = f(c, Q "b = ?1");\n'
        got = list(statements({"x.c": text}, string_macros({"x.c": text})))
        self.assertEqual(got, [("x.c", 4, "SELECT a FROM t WHERE b = ?1")])


if __name__ == "__main__":
    unittest.main()
