"""Inspection assistance (issue 13) through the real server: the guide from
each source (risk, tracking, checklist; the ledger's and the scan's rules
are in test_inspect.c), step progress and photos, and live remote-expert
sessions between two clients (frames, annotations, chat, order, reconnect,
close, replay, retention, authorisation)."""
import base64
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (TempDirTestCase, create_key, damage_table, declaration, key_id, run,  # noqa: E402
                     wait_for)
from trackkit import SSE, now_ms, setup_world  # noqa: E402

# no random selection: lanes come from the rules only
LANES = ("--inspect-rate", "0", "--explore-rate", "0")
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "data", "frame-640x480.jpg"), "rb") as f:
    JPEG = f.read()


def tobacco(ref):
    """Declared as cigars (chapter 24), described as beef: the HS check
    sends it yellow with an hs_mismatch reason."""
    item = {"hs_code": "240210", "description": "Frozen boneless beef cuts",
            "country_of_origin": "CN", "net_mass_kg": 1000, "gross_mass_kg": 1100,
            "value": 500, "currency": "USD"}
    return dict(declaration(ref), items=[item])


def raw(srv, method, path, token, body=None, ctype=None):
    c = srv.connection()
    h = {"Authorization": "Bearer " + token}
    if ctype:
        h["Content-Type"] = ctype
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


class InspectTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "KCS", "officer")
        self.expert = create_key(self.db, "KCS", "officer")
        self.trader = create_key(self.db, "ACME", "trader")
        self.srv = self.serve(*LANES)

    def submit(self, doc):
        r = self.srv.post("/v1/declarations", doc, token=self.trader)
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]
        wait_for(lambda: self.srv.get("/v1/declarations/" + did, token=self.officer)
                 .json["risk"]["lane"] != "green", "the HS check to send it yellow")
        return did

    def guide(self, did):
        r = self.srv.get("/v1/declarations/%s/inspection-guide" % did, token=self.officer)
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_guide_sources_progress_and_photos(self):
        s = self.srv
        did = self.submit(tobacco("INSP-1"))
        g = self.guide(did)
        self.assertEqual((g["declaration"], g["lane"], g["status"], g["scan"]),
                         (did, "yellow", "submitted", None))
        by_src = {}
        for st in g["steps"]:
            by_src.setdefault(st["source"], []).append(st)
        self.assertEqual([st["n"] for st in g["steps"]], list(range(1, len(g["steps"]) + 1)))
        risk = by_src["risk"]
        self.assertEqual(len(risk), 1)  # the no-model reason asks for nothing
        self.assertIn("reads like HS 020230", risk[0]["instruction"])
        self.assertIn("compare the goods with the item's description", risk[0]["instruction"])
        titles = [st["title"] for st in by_src["checklist"]]
        self.assertEqual(titles, ["Container and seal", "Count and weigh", "Tobacco: tax stamps"])
        self.assertEqual(by_src["checklist"][2]["where"],
                         {"from_door_m": 0.5, "height_m": None, "side": None})
        self.assertNotIn("track", by_src)
        # tracking: the container's seal opens on the road; the lane goes red
        # and the guide gains a step after the others, which keep their numbers
        setup_world(s, self.officer, declarations=[did])
        t = now_ms() - 60000
        r = s.post("/v1/telemetry", [
            {"device": "TRK-1", "ts": t, "lat": 0, "lon": 30.3, "seal": "closed"},
            {"device": "TRK-1", "ts": t + 1000, "lat": 0, "lon": 30.3, "seal": "open"}],
            token=self.officer)
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: self.guide(did)["lane"] == "red", "the seal alert to raise the lane")
        g2 = self.guide(did)
        self.assertEqual(g2["steps"][:len(g["steps"])], g["steps"])
        track = [st for st in g2["steps"] if st["source"] == "track"]
        self.assertEqual(len(track), 1)
        self.assertEqual(track[0]["n"], len(g["steps"]) + 1)
        self.assertIn("check the seal's number", track[0]["instruction"])
        # roles: traders never see guides
        r = s.get("/v1/declarations/%s/inspection-guide" % did, token=self.trader)
        self.assertEqual((r.status, r.json["error"]["code"]), (403, "forbidden"))
        # photos: only JPEG, only as image/jpeg; the hash is the content's
        st, body = raw(s, "POST", "/v1/declarations/%s/photos" % did, self.officer, b"GIF89a....",
                       "image/jpeg")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_image")
        st, _ = raw(s, "POST", "/v1/declarations/%s/photos" % did, self.officer, JPEG,
                    "image/png")
        self.assertEqual(st, 415)
        sha = hashlib.sha256(JPEG).hexdigest()
        step = "/v1/declarations/%s/inspection-guide/steps/1" % did
        # a step cannot cite a photo not uploaded for this declaration
        r = s.post(step, {"done": True, "photos": [sha]}, token=self.officer)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/photos/0")
        self.assertEqual(self.guide(did)["photos"], [])
        st, body = raw(s, "POST", "/v1/declarations/%s/photos" % did, self.officer, JPEG,
                       "image/jpeg")
        self.assertEqual(st, 201, body)
        self.assertEqual(json.loads(body), {"sha256": sha, "width": 640, "height": 480,
                                            "bytes": len(JPEG)})
        st, back = raw(s, "GET", "/v1/declarations/%s/photos/%s" % (did, sha), self.officer)
        self.assertEqual((st, back), (200, JPEG))
        # bad steps: named fields; unknown step numbers
        r = s.post(step, {"done": "yes", "photos": ["abc"], "colour": 1}, token=self.officer)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(sorted(p["path"] for p in r.json["error"]["details"]),
                         ["/colour", "/done", "/photos/0"])
        r = s.post("/v1/declarations/%s/inspection-guide/steps/99" % did, {"done": True},
                   token=self.officer)
        self.assertEqual(r.status, 404, r)
        r = s.post(step, {"done": True, "note": "seal 7781 intact", "photos": [sha]},
                   token=self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["n"], r.json["done"], r.json["photos"], r.json["note"]),
                         (1, True, [sha], "seal 7781 intact"))
        self.assertEqual(r.json["done_by"]["org"], "KCS")
        g3 = self.guide(did)
        self.assertTrue(g3["steps"][0]["done"])
        self.assertEqual(g3["photos"], [sha])
        # the outcome: its photos must be this declaration's uploads; a
        # refused outcome stores nothing (the red lane still holds release)
        path = "/v1/declarations/%s/inspection" % did
        r = s.post(path, {"result": "compliant", "photos": [sha, "0" * 64, "ABC"]},
                   token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_inspection"), r)
        self.assertEqual([p["path"] for p in r.json["error"]["details"]], ["/photos/2"])
        r = s.post(path, {"result": "compliant", "photos": [sha, "0" * 64]}, token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_inspection"), r)
        self.assertEqual([p["path"] for p in r.json["error"]["details"]], ["/photos/1"])
        self.assertNotIn("inspection", s.get("/v1/declarations/" + did, token=self.officer).json)
        r = s.post("/v1/declarations/%s/decision" % did, {"decision": "release"},
                   token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "decision_refused"), r)
        # the record: the photos sent, then the steps' (each once)
        other = JPEG + b"\0"  # bytes after the end of the image: another photo
        sha2 = hashlib.sha256(other).hexdigest()
        st, body = raw(s, "POST", "/v1/declarations/%s/photos" % did, self.officer, other,
                       "image/jpeg")
        self.assertEqual(st, 201, body)
        r = s.post(path, {"result": "compliant", "photos": [sha2, sha2]}, token=self.officer)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["photos"], [sha2, sha])
        rec = s.get("/v1/declarations/" + did, token=self.officer).json["inspection"]
        self.assertEqual((rec["photos"], rec["result"]), ([sha2, sha], "compliant"))
        # after the decision the guide is kept as it was
        r = s.post("/v1/declarations/%s/decision" % did, {"decision": "release"},
                   token=self.officer)
        self.assertEqual(r.status, 200, r)
        g4 = self.guide(did)
        self.assertEqual(g4["steps"], g3["steps"])
        self.assertEqual(g4["status"], "released")
        r = s.post(step, {"done": False}, token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "not_in_inspection"))

    def test_guide_from_the_scan(self):
        scans = os.path.join(self.tmp, "scans")
        run("xray", "simulate", "--seed", "5", "--n", "2", "--out", scans,
            "--kinds", "empty_block", "--pixel-mm", "12", "--container", "20ft")
        t = json.load(open(os.path.join(scans, "truth.json")))["scans"][0]
        meta = json.load(open(os.path.join(scans, t["scan_id"] + ".json")))
        with open(os.path.join(scans, t["file"]), "rb") as f:
            img = base64.b64encode(f.read()).decode()
        doc = dict(declaration("INSP-XR", containers=[meta["container"]]), items=[
            {"hs_code": "860900", "description": "the container itself, empty",
             "country_of_origin": "CN", "net_mass_kg": 0, "value": 0, "currency": "USD"}])
        did = self.srv.post("/v1/declarations", doc, token=self.trader).json["id"]
        create_key(self.db, "KCS", "device", "gate-3")
        r = self.srv.post("/v1/xray/scanners", {"id": meta["scanner"], "name": "Gate 3",
                                                "site": "KRPUS",
                                                "key_id": key_id(self.db, "gate-3")},
                          token=self.officer)
        self.assertEqual(r.status, 201, r)
        meta["declaration"] = did
        meta.pop("declared_empty", None)
        r = self.srv.post("/v1/xray/scans", {"meta": meta, "image_base64": img},
                          token=self.officer)
        self.assertEqual(r.status, 201, r)
        regions = r.json["analysis"]["regions"]
        self.assertTrue(regions, r.json["analysis"])
        g = self.guide(did)
        self.assertEqual(g["scan"], {"id": meta["scan_id"], "overlay_url":
                                     "/v1/xray/scans/%s/overlay.png" % meta["scan_id"]})
        xr = [st for st in g["steps"] if st["source"] == "xray"]
        where = [st["where"] for st in xr if st["where"]]
        self.assertEqual(len(where), len(regions))
        for w, reg in zip(where, regions):
            self.assertEqual((w["from_door_m"], w["height_m"], w["side"]),
                             (reg["from_door_m"], reg["height_m"], None))
        self.assertIn("m from the doors", xr[0]["instruction"])
        # the finding that sent it red is a step of its own, with its check
        self.assertTrue(any(st["title"] == "Declared empty, scan shows contents" for st in xr))
        st, _ = raw(self.srv, "GET", g["scan"]["overlay_url"], self.officer)
        self.assertEqual(st, 200)

    def test_a_training_case_that_cannot_be_read_is_not_missing(self):
        # with the cases unreadable (the table's root page damaged) an answer
        # is 503 "retry", not 404 "no such training case": a client told 404
        # gives up
        run("training", "generate", "--db", self.db, "--seed", "3", "--n", "1")
        case = self.srv.get("/v1/training/cases/next", token=self.officer).json
        self.srv.stop()
        damage_table(self.db, "inspect_training_cases")
        self.srv = self.serve(*LANES)
        r = self.srv.post("/v1/training/cases/%s/answer" % case["id"],
                          {"lane": "green", "regions": []}, token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (503, "unavailable"), r)

    def test_training(self):
        s = self.srv
        admin = create_key(self.db, "KCS", "admin")
        p = run("training", "generate", "--db", self.db, "--seed", "3", "--n", "2")
        self.assertIn("2 training cases added", p.stdout)
        p = run("training", "generate", "--db", self.db, "--seed", "3", "--n", "2")
        self.assertIn("0 training cases added (2 already there)", p.stdout)
        self.assertEqual(run("training", "generate", "--db", self.db, "--se", "3", "--n", "2",
                             check=False).returncode, 2)
        # cases are never declarations
        self.assertEqual(s.get("/v1/declarations", token=self.officer).json["items"], [])
        self.assertEqual(s.get("/v1/training/cases/next", token=self.trader).status, 403)
        c = s.get("/v1/training/cases/next", token=self.officer)
        self.assertEqual(c.status, 200, c)
        case = c.json
        self.assertEqual(set(case), {"id", "declaration", "reasons", "events", "scan"})
        self.assertTrue(case["declaration"]["training"])
        st, png = raw(s, "GET", case["scan"]["image_url"], self.officer)
        self.assertEqual((st, png[:8]), (200, b"\x89PNG\r\n\x1a\n"))
        w, h = case["scan"]["width"], case["scan"]["height"]
        self.assertEqual(int.from_bytes(png[16:20], "big"), w)
        ans = "/v1/training/cases/%s/answer" % case["id"]
        r = s.post(ans, {"lane": "blue", "regions": [{"x": w, "y": 0, "w": 5, "h": 5}]},
                   token=self.officer)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(sorted(p["path"] for p in r.json["error"]["details"]),
                         ["/lane", "/regions/0"])
        # a wrong answer: the reply tells what was hidden
        r = s.post(ans, {"lane": "green", "regions": [{"x": 0, "y": 0, "w": 3, "h": 3}]},
                   token=self.officer)
        self.assertEqual(r.status, 200, r)
        truth = r.json["truth"]
        self.assertEqual(r.json["false_marks"], 1)
        self.assertEqual(r.json["missed"], len(truth["regions"]))
        self.assertEqual(r.json["lane_correct"], truth["lane"] == "green")
        self.assertTrue(r.json["explanation"])
        self.assertIsInstance(r.json["seconds"], float)
        self.assertEqual(s.post(ans, {"lane": "red", "regions": []}, token=self.officer).status,
                         409)
        # the next case for this officer is the other one; another officer starts at the first
        self.assertNotEqual(s.get("/v1/training/cases/next", token=self.officer).json["id"],
                            case["id"])
        self.assertEqual(s.get("/v1/training/cases/next", token=self.expert).json["id"],
                         case["id"])
        marks = [{k: x[k] for k in ("x", "y", "w", "h")} for x in truth["regions"]]
        r = s.post(ans, {"lane": truth["lane"], "regions": marks}, token=self.expert)
        self.assertEqual((r.json["score"], r.json["found"], r.json["false_marks"]),
                         (100, len(marks), 0))
        # results: own for officers, everyone's for supervisors (admins)
        mine = s.get("/v1/training/results", token=self.expert).json["items"]
        self.assertEqual([x["score"] for x in mine], [100])
        every = s.get("/v1/training/results", token=admin).json["items"]
        self.assertEqual(len(every), 2)
        one = s.get("/v1/training/results?officer=%d" % mine[0]["by"]["key_id"],
                    token=admin).json["items"]
        self.assertEqual(one, mine)
        r = s.get("/v1/training/results?officer=%d" % every[0]["by"]["key_id"],
                  token=self.expert)
        self.assertEqual(r.status, 403)
        self.assertEqual(s.get("/v1/training/results?bogus=1", token=admin).status, 400)

    def test_session_stream_heartbeat(self):
        # the one SSE heartbeat setting (heartbeat_s) reaches session streams too
        self.srv.stop()
        cfg = os.path.join(self.tmp, "track.json")
        with open(cfg, "w") as f:
            json.dump({"heartbeat_s": 1}, f)
        self.srv = s = self.serve("--track-config", cfg, *LANES)
        did = self.submit(tobacco("INSP-HB"))
        r = s.post("/v1/declarations/%s/sessions" % did, None, token=self.officer)
        self.assertEqual(r.status, 201, r)
        st = SSE(s, "/v1/sessions/%s/stream" % r.json["session"], self.officer)
        self.assertEqual(st.next()["retry"], "1000")
        ev = st.next()
        while not any(c.startswith("ping ") for c in ev["comments"]):
            ev = st.next()
        st.close()

    def test_not_in_inspection(self):
        r = self.srv.post("/v1/declarations", declaration("GREEN-1"), token=self.trader)
        did = r.json["id"]
        self.assertEqual(r.json["risk"]["lane"], "green")
        for path in ("/inspection-guide", "/sessions"):
            r = (self.srv.get if path == "/inspection-guide" else
                 lambda p, token: self.srv.post(p, {}, token=token))(
                "/v1/declarations/" + did + path, token=self.officer)
            self.assertEqual((r.status, r.json["error"]["code"]), (409, "not_in_inspection"))
        r = self.srv.get("/v1/declarations/NOPE/inspection-guide", token=self.officer)
        self.assertEqual(r.status, 404)

    def test_session_two_clients(self):
        s = self.srv
        did = self.submit(tobacco("INSP-2"))
        r = s.post("/v1/declarations/%s/sessions" % did, {}, token=self.trader)
        self.assertEqual(r.status, 403)
        r = s.post("/v1/declarations/%s/sessions" % did, None, token=self.officer)
        self.assertEqual(r.status, 201, r)
        sid = r.json["session"]
        self.assertEqual((r.json["status"], r.json["declaration"]), ("open", did))
        r = s.post("/v1/declarations/%s/sessions" % did, {}, token=self.expert)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "session_open"))
        self.assertIn(sid, r.json["error"]["message"])
        base = "/v1/sessions/" + sid
        self.assertEqual(SSE(s, base + "/stream", self.trader).status, 403)
        officer = SSE(s, base + "/stream", self.officer)
        expert = SSE(s, base + "/stream", self.expert)
        self.assertEqual((officer.status, expert.status), (200, 200))
        # the officer streams frames; the expert sees each, in order, and fetches it
        for n in (1, 2, 3):
            st, body = raw(s, "POST", base + "/frames", self.officer, JPEG, "image/jpeg")
            self.assertEqual((st, json.loads(body)["frame"]), (201, n))
        for n in (1, 2, 3):
            ev, d = expert.next_event("frame")
            self.assertEqual((d["frame"], d["width"], d["height"]), (n, 640, 480))
            self.assertEqual(d["by"]["org"], "KCS")
            self.assertEqual(d["by"]["role"], "officer")
            self.assertEqual(int(ev["id"]), n)
        st, back = raw(s, "GET", base + "/frames/2", self.expert)
        self.assertEqual((st, back), (200, JPEG))
        self.assertEqual(raw(s, "GET", base + "/frames/9", self.expert)[0], 404)
        # bad frames and annotations: a clear 4xx and nothing stored
        self.assertEqual(raw(s, "POST", base + "/frames", self.officer, b"not a jpeg",
                             "image/jpeg")[0], 400)
        big = JPEG[:-2] + b"\x00" * (2 * 1024 * 1024) + b"\xff\xd9"
        self.assertEqual(raw(s, "POST", base + "/frames", self.officer, big, "image/jpeg")[0],
                         413)
        r = s.post(base + "/annotations", {"frame": 2, "shapes": [
            {"kind": "box", "x": 600, "y": 10, "w": 100, "h": 10}]}, token=self.expert)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["error"]["details"][0]["path"], "/shapes/0")
        r = s.post(base + "/annotations", {"frame": 7, "shapes": [
            {"kind": "box", "x": 1, "y": 1, "w": 1, "h": 1}]}, token=self.expert)
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/frame"))
        self.assertEqual(s.get(base, token=self.officer).json["events"], 3)
        # the expert draws on frame 2; the officer sees it anchored to frame 2
        shapes = [{"kind": "box", "x": 100, "y": 120, "w": 200, "h": 90},
                  {"kind": "arrow", "x": 500, "y": 400, "w": -150, "h": -200}]
        r = s.post(base + "/annotations", {"frame": 2, "shapes": shapes,
                                           "text": "behind these cartons"}, token=self.expert)
        self.assertEqual((r.status, r.json), (201, {"event": 4, "kind": "annotation"}))
        for _ in range(3):
            officer.next_event("frame")
        ev, d = officer.next_event("annotation")
        self.assertEqual((d["frame"], d["shapes"], d["text"]), (2, shapes, "behind these cartons"))
        self.assertEqual(int(ev["id"]), 4)
        # chat both ways, in order
        r = s.post(base + "/annotations", {"text": "opening them now"}, token=self.officer)
        self.assertEqual(r.json["kind"], "chat")
        _, d = expert.next_event("annotation")
        _, c = expert.next_event("chat")
        self.assertEqual(c["text"], "opening them now")
        _, c = officer.next_event("chat")
        self.assertEqual(c["text"], "opening them now")
        # the expert's connection drops; it resumes with Last-Event-ID
        expert.close()
        raw(s, "POST", base + "/frames", self.officer, JPEG, "image/jpeg")
        s.post(base + "/annotations", {"text": "frame 4 is the inside"}, token=self.officer)
        expert = SSE(s, base + "/stream", self.expert, headers={"Last-Event-ID": "5"})
        got = [expert.next() for _ in range(3)]
        got = [e for e in got if e["event"]][:2]
        self.assertEqual([(e["id"], e["event"]) for e in got], [("6", "frame"), ("7", "chat")])
        # close: both streams end with "closed"; frames are thinned
        r = s.post(base + "/close", None, token=self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "closed")
        self.assertEqual(r.json["frames"], 4)
        for c in (officer, expert):
            _, d = c.next_event("closed")
            self.assertEqual(d["by"]["org"], "KCS")
            with self.assertRaises(EOFError):
                while True:
                    c.next()
        self.assertEqual(raw(s, "POST", base + "/frames", self.officer, JPEG,
                             "image/jpeg")[0], 409)
        r = s.post(base + "/annotations", {"text": "late"}, token=self.expert)
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "session_closed"))
        self.assertEqual(raw(s, "GET", base + "/frames/2", self.expert)[0], 200)  # annotated
        # a new session may open now
        r = s.post("/v1/declarations/%s/sessions" % did, {}, token=self.expert)
        self.assertEqual(r.status, 201, r)
        lst = s.get("/v1/declarations/%s/sessions" % did, token=self.officer).json["items"]
        self.assertEqual([x["status"] for x in lst], ["closed", "open"])
        # page by page, the same sessions once each (the cursor is the row's)
        r = s.post("/v1/sessions/%s/close" % lst[1]["session"], None, token=self.officer)
        self.assertEqual(r.status, 200, r)
        r = s.post("/v1/declarations/%s/sessions" % did, {}, token=self.expert)
        self.assertEqual(r.status, 201, r)
        paged, cursor = [], ""
        for _ in range(4):
            r = s.get("/v1/declarations/%s/sessions?limit=1%s" % (did, cursor),
                      token=self.officer)
            self.assertEqual(r.status, 200, r)
            paged += [x["session"] for x in r.json["items"]]
            if not r.json.get("next_cursor"):
                break
            cursor = "&cursor=" + r.json["next_cursor"]
        lst = s.get("/v1/declarations/%s/sessions" % did, token=self.officer).json["items"]
        self.assertEqual(paged, [x["session"] for x in lst])
        self.assertEqual(len(lst), 3)
        # a supervisor replays it, page by page
        r = s.get(base + "/events?limit=5", token=self.officer)
        self.assertEqual([e["event"] for e in r.json["items"]],
                         ["frame", "frame", "frame", "annotation", "chat"])
        r2 = s.get(base + "/events?limit=5&cursor=" + r.json["next_cursor"], token=self.officer)
        self.assertEqual([e["event"] for e in r2.json["items"]], ["frame", "chat", "closed"])
        self.assertEqual(s.get(base + "/events?bogus=1", token=self.officer).status, 400)
        officer.close()
        expert.close()

    def test_close_thins_in_bounded_jobs(self):
        """Hot keys (issue 17): a session of 20,000 frames is thinned after
        its close in writer jobs of at most 500 frames, resumes after a
        kill -9, and reads as thinned from the moment it closed."""
        import sqlite3
        sessions = []
        for ref in ("INSP-BIG-1", "INSP-BIG-2"):
            did = self.submit(tobacco(ref))
            sid = self.srv.post("/v1/declarations/%s/sessions" % did, {},
                                token=self.officer).json["session"]
            for _ in range(2):
                raw(self.srv, "POST", "/v1/sessions/%s/frames" % sid, self.officer, JPEG,
                    "image/jpeg")
            sessions.append(sid)
        self.srv.stop()
        # 20,000 more frames each, ten a second, every seventh a little late
        # (frames arrive out of order): set up directly, posting them would
        # take minutes; small bodies keep the database small
        db = sqlite3.connect(self.db)
        expect = {}
        for sid in sessions:
            base = db.execute("SELECT max(at_us) FROM inspect_frames WHERE sid = ?",
                              (sid,)).fetchone()[0] + 10_000_000
            rows = [(sid, n, b"\xff\xd8%d\xff\xd9" % n, 640, 480, base + n * 100_000 - (n % 7 == 3) * 250_000,
                     int(n == 1005)) for n in range(3, 20003)]
            db.executemany("INSERT INTO inspect_frames(sid, n, bytes, width, height, at_us, "
                           "annotated) VALUES(?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute("UPDATE inspect_sessions SET frames = 20002 WHERE sid = ?", (sid,))
            first = {}
            frames = db.execute("SELECT n, at_us, annotated FROM inspect_frames WHERE sid = ?",
                                (sid,)).fetchall()
            for n, at, _ in frames:
                first[at // 2_000_000] = min(n, first.get(at // 2_000_000, n))
            expect[sid] = {n for n, at, a in frames
                           if a or n == 20002 or first[at // 2_000_000] == n}
        db.commit()
        db.close()
        self.assertTrue(900 < len(expect[sessions[0]]) < 1100)
        gone = min(set(range(1, 20003)) - expect[sessions[0]])

        def frame(srv, sid, n):
            return raw(srv, "GET", "/v1/sessions/%s/frames/%d" % (sid, n), self.officer)[0]

        # 1: the close answers at once; thinning follows, 500 frames a job
        srv = self.serve(*LANES)
        sid = sessions[0]
        r = srv.post("/v1/sessions/%s/close" % sid, None, token=self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["frames"], r.json["frames_kept"]),
                         (20002, len(expect[sid])))
        self.assertIs(r.json["thinning"], True)  # the reply is the close's own job
        self.assertEqual(frame(srv, sid, gone), 410)  # gone at once, whatever is left
        self.assertEqual(frame(srv, sid, 1005), 200)  # annotated
        self.assertEqual(frame(srv, sid, 20002), 200)  # the last
        wait_for(lambda: srv.get("/v1/sessions/" + sid, token=self.officer)
                 .json["thinning"] is False, "the thinning to finish")
        self.assertEqual(srv.get("/v1/sessions/" + sid, token=self.officer).json["frames_kept"],
                         len(expect[sid]))
        self.assertGreaterEqual(srv.metric("customs_inspect_thin_jobs_total"), 20002 // 500)
        self.assertEqual(srv.metric("customs_inspect_frames_thinned_total"),
                         20002 - len(expect[sid]))
        # 2: killed right after a close, the next start finishes the work
        sid = sessions[1]
        r = srv.post("/v1/sessions/%s/close" % sid, None, token=self.officer)
        self.assertEqual(r.status, 200, r)
        srv.kill9()
        srv = self.serve(*LANES)
        self.assertEqual(srv.get("/v1/sessions/" + sid, token=self.officer).json["frames_kept"],
                         len(expect[sid]))
        self.assertEqual(frame(srv, sid, gone), 410)
        wait_for(lambda: srv.get("/v1/sessions/" + sid, token=self.officer)
                 .json["thinning"] is False, "the thinning to resume and finish")
        srv.stop()
        db = sqlite3.connect(self.db)
        for sid in sessions:
            kept = {n for (n,) in db.execute("SELECT n FROM inspect_frames WHERE sid = ?",
                                             (sid,))}
            self.assertEqual(kept, expect[sid])
        db.close()

    def test_a_damaged_event_fails_its_page(self):
        # an event's data goes into the page as stored: a damaged one must
        # fail the page (500), not make the 200 something that does not parse
        import sqlite3
        did = self.submit(tobacco("INSP-4"))
        sid = self.srv.post("/v1/declarations/%s/sessions" % did, {},
                            token=self.officer).json["session"]
        base = "/v1/sessions/" + sid
        raw(self.srv, "POST", base + "/frames", self.officer, JPEG, "image/jpeg")
        r = self.srv.get(base + "/events", token=self.officer)
        self.assertEqual((r.status, [e["event"] for e in r.json["items"]]), (200, ["frame"]))
        db = sqlite3.connect(self.db)
        with db:
            db.execute("UPDATE inspect_events SET data = substr(data, 2) WHERE sid = ?", (sid,))
        db.close()
        r = self.srv.get(base + "/events", token=self.officer)
        self.assertEqual((r.status, r.json["error"]["code"]), (500, "internal"), r)
        self.assertNotIn("items", r.json)

    def test_frames_erased_after_retention(self):
        did = self.submit(tobacco("INSP-3"))
        sid = self.srv.post("/v1/declarations/%s/sessions" % did, {},
                            token=self.officer).json["session"]
        base = "/v1/sessions/" + sid
        for _ in range(2):
            raw(self.srv, "POST", base + "/frames", self.officer, JPEG, "image/jpeg")
        self.srv.post(base + "/annotations", {"frame": 1, "shapes": [
            {"kind": "box", "x": 1, "y": 1, "w": 9, "h": 9}]}, token=self.officer)
        self.srv.stop()
        # 31 days later, with a 30-day retention: frames gone, the record kept
        srv = self.serve("--session-retention-days", "30", *LANES,
                         env={"CUSTOMS_FAKE_NOW": "2099-01-01T00:00:00Z"})
        wait_for(lambda: raw(srv, "GET", base + "/frames/1", self.officer)[0] == 410,
                 "retention to erase the frames")
        self.assertEqual(raw(srv, "GET", base + "/frames/2", self.officer)[0], 410)
        ev = srv.get(base + "/events", token=self.officer).json["items"]
        self.assertEqual([e["event"] for e in ev], ["frame", "frame", "annotation"])


if __name__ == "__main__":
    unittest.main()
