"""Revenue (issue 15) after the fact, through the real binary: refunds paid
out (idempotent by reference, never twice) and guarantees amended or
cancelled (refused while drawn), with roles and isolation."""
import calendar
import json
import re
import time
import sqlite3
import unittest
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from revenue_fixture import (LINE_690722, TOTAL, RevenueCase,
                             tearDownModule)  # noqa: F401 (unittest calls tearDownModule)

PAID_AT = "2024-03-05T10:00:00+09:00"  # a payment's date (before any refund of this run)


def payout_at():
    """A payout's paid_at: after the refunds a test has made (due now), and
    not in the future as the server sees it (it allows 5 minutes)."""
    return (datetime.now(timezone(timedelta(hours=9))) + timedelta(seconds=60)).isoformat(
        timespec="seconds")


class RefundPayoutTest(RevenueCase):
    def refund(self):
        """A declaration paid in full, then re-assessed downwards: a refund due."""
        d, r = self.paid_then_lowered("R-PO", TOTAL, "FULL", 6, 10)
        return d, r["balance"]["refunded"]

    def test_payout_once_idempotent_by_reference(self):
        d, amount = self.refund()
        # the bank finds it among the refunds due
        r = self.srv.get("/v1/refunds?status=due", self.bank)
        self.assertEqual(r.status, 200, r)
        (f,) = [x for x in r.json["items"] if x["declaration"] == d["id"]]
        self.assertEqual((f["amount"], f["currency"], f["status"], f["payout"]),
                         (amount, "KRW", "due", None))
        body = {"reference": "RF-2024-0001", "paid_at": payout_at()}
        r = self.srv.post(f"/v1/refunds/{f['id']}/payout", body, self.bank)
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["repeated"])
        self.assertEqual(r.json["refund"]["status"], "paid")
        self.assertEqual(r.json["refund"]["payout"]["reference"], "RF-2024-0001")
        self.assertEqual(r.json["refund"]["payout"]["by"], "HANSEONG-BANK")
        # the same payout again (a retry): the first one, nothing new
        r = self.srv.post(f"/v1/refunds/{f['id']}/payout", body, self.bank)
        self.assertEqual((r.status, r.json["repeated"]), (200, True), r)
        # paid out a second time under another reference: refused
        r = self.srv.post(f"/v1/refunds/{f['id']}/payout",
                          {"reference": "RF-OTHER", "paid_at": payout_at()}, self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "refund_paid"), r)
        self.assertIn("already paid out by HANSEONG-BANK", r.json["error"]["message"])
        # the declaration's account shows it paid out; the balance is unchanged
        a = self.srv.get(f"/v1/declarations/{d['id']}/assessment", self.trader).json
        self.assertEqual(a["refunds"][0]["status"], "paid")
        self.assertEqual(a["refunds"][0]["payout"]["paid_at"], body["paid_at"])
        self.assertEqual(a["balance"]["refunded"], amount)
        self.assertEqual(self.srv.get("/v1/refunds?status=due", self.officer).json["items"], [])
        self.assertEqual(len(self.srv.get("/v1/refunds?status=paid", self.officer)
                             .json["items"]), 1)

    def test_payout_refusals(self):
        d, _ = self.refund()
        f = self.srv.get("/v1/refunds", self.officer).json["items"][0]
        url = f"/v1/refunds/{f['id']}/payout"
        good = {"reference": "RF-1", "paid_at": payout_at()}
        # traders neither list nor pay out refunds
        self.assertEqual(self.srv.post(url, good, self.trader).status, 403)
        self.assertEqual(self.srv.get("/v1/refunds", self.trader).status, 403)
        # unknown refunds are 404; bad bodies name the field and change nothing
        self.assertEqual(self.srv.post("/v1/refunds/999999/payout", good, self.bank).status, 404)
        self.assertEqual(self.srv.post("/v1/refunds/x1/payout", good, self.bank).status, 404)
        r = self.srv.post(url, {"reference": "bad ref!", "paid_at": "2999-01-01T00:00:00Z",
                                "amount": 1}, self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_payout"), r)
        self.assertEqual(sorted(p["path"] for p in r.json["error"]["details"]),
                         ["/amount", "/paid_at", "/reference"])
        r = self.srv.get("/v1/refunds?status=open", self.officer)
        self.assertEqual(r.status, 400)
        self.assertEqual(self.srv.get("/v1/refunds?status=due", self.officer)
                         .json["items"][0]["status"], "due")
        # a payer's reference names one payout: reused for another refund it is refused
        self.assertEqual(self.srv.post(url, good, self.bank).status, 200)
        d2, _ = self.refund_again()
        f2 = self.srv.get("/v1/refunds?status=due", self.officer).json["items"][0]
        self.assertEqual(f2["declaration"], d2["id"])
        r = self.srv.post(f"/v1/refunds/{f2['id']}/payout", good, self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "reference_conflict"), r)

    def test_banks_see_and_pay_out_only_refunds_they_paid_on(self):
        """Two traders, two banks: each bank paid one declaration, both
        re-assessed downwards. A bank lists and pays out only the refund of
        the declaration it paid on; the other one is not found (review R1)."""
        d1 = self.submit("R-B1")
        d2 = self.submit("R-B2", self.other)
        self.assertEqual(self.pay(d1["id"], TOTAL, "KRW", "B1-PAY").status, 201)
        self.assertEqual(self.pay(d2["id"], TOTAL, "KRW", "B2-PAY", token=self.bank2).status,
                         201)
        self.reassess(d1["id"], LINE_690722.format(duty=6, vat=10), "rate corrected")
        self.assertEqual(self.srv.post(f"/v1/declarations/{d2['id']}/assessment",
                                       {"reason": "rate corrected"}, self.officer).status, 200)
        every = {x["declaration"]: x for x in self.srv.get("/v1/refunds", self.officer)
                 .json["items"]}
        self.assertEqual(set(every), {d1["id"], d2["id"]})
        f1, f2 = every[d1["id"]], every[d2["id"]]
        for token, mine in ((self.bank, f1), (self.bank2, f2)):
            for q in ("", "?status=due"):
                r = self.srv.get("/v1/refunds" + q, token)
                self.assertEqual(r.status, 200, r)
                self.assertEqual([x["id"] for x in r.json["items"]], [mine["id"]])
        # the other bank's refund: not found, and nothing changes
        url2 = f"/v1/refunds/{f2['id']}/payout"
        r = self.srv.post(url2, {"reference": "B1-RF", "paid_at": payout_at()}, self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "not_found"), r)
        self.assertEqual(self.srv.get("/v1/refunds?status=due", self.officer).json["items"],
                         [f1, f2])
        # its own bank pays it out; the first bank sees nothing of it
        r = self.srv.post(url2, {"reference": "B2-RF", "paid_at": payout_at()}, self.bank2)
        self.assertEqual((r.status, r.json["refund"]["payout"]["by"]), (200, "DAEHAN-BANK"), r)
        self.assertEqual(self.srv.get("/v1/refunds?status=paid", self.bank).json["items"], [])
        self.assertEqual([x["id"] for x in self.srv.get("/v1/refunds?status=paid", self.bank2)
                          .json["items"]], [f2["id"]])
        # the officer, as before, may pay out any refund
        r = self.srv.post(f"/v1/refunds/{f1['id']}/payout",
                          {"reference": "KCS-RF", "paid_at": payout_at()}, self.officer)
        self.assertEqual((r.status, r.json["refund"]["payout"]["by"]), (200, "KCS"), r)

    def test_a_refund_of_two_banks_payments_is_listed_by_both(self):
        """Two banks paid parts of one declaration: the refund of its
        re-assessment is in both banks' lists (kept per bank in
        revenue_refund_payers, revenue migration 6), either may pay it out,
        once; a declaration neither paid on stays out of their lists."""
        d = self.submit("R-SHARED")
        self.assertEqual(self.pay(d["id"], TOTAL - 1000, "KRW", "SH-1").status, 201)
        self.assertEqual(self.pay(d["id"], 1000, "KRW", "SH-2", token=self.bank2).status, 201)
        other = self.submit("R-NOBANK")
        self.assertEqual(self.pay(other["id"], TOTAL, "KRW", "KCS-PAY", token=self.officer)
                         .status, 201)
        self.reassess(d["id"], LINE_690722.format(duty=6, vat=10), "rate corrected")
        self.assertEqual(self.srv.post(f"/v1/declarations/{other['id']}/assessment",
                                       {"reason": "rate corrected"}, self.officer).status, 200)
        every = {x["declaration"]: x["id"] for x in self.srv.get("/v1/refunds", self.officer)
                 .json["items"]}
        self.assertEqual(set(every), {d["id"], other["id"]})
        for token in (self.bank, self.bank2):
            for q in ("", "?status=due", "?limit=1"):
                r = self.srv.get("/v1/refunds" + q, token)
                self.assertEqual([x["id"] for x in r.json["items"]], [every[d["id"]]], q)
                self.assertIsNone(r.json["next_cursor"], q)
        url = f"/v1/refunds/{every[d['id']]}/payout"
        r = self.srv.post(url, {"reference": "SH-RF", "paid_at": payout_at()}, self.bank2)
        self.assertEqual((r.status, r.json["refund"]["payout"]["by"]), (200, "DAEHAN-BANK"), r)
        r = self.srv.post(url, {"reference": "SH-RF2", "paid_at": payout_at()}, self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "refund_paid"), r)
        self.assertEqual(self.srv.get("/v1/refunds?status=due", self.bank).json["items"], [])
        r = self.srv.post(f"/v1/refunds/{every[other['id']]}/payout",
                          {"reference": "NB-RF", "paid_at": payout_at()}, self.bank)
        self.assertEqual(r.status, 404, r)

    def test_payout_not_before_the_refund(self):
        """A refund cannot be paid out before it was due (review R2)."""
        self.refund()
        f = self.srv.get("/v1/refunds", self.officer).json["items"][0]
        url = f"/v1/refunds/{f['id']}/payout"
        r = self.srv.post(url, {"reference": "RF-EARLY", "paid_at": "1990-01-01T00:00:00Z"},
                          self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_payout"), r)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/paid_at")
        self.assertIn(f["at"], r.json["error"]["details"][0]["message"])
        self.assertEqual(self.srv.get("/v1/refunds?status=due", self.officer).json["items"], [f])
        # the second before the refund's is earlier; the refund's own second
        # (as the console and banks write times, without a fraction) is not
        whole = re.sub(r"\.\d+", "", f["at"])
        self.assertNotEqual(whole, f["at"])
        second_before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
            calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%SZ")) - 1))
        r = self.srv.post(url, {"reference": "RF-EARLY", "paid_at": second_before}, self.bank)
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_payout"), r)
        r = self.srv.post(url, {"reference": "RF-ON-TIME", "paid_at": whole}, self.bank)
        self.assertEqual((r.status, r.json["refund"]["payout"]["paid_at"]), (200, whole), r)

    def refund_again(self):
        d, r = self.paid_then_lowered("R-PO2", 5000000, "SECOND", 0, 0)
        return d, r["balance"]["refunded"]


class GuaranteeChangeTest(RevenueCase):
    def guarantee(self, ref="GUA-A", amount=10000000, trader="ACME"):
        r = self.srv.post("/v1/guarantees", {"trader": trader, "amount": amount,
                                              "currency": "KRW", "valid_until": "2099-12-31",
                                              "reference": ref}, self.officer)
        self.assertEqual(r.status, 201, r)
        return r.json

    def test_amend_and_cancel(self):
        g = self.guarantee()
        url = f"/v1/guarantees/{g['id']}"
        r = self.srv.post(url + "/amend", {"amount": 7000000, "valid_until": "2098-06-30",
                                           "reason": "bank lowered the bond"}, self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["amount"], r.json["available"], r.json["valid_until"]),
                         (7000000, 7000000, "2098-06-30"))
        self.assertFalse(r.json["changes_truncated"])
        ch = r.json["changes"][0]
        self.assertEqual((ch["kind"], ch["before"]["amount"], ch["after"]["amount"], ch["by"]),
                         ("amend", 10000000, 7000000, "KCS"))
        # bad changes name the field and change nothing
        for body, path in (({}, ""), ({"amount": -5}, "/amount"),
                           ({"valid_until": "2001-01-01"}, "/valid_until"),
                           ({"currency": "USD", "amount": 5}, "/currency")):
            r = self.srv.post(url + "/amend", body, self.officer)
            self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_guarantee"), r)
            self.assertIn(path, [p["path"] for p in r.json["error"]["details"]])
        self.assertEqual(self.srv.get(url, self.officer).json["amount"], 7000000)
        # cancelled, twice (the second is the first), then it cannot be amended
        r = self.srv.post(url + "/cancel", {"reason": "replaced"}, self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "cancelled")
        self.assertIsNotNone(r.json["cancelled_at"])
        r2 = self.srv.post(url + "/cancel", {}, self.officer)
        self.assertEqual((r2.status, r2.json["cancelled_at"]), (200, r.json["cancelled_at"]))
        self.assertEqual(len(r2.json["changes"]), 2)
        r = self.srv.post(url + "/amend", {"amount": 1}, self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "guarantee_cancelled"), r)
        # a cancelled guarantee no longer stands in for payment
        d = self.submit("R-GC")
        r = self.release(d["id"])
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "payment_required"), r)

    def test_changes_keep_the_newest_with_a_flag(self):
        """1,000 older changes written beside the server, then an amendment
        through it: the reply and the guarantee show the newest 1,000 changes,
        oldest first, and say that older ones were left out (review R3)."""
        g = self.guarantee(ref="GUA-MANY")
        url = f"/v1/guarantees/{g['id']}"
        terms = json.dumps({"amount": 10000000, "amount_national": 10000000,
                            "valid_until": "2099-12-31", "status": "active"})
        with sqlite3.connect(self.db, timeout=30) as db:
            db.executemany("INSERT INTO revenue_guarantee_changes(guarantee, kind, before, "
                           "after, reason, by_org, at) VALUES(?, 'amend', ?, ?, ?, 'KCS', "
                           "'2025-01-01T00:00:00.000Z')",
                           [(g["id"], terms, terms, f"old-{i}") for i in range(1000)])
        db.close()
        self.assertFalse(self.srv.get(url, self.officer).json["changes_truncated"])
        r = self.srv.post(url + "/amend", {"amount": 9000000, "reason": "newest"}, self.officer)
        self.assertEqual(r.status, 200, r)
        for doc in (r.json, self.srv.get(url, self.officer).json):
            reasons = [c["reason"] for c in doc["changes"]]
            self.assertEqual(len(reasons), 1000)
            self.assertEqual((reasons[0], reasons[-2], reasons[-1]), ("old-1", "old-999", "newest"))
            self.assertTrue(doc["changes_truncated"])

    def test_drawn_guarantee_cannot_be_cancelled_or_cut_below_its_draws(self):
        g = self.guarantee(ref="GUA-D")
        url = f"/v1/guarantees/{g['id']}"
        d = self.submit("R-GD")
        self.assertEqual(self.release(d["id"]).status, 200)  # drawn for TOTAL
        r = self.srv.post(url + "/cancel", {}, self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "guarantee_drawn"), r)
        self.assertIn("5,906,887", r.json["error"]["message"])
        r = self.srv.post(url + "/amend", {"amount": 1000000}, self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "guarantee_drawn"), r)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/amount")
        self.assertEqual(self.srv.get(url, self.officer).json["status"], "active")
        # once the declaration is paid the draw is given back: it can go
        self.assertEqual(self.pay(d["id"], TOTAL, "KRW", "LATE").status, 201)
        r = self.srv.post(url + "/cancel", {}, self.officer)
        self.assertEqual((r.status, r.json["status"]), (200, "cancelled"), r)

    def test_roles_and_isolation(self):
        g = self.guarantee(ref="GUA-H", trader="HANBIT")
        url = f"/v1/guarantees/{g['id']}"
        # only officers and admins change guarantees; the holder reads its own
        for token in (self.trader, self.other, self.bank):
            self.assertEqual(self.srv.post(url + "/cancel", {}, token).status, 403)
            self.assertEqual(self.srv.post(url + "/amend", {"amount": 1}, token).status, 403)
        self.assertEqual(self.srv.get(url, self.other).json["status"], "active")
        # another trader's guarantee is not found, not forbidden
        self.assertEqual(self.srv.get(url, self.trader).status, 404)
        self.assertEqual(self.srv.post("/v1/guarantees/NOPE/cancel", {}, self.officer).status,
                         404)


class PaymentPagesTest(RevenueCase):
    def test_more_than_a_thousand_payments_are_paged(self):
        """1,001 payments of one bank and 2 of the officer on one declaration:
        every role reads them all, page by page, with sealed cursors."""
        d = self.submit("R-PAGES")
        url = f"/v1/declarations/{d['id']}/payments"

        def pay_many(refs, token):
            conn = self.srv.connection()  # one kept-alive connection per thread
            try:
                return [self.srv.post(url, {"amount": 1, "currency": "KRW", "reference": ref,
                                            "paid_at": PAID_AT}, token, conn=conn).status
                        for ref in refs]
            finally:
                conn.close()

        refs = [f"P-{i:04d}" for i in range(1001)]
        with ThreadPoolExecutor(8) as ex:  # concurrent: the writer commits them in groups
            statuses = sum(ex.map(lambda k: pay_many(refs[k::8], self.bank), range(8)), [])
        self.assertEqual(statuses, [201] * 1001)
        self.assertEqual(pay_many(["K-1", "K-2"], self.officer), [201, 201])

        def read_all(token, limit=None):
            pages, cursor = [], None
            while True:
                q = [f"limit={limit}"] if limit else []
                if cursor:
                    q.append("cursor=" + cursor)
                r = self.srv.get(url + ("?" + "&".join(q) if q else ""), token)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["balance"]["paid"], 1003)  # every page, all payments
                pages.append(r.json["items"])
                cursor = r.json["next_cursor"]
                if cursor is None:
                    return pages
                # sealed (an encrypted position, base64url), not the id: a
                # digit string may occur in one by chance, so the shape is checked
                self.assertNotEqual(cursor, str(pages[-1][-1]["id"]))
                self.assertRegex(cursor, r"^[A-Za-z0-9_-]{40,}$")

        pages = read_all(self.officer)
        self.assertEqual([len(p) for p in pages], [1000, 3])
        ids = [x["id"] for p in pages for x in p]
        self.assertEqual(ids, sorted(set(ids)))  # oldest first, none twice
        self.assertEqual(sorted(x["reference"] for p in pages for x in p),
                         sorted(refs + ["K-1", "K-2"]))
        self.assertEqual(sum(len(p) for p in read_all(self.trader, 400)), 1003)
        # a bank pages through its own payments only
        pages = read_all(self.bank, 500)
        self.assertEqual([len(p) for p in pages], [500, 500, 1])
        self.assertEqual({x["payer"] for p in pages for x in p}, {"HANSEONG-BANK"})
        self.assertEqual(sorted(x["reference"] for p in pages for x in p), refs)
        # paging parameters are checked; other declarations are not found
        for q, path in (("limit=0", "/limit"), ("limit=1001", "/limit"),
                        ("cursor=1000", "/cursor"), ("page=2", "/page")):
            r = self.srv.get(f"{url}?{q}", self.officer)
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.json["error"]["details"][0]["path"], path)
        self.assertEqual(self.srv.get(url, self.other).status, 404)


if __name__ == "__main__":
    unittest.main()
