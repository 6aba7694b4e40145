"""What the revenue integration tests share (test_revenue_flow,
test_revenue_settle): the demo tariff and rates in a template database with
the keys, built once per process and copied for each test; a server on it;
and the steps every revenue story starts with — lodge, pay, release,
replace a tariff line and re-assess."""
import os
import shutil
import tempfile

from harness import SOURCE, TempDirTestCase, create_key, declaration, run

DEMO = os.path.join(SOURCE, "data", "revenue", "demo")

# 18,250.75 USD at 1,331.90 (2024-03-01) = 24,308,173.925 -> 24,308,174 KRW;
# 690722 until 2025: 13 % duty, 10 % VAT on value + duty.
CV, DUTY, VAT = 24308174, 3160063, 2746824
TOTAL = DUTY + VAT

# the demo's 690722 line (13 %) replaced, same start: duty then VAT
LINE_690722 = ("hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,vat_pct\n"
               "690722,2020-01-01,2025-12-31,ad_valorem,{duty},{vat}\n")


def load_demo(db):
    run("tariff", "groups", "--db", db, os.path.join(DEMO, "groups.csv"))
    run("tariff", "import", "--db", db, os.path.join(DEMO, "tariff.csv"))
    run("tariff", "preferences", "--db", db, os.path.join(DEMO, "preferences.csv"))
    run("rates", "import", "--db", db, os.path.join(DEMO, "rates.csv"))


class RevenueCase(TempDirTestCase):
    template = None  # a database with the demo tariff and the keys, built once

    @classmethod
    def setUpClass(cls):
        if RevenueCase.template:
            return
        d = tempfile.mkdtemp(prefix="customs-revenue-")
        db = os.path.join(d, "template.db")
        load_demo(db)
        keys = {name: create_key(db, org, role) for name, org, role in (
            ("trader", "ACME", "trader"), ("other", "HANBIT", "trader"),
            ("officer", "KCS", "officer"), ("bank", "HANSEONG-BANK", "bank"),
            ("bank2", "DAEHAN-BANK", "bank"))}
        RevenueCase.template = (d, db, keys)

    def setUp(self):
        super().setUp()
        _, db, keys = RevenueCase.template
        shutil.copy(db, self.db)  # closed cleanly: no WAL left beside it
        for name, token in keys.items():
            setattr(self, name, token)
        # no random red lanes: the release gate of risk is not under test here
        self.srv = self.serve("--currency", "KRW", "--inspect-rate", "0", "--explore-rate", "0",
                              "--quiet")

    def submit(self, ref, token=None, **over):
        r = self.srv.post("/v1/declarations", declaration(ref, **over), token or self.trader)
        self.assertEqual(r.status, 201, r)
        return r.json

    def release(self, decl_id):
        return self.srv.post(f"/v1/declarations/{decl_id}/decision", {"decision": "release"},
                             self.officer)

    def pay(self, decl_id, amount, currency, reference, paid_at="2024-03-01T10:00:00+09:00",
            token=None):
        return self.srv.post(f"/v1/declarations/{decl_id}/payments",
                             {"amount": amount, "currency": currency, "reference": reference,
                              "paid_at": paid_at}, token or self.bank)

    def reassess(self, decl_id, tariff_csv, reason):
        """Imports tariff_csv (the text of a tariff file) into the server's
        database, then has the officer re-assess decl_id: the 200 reply."""
        path = os.path.join(self.tmp, f"tariff-{len(os.listdir(self.tmp))}.csv")
        with open(path, "w") as f:
            f.write(tariff_csv)
        run("tariff", "import", "--db", self.db, path)
        r = self.srv.post(f"/v1/declarations/{decl_id}/assessment", {"reason": reason},
                          self.officer)
        self.assertEqual(r.status, 200, r)
        return r.json

    def paid_then_lowered(self, ref, amount, pay_ref, duty_pct, vat_pct, trader=None,
                          bank=None):
        """A declaration of trader paid `amount` by bank, then re-assessed with
        690722 at duty_pct/vat_pct: (the declaration, the re-assessment's reply)."""
        d = self.submit(ref, trader)
        self.assertEqual(self.pay(d["id"], amount, "KRW", pay_ref, token=bank).status, 201)
        return d, self.reassess(d["id"], LINE_690722.format(duty=duty_pct, vat=vat_pct),
                                "rate corrected")


def tearDownModule():
    """The template database goes with the test module that built it."""
    if RevenueCase.template:
        shutil.rmtree(RevenueCase.template[0], ignore_errors=True)
        RevenueCase.template = None
