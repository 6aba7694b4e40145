"""customs import: JSONL and CSV, validated exactly as over HTTP."""
import csv
import io
import json
import os
import sqlite3
import unittest

from harness import TempDirTestCase, create_key, declaration, run

CSV_HEADER = ["reference", "type", "date", "office", "declarant_id", "importer_id",
              "exporter_id", "seller_id", "courier_id", "country_of_departure", "transport_mode",
              "process_type", "import_type", "import_use", "payment_type", "containers",
              "transport_document_type", "transport_document_number", "hs_code", "description",
              "country_of_origin", "origin_indicator", "quantity", "unit", "net_mass_kg",
              "gross_mass_kg", "value", "currency", "tax_rate", "tax_type"]


def to_csv_rows(d):
    """The flat CSV form of a declaration: one row per item."""
    rows = []
    for i, it in enumerate(d["items"]):
        head = i == 0
        row = {
            "reference": d["reference"],
            "type": d["type"] if head else "", "date": d["date"] if head else "",
            "office": d["office"] if head else "", "declarant_id": d["declarant_id"] if head else "",
            "importer_id": d.get("importer_id", "") if head else "",
            "seller_id": d.get("seller_id", "") if head else "",
            "country_of_departure": d.get("country_of_departure", "") if head else "",
            "transport_mode": d.get("transport_mode", "") if head else "",
            "containers": " ".join(d.get("containers", [])) if head else "",
            "transport_document_type": d.get("transport_document", {}).get("type", "") if head else "",
            "transport_document_number": d.get("transport_document", {}).get("number", "") if head else "",
        }
        for k in ("process_type", "import_type", "import_use", "payment_type"):
            row[k] = d.get("procedure", {}).get(k, "") if head else ""
        for k in ("hs_code", "description", "country_of_origin", "origin_indicator", "quantity",
                  "unit", "net_mass_kg", "gross_mass_kg", "value", "currency", "tax_rate",
                  "tax_type"):
            row[k] = "" if k not in it else str(it[k])
        rows.append(row)
    return rows


class ImportTest(TempDirTestCase):
    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def write_csv(self, name, decls, header=CSV_HEADER):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for d in decls:
            for row in to_csv_rows(d):
                w.writerow({k: v for k, v in row.items() if k in header})
        return self.write(name, buf.getvalue())

    def stored(self):
        con = sqlite3.connect(self.db)
        try:
            return [json.loads(r[0]) for r in
                    con.execute("SELECT doc FROM declarations ORDER BY seq")]
        finally:
            con.close()

    def test_jsonl_import_and_rejects_match_http(self):
        good = [declaration(f"J-{i}", items=1 + i % 4) for i in range(50)]
        bad = declaration("J-BAD", items=2)
        bad["items"][1]["currency"] = "EURO"
        bad["date"] = "2023-02-30"
        lines = [json.dumps(d) for d in good[:20]] + ["", json.dumps(bad), "{not json"] + \
                [json.dumps(d) for d in good[20:]]
        path = self.write("decls.jsonl", "\n".join(lines) + "\n")
        rej = os.path.join(self.tmp, "rejects.jsonl")
        p = run("import", "--db", self.db, "--org", "ACME", "--rejects", rej, path, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "imported 50, rejected 2\n")
        self.assertIn(f"{path}:22: rejected J-BAD", p.stderr)
        self.assertIn(f"{path}:23: rejected", p.stderr)
        with open(rej) as f:
            rejects = [json.loads(x) for x in f]
        self.assertEqual(sorted(r["line"] for r in rejects), [22, 23])
        by_line = {r["line"]: r for r in rejects}
        self.assertEqual(by_line[23]["error"]["code"], "invalid_json")
        # the same declaration over HTTP gets the very same details
        token = create_key(self.db, "ACME", "trader")
        srv = self.serve()
        r = srv.post("/v1/declarations", bad, token=token)
        self.assertEqual(r.status, 400)
        self.assertEqual(by_line[22]["error"]["code"], r.json["error"]["code"])
        self.assertEqual(by_line[22]["error"]["details"], r.json["error"]["details"])
        # imported declarations belong to the org and read back over HTTP as sent
        items = srv.get("/v1/declarations?limit=1000", token=token).json["items"]
        self.assertEqual([x["reference"] for x in items], [d["reference"] for d in good])
        for sent, got in zip(good, items):
            self.assertEqual({k: got[k] for k in sent}, sent)
            self.assertEqual(got["org"], "ACME")

    def test_hs_check_finishes_in_the_import(self):
        """The HS description check runs in the import itself: nothing is left
        queued (and skipped) when it ends."""
        decls = [declaration(f"H-{i}") for i in range(30)]
        for d in decls[::3]:  # described as beef, declared as ceramic tiles (chapter 69)
            d["items"][0]["description"] = "frozen boneless beef"
        path = self.write("h.jsonl", "\n".join(json.dumps(d) for d in decls) + "\n")
        p = run("import", "--db", self.db, "--org", "ACME", path)
        self.assertEqual(p.stdout, "imported 30, rejected 0\n")
        self.assertNotIn("skipped", p.stderr)
        token = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        items = srv.get("/v1/declarations?limit=100", token=token).json["items"]
        self.assertEqual(len(items), 30)
        for d in items:
            risk = d["risk"]
            mism = [r for r in risk["reasons"] if r["feature"] == "hs_mismatch"]
            beef = d["items"][0]["description"] == "frozen boneless beef"
            self.assertEqual(len(mism), 1 if beef else 0, (d["reference"], risk))
            if beef:
                self.assertIn("HS 020230", mism[0]["detail"])
                self.assertIn(risk["lane"], ("yellow", "red"))

    def test_reimport_reports_duplicates_and_changes_nothing(self):
        path = self.write("d.jsonl", "\n".join(json.dumps(declaration(f"D-{i}")) for i in range(5)))
        run("import", "--db", self.db, "--org", "ACME", path)
        before = self.stored()
        p = run("import", "--db", self.db, "--org", "ACME", path, check=False)
        self.assertEqual(p.stdout, "imported 0, rejected 5\n")
        self.assertIn("rejected D-0 (a declaration with this reference exists)", p.stderr)
        self.assertIn("/reference already used by this organisation", p.stderr)
        self.assertEqual(self.stored(), before)
        # another org may use the same references
        p = run("import", "--db", self.db, "--org", "OTHER", path)
        self.assertEqual(p.stdout, "imported 5, rejected 0\n")

    def test_csv_import_groups_rows_by_reference(self):
        decls = [declaration(f"C-{i}", items=1 + i % 5) for i in range(30)]
        decls[3]["items"][0]["description"] = 'Tiles, "glazed", 30x30'
        path = self.write_csv("decls.csv", decls)
        p = run("import", "--db", self.db, "--org", "ACME", path)
        self.assertEqual(p.stdout, "imported 30, rejected 0\n")
        got = self.stored()
        self.assertEqual(len(got), 30)
        for sent, g in zip(decls, got):
            for k in sent:
                self.assertEqual(g[k], sent[k], (sent["reference"], k))

    def test_csv_rejects_name_the_item_line(self):
        d1 = declaration("OK-1", items=2)
        d2 = declaration("BAD-2", items=3)
        d2["items"][2]["hs_code"] = "12"
        path = self.write_csv("b.csv", [d1, d2])
        rej = os.path.join(self.tmp, "rej.jsonl")
        p = run("import", "--db", self.db, "--org", "ACME", "--rejects", rej, path, check=False)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stdout, "imported 1, rejected 1\n")
        with open(rej) as f:
            r = json.loads(f.read())
        self.assertEqual(r["line"], 4)  # header, 2 rows of OK-1, then BAD-2
        self.assertEqual(r["reference"], "BAD-2")
        det = r["error"]["details"]
        self.assertEqual([(x["path"], x["line"]) for x in det], [("/items/2/hs_code", 6)])

    def test_csv_minimal_columns_and_bad_header(self):
        path = self.write("m.csv", "reference,type,date,office,declarant_id,hs_code,"
                          "country_of_origin,net_mass_kg,value,currency\n"
                          "E-1,export,2020-05-01,KRPUS,D1,010121,FR,450,125000,EUR\n")
        self.assertEqual(run("import", "--db", self.db, "--org", "A", path).stdout,
                         "imported 1, rejected 0\n")
        self.assertEqual(self.stored()[0]["items"][0]["hs_code"], "010121")
        self.assertEqual(self.stored()[0]["items"][0]["value"], 125000)
        bad = self.write("h.csv", "reference,colour\nX,red\n")
        p = run("import", "--db", self.db, "--org", "A", bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('unknown column "colour"', p.stderr)
        missing = self.write("h2.csv", "reference,type\nX,import\n")
        p = run("import", "--db", self.db, "--org", "A", missing, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("required column", p.stderr)
        broken = self.write("q.csv", 'reference,type,date,office,declarant_id,hs_code,'
                            'country_of_origin,net_mass_kg,value,currency\n"E-2,export\n')
        p = run("import", "--db", self.db, "--org", "A", broken, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line", p.stderr)

    def test_dry_run_writes_nothing(self):
        path = self.write("d.jsonl", json.dumps(declaration("DRY")) + "\n{}\n")
        p = run("import", "--db", self.db, "--org", "ACME", "--dry-run", path, check=False)
        self.assertEqual(p.stdout, "imported 1, rejected 1\n")
        self.assertFalse(os.path.exists(self.db))

    def test_errors(self):
        p = run("import", "--db", self.db, "--org", "ACME", "/nonexistent.jsonl", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent.jsonl", p.stderr)
        p = run("import", "--db", self.db, "--org", "ACME", self.write("x.txt", "{}"),
                check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--format", p.stderr)
        long_line = self.write("long.jsonl", "{" + " " * (2 << 20) + "}\n" +
                               json.dumps(declaration("AFTER-LONG")) + "\n")
        p = run("import", "--db", self.db, "--org", "ACME", long_line, check=False)
        self.assertEqual(p.stdout, "imported 1, rejected 1\n")
        self.assertIn("1 MiB", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
