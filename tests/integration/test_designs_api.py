"""3D design files against the real binary: `customs designs` inspect,
register, match and convert, and the /v1/designs API with who sees what.
The expected measurements and the canonical mesh hash are computed here
independently, from docs/designs.md; variants (turned, scaled, mirrored,
re-meshed, converted) are made here too."""
import hashlib
import json
import math
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BIN, SOURCE, TempDirTestCase, create_key, declaration, run  # noqa: E402
import subprocess  # noqa: E402

DATA = os.path.join(SOURCE, "data", "designs")
INSPECT_KEYS = {"format", "sha256", "mesh_sha256", "triangles", "vertices", "bbox_mm", "area_mm2",
                "volume_mm3", "watertight", "problems"}
MATCH_KEYS = {"design_id", "title", "holder", "watchlist", "similarity", "scale", "match"}


# ---- STL in Python ---------------------------------------------------------------------

def read_stl(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack_from("<I", data, 80)[0]
    assert len(data) == 84 + 50 * n, path
    return [[struct.unpack_from("<3f", data, 84 + 50 * t + 12 + 12 * k) for k in range(3)]
            for t in range(n)]


def stl_bytes(tris):
    out = [b"test".ljust(80, b" "), struct.pack("<I", len(tris))]
    for a, b, c in tris:
        out.append(struct.pack("<12fH", 0, 0, 0, *a, *b, *c, 0))
    return b"".join(out)


def transform(tris, scale=1.0, mirror=False, angles=(0.4, 1.1, 2.0), move=(31, -7, 12)):
    ax, ay, az = angles
    ca, sa, cb, sb, cc, sc = (math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay),
                              math.cos(az), math.sin(az))

    def f(p):
        x, y, z = (-p[0] if mirror else p[0]) * scale, p[1] * scale, p[2] * scale
        y, z = ca * y - sa * z, sa * y + ca * z
        x, z = cb * x + sb * z, -sb * x + cb * z
        x, y = cc * x - sc * y, sc * x + cc * y
        return (x + move[0], y + move[1], z + move[2])
    out = []
    for a, b, c in tris:
        t = (f(a), f(b), f(c))
        out.append((t[0], t[2], t[1]) if mirror else t)  # a mirror keeps the outside out
    return out


def measures(tris):
    area = vol = 0.0
    lo, hi = [math.inf] * 3, [-math.inf] * 3
    for a, b, c in tris:
        u = [b[i] - a[i] for i in range(3)]
        v = [c[i] - a[i] for i in range(3)]
        n = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
        area += 0.5 * math.sqrt(sum(x * x for x in n))
        vol += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                + a[2] * (b[0] * c[1] - b[1] * c[0])) / 6
        for p in (a, b, c):
            for i in range(3):
                lo[i], hi[i] = min(lo[i], p[i]), max(hi[i], p[i])
    return area, vol, [hi[i] - lo[i] for i in range(3)]


def um(x):
    """Rounded to micrometres, halves away from zero (C's llround)."""
    v = x * 1000.0
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def mesh_sha256(tris):
    """docs/designs.md: vertices at 1 µm, each triangle rotated to start at its
    smallest vertex, triangles sorted, nine int64 little-endian each."""
    canon = []
    for t in tris:
        q = [tuple(um(c) for c in p) for p in t]
        rots = [tuple(q[(r + k) % 3] for k in range(3)) for r in range(3)]
        canon.append(min(rots))
    canon.sort()
    h = hashlib.sha256()
    for t in canon:
        h.update(struct.pack("<9q", *(c for p in t for c in p)))
    return h.hexdigest()


# ---- the command line --------------------------------------------------------------------

class DesignsCliTest(TempDirTestCase):
    def file(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def inspect(self, path):
        return json.loads(run("designs", "inspect", path, "--json").stdout)

    def register(self, path, watchlist, holder, title, *extra):
        p = run("designs", "register", "--db", self.db, "--watchlist", watchlist, "--holder",
                holder, "--title", title, *extra, path)
        return p.stdout.strip()

    def match(self, path):
        p = run("designs", "match", "--db", self.db, path, "--json")
        return [json.loads(line) for line in p.stdout.splitlines()]

    def test_inspect_measures_and_hashes_as_documented(self):
        path = os.path.join(DATA, "rocket.stl")
        tris = read_stl(path)
        got = self.inspect(path)
        self.assertTrue(INSPECT_KEYS <= set(got), got)
        area, vol, size = measures(tris)
        self.assertEqual(got["format"], "stl")
        self.assertEqual(got["triangles"], len(tris))
        self.assertEqual(got["vertices"], len({tuple(um(c) for c in p) for t in tris for p in t}))
        self.assertTrue(got["watertight"])
        self.assertEqual(got["problems"], [])
        self.assertAlmostEqual(got["area_mm2"], area, delta=1e-3)
        self.assertAlmostEqual(got["volume_mm3"], vol, delta=1e-3)
        for g, w in zip(got["bbox_mm"], size):
            self.assertAlmostEqual(g, w, delta=1e-5)
        with open(path, "rb") as f:
            self.assertEqual(got["sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertEqual(got["mesh_sha256"], mesh_sha256(tris))

    def test_same_geometry_same_mesh_hash_in_every_format(self):
        stl = os.path.join(self.tmp, "bracket.stl")
        run("designs", "convert", os.path.join(DATA, "bracket.3mf"), "--out", stl)
        a, b = self.inspect(os.path.join(DATA, "bracket.3mf")), self.inspect(stl)
        self.assertEqual(a["format"], "3mf")
        self.assertEqual(a["mesh_sha256"], b["mesh_sha256"])
        self.assertEqual(b["mesh_sha256"], mesh_sha256(read_stl(stl)))
        self.assertNotEqual(a["sha256"], b["sha256"])
        obj = os.path.join(DATA, "key.obj")
        asc = os.path.join(self.tmp, "key.stl")
        run("designs", "convert", obj, "--out", asc, "--ascii")
        self.assertEqual(self.inspect(obj)["mesh_sha256"], self.inspect(asc)["mesh_sha256"])
        # the same triangles in another order and turned: the same canonical mesh
        tris = read_stl(os.path.join(DATA, "gear12.stl"))
        shuffled = [(t[1], t[2], t[0]) for t in reversed(tris)]
        self.assertEqual(self.inspect(self.file("g.stl", stl_bytes(shuffled)))["mesh_sha256"],
                         self.inspect(os.path.join(DATA, "gear12.stl"))["mesh_sha256"])

    def test_bad_files_are_refused_with_the_reason(self):
        with open(os.path.join(DATA, "rocket.stl"), "rb") as f:
            data = f.read()
        cases = [(data[:-10], "truncated"), (data + b"\0" * 50, "count_mismatch"),
                 (b"hello, not a design\n", "unknown_format"), (b"", "empty"),
                 (data[:80] + struct.pack("<I", 10 ** 9), "truncated")]
        nan = bytearray(data)
        nan[84 + 12:84 + 16] = struct.pack("<f", math.nan)
        cases.append((bytes(nan), "non_finite"))
        for body, reason in cases:
            p = run("designs", "inspect", self.file("x.stl", body), check=False)
            self.assertEqual(p.returncode, 1, p)
            self.assertIn(f"({reason})", p.stderr)

    def test_register_writes_the_holders_ledger_entry(self):
        """The ipr.register entry with the design's geometry (docs/ledger.md)."""
        entry = os.path.join(self.tmp, "ipr.json")
        self.register(os.path.join(DATA, "key.obj"), "ipr", "ACME Toys", "Key",
                      "--registration", "RCD-7", "--valid-until", "2030-01-01",
                      "--ledger-entry", entry, "--org", "ACME")
        with open(entry) as f:
            e = json.load(f)
        self.assertEqual((e["type"], e["org"], e["body"]["kind"], e["body"]["registration_no"]),
                         ("ipr.register", "ACME", "design", "RCD-7"))
        self.assertEqual(e["body"]["design"]["mesh_sha256"],
                         self.inspect(os.path.join(DATA, "key.obj"))["mesh_sha256"])
        self.assertRegex(e["body"]["design"]["fingerprint"], r"^[A-Za-z0-9_-]{288}$")
        p = run("designs", "register", "--db", self.db, "--watchlist", "ipr", "--holder", "H",
                "--title", "T", "--ledger-entry", entry, os.path.join(DATA, "key.obj"),
                check=False)
        self.assertEqual(p.returncode, 2, p)

    def test_register_and_match_through_transformations(self):
        rocket = self.register(os.path.join(DATA, "rocket.stl"), "ipr", "ACME Toys",
                               "Rocket figurine", "--registration", "EM 008765432-0001",
                               "--valid-until", "2099-12-31", "--reference", "R-1")
        gear = self.register(os.path.join(DATA, "gear12.stl"), "security", "Customs",
                             "Gear (controlled)")
        prop = self.register(os.path.join(DATA, "propeller.stl"), "ipr", "AeroParts",
                             "Propeller")
        self.assertEqual(len({rocket, gear, prop}), 3)
        self.assertRegex(rocket, r"^[0-9A-Z]{26}$")
        tris = read_stl(os.path.join(DATA, "rocket.stl"))
        cases = [("turned.stl", stl_bytes(transform(tris)), 1.0),
                 ("scaled.stl", stl_bytes(transform(tris, scale=1.3)), 1.3),
                 ("mirrored.stl", stl_bytes(transform(tris, scale=0.6, mirror=True)), 0.6)]
        for name, data, scale in cases:
            lines = self.match(self.file(name, data))
            self.assertEqual(len(lines), 3)
            self.assertEqual(set(lines[0]), MATCH_KEYS)
            best = lines[0]
            self.assertEqual(best["design_id"], rocket, name)
            self.assertTrue(best["match"], best)
            self.assertGreaterEqual(best["similarity"], 0.8)
            self.assertAlmostEqual(best["scale"], scale, delta=0.005 * scale)
            self.assertEqual(best["holder"], "ACME Toys")
            sims = [x["similarity"] for x in lines]
            self.assertEqual(sims, sorted(sims, reverse=True))
            self.assertFalse(any(x["match"] for x in lines[1:]), lines)
        # re-meshed finer by openscad; and converted to 3MF and OBJ
        self.assertEqual(self.match(os.path.join(DATA, "rocket-fn96.stl"))[0]["design_id"], rocket)
        for fmt in ("3mf", "obj"):
            out = os.path.join(self.tmp, "rocket." + fmt)
            run("designs", "convert", self.file("t.stl", cases[1][1]), "--out", out)
            self.assertEqual(self.match(out)[0]["design_id"], rocket)
        gear_variant = stl_bytes(transform(read_stl(os.path.join(DATA, "gear12.stl")), 2.0, True))
        best = self.match(self.file("gear.stl", gear_variant))[0]
        self.assertEqual((best["design_id"], best["watchlist"], best["match"]),
                         (gear, "security", True))
        # an unrelated design matches nothing
        self.assertFalse(any(x["match"] for x in self.match(os.path.join(DATA, "bracket.3mf"))))
        text = run("designs", "match", "--db", self.db, os.path.join(DATA, "rocket-fn96.stl")).stdout
        self.assertIn("Rocket figurine (ACME Toys)", text)
        listed = [json.loads(x) for x in run("designs", "list", "--db", self.db,
                                              "--json").stdout.splitlines()]
        self.assertEqual([x["id"] for x in listed], [rocket, gear, prop])
        self.assertEqual(listed[0]["registration"], "EM 008765432-0001")

    def test_expired_protection_stops_matching(self):
        self.register(os.path.join(DATA, "rocket.stl"), "ipr", "ACME", "Old rocket",
                      "--valid-until", "2001-01-31")
        self.assertEqual(self.match(os.path.join(DATA, "rocket.stl")), [])

    def test_options_are_checked(self):
        path = os.path.join(DATA, "rocket.stl")
        for args in (["--watchlist", "ipr", "--title", "T", path],
                     ["--watchlist", "both", "--holder", "H", "--title", "T", path],
                     ["--wat", "ipr", "--holder", "H", "--title", "T", path],
                     ["--watchlist", "ipr", "--holder", "H", "--title", "T", "--valid-until",
                      "2024-02-30", path],
                     ["--watchlist", "ipr", "--holder", "H", "--title", "T"]):
            p = run("designs", "register", "--db", self.db, *args, check=False)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
        self.register(path, "ipr", "H", "T")
        p = run("designs", "register", "--db", self.db, "--watchlist", "ipr", "--holder", "H",
                "--title", "T", path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already on the ipr watchlist", p.stderr)
        self.assertEqual(run("designs", "match", path, check=False).returncode, 2)
        self.assertEqual(run("designs", "inspect", path, "--db", self.db,
                             check=False).returncode, 2)


# ---- the API -------------------------------------------------------------------------------

class DesignsApiTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.officer = create_key(self.db, "KCS", "officer")
        self.acme = create_key(self.db, "ACME", "trader")
        self.hanbit = create_key(self.db, "HANBIT", "trader")
        self.carrier = create_key(self.db, "MAERSK", "carrier")
        self.srv = self.serve()

    def upload(self, data, token, name="part.stl", ctype="application/octet-stream", query=None):
        q = query if query is not None else (f"?name={name}" if name else "")
        return self.srv.request("POST", "/v1/designs" + q, body=data, token=token,
                                content_type=ctype)

    def register(self, path, watchlist, holder, title, **extra):
        with open(path, "rb") as f:
            r = self.upload(f.read(), self.officer, os.path.basename(path))
        self.assertEqual(r.status, 201, r)
        body = {"sha256": r.json["inspection"]["sha256"], "watchlist": watchlist,
                "holder": holder, "title": title, **extra}
        r = self.srv.post("/v1/designs/watchlist", body, token=self.officer)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def variant(self, name, **kw):
        return stl_bytes(transform(read_stl(os.path.join(DATA, name)), **kw))

    def test_who_sees_what(self):
        rocket = self.register(os.path.join(DATA, "rocket.stl"), "ipr", "ACME Toys", "Rocket",
                               registration="EM 1", valid_until="2099-01-01")
        gear = self.register(os.path.join(DATA, "gear12.stl"), "security", "Customs",
                             "Controlled gear")
        # a trader uploading a controlled design learns nothing of it
        r = self.upload(self.variant("gear12.stl", scale=1.5), self.acme, "g.stl")
        self.assertEqual(r.status, 201, r)
        self.assertTrue(INSPECT_KEYS <= set(r.json["inspection"]))
        self.assertEqual(r.json["matches"], [])
        self.assertNotIn("security", r.body)
        self.assertNotIn(gear, r.body)
        gear_sha = r.json["inspection"]["sha256"]
        # the officer sees the same file's security match
        r = self.srv.get(f"/v1/designs/{gear_sha}", token=self.officer)
        self.assertEqual(r.status, 200, r)
        best = r.json["matches"][0]
        self.assertEqual((best["design_id"], best["watchlist"], best["match"]), (gear, "security",
                                                                                  True))
        self.assertEqual(len(best["sha256"]), 64)  # the registered file, for the console
        self.assertAlmostEqual(best["scale"], 1.5, delta=0.01)
        self.assertEqual([u["org"] for u in r.json["uploads"]], ["ACME"])
        # an ipr match is shown to the trader, with the holder
        r = self.upload(self.variant("rocket.stl", mirror=True), self.acme, "r.stl")
        self.assertEqual(r.status, 201, r)
        self.assertEqual([(m["design_id"], m["holder"], m["match"]) for m in r.json["matches"]],
                         [(rocket, "ACME Toys", True)])
        self.assertNotIn("sha256", r.json["matches"][0])
        self.assertNotIn("security", r.body)
        # another trader cannot see ACME's uploads
        self.assertEqual(self.srv.get(f"/v1/designs/{gear_sha}", token=self.hanbit).status, 404)
        r = self.srv.get(f"/v1/designs/{gear_sha}", token=self.acme)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["matches"], [])
        self.assertEqual(self.srv.get(f"/v1/designs/{gear_sha}/file", token=self.hanbit).status,
                         404)
        self.assertEqual(self.srv.get(f"/v1/designs/{gear_sha}/file", token=self.acme).status,
                         200)
        # the officer sees both lists; the trader only the protected designs
        r = self.srv.get("/v1/designs/watchlist", token=self.officer)
        self.assertEqual([e["id"] for e in r.json["items"]], [rocket, gear])
        r = self.srv.get("/v1/designs/watchlist", token=self.acme)
        self.assertEqual([e["id"] for e in r.json["items"]], [rocket])
        self.assertNotIn("sha256", r.json["items"][0])
        self.assertEqual(self.srv.get("/v1/designs/watchlist?watchlist=security",
                                      token=self.acme).status, 403)
        self.assertEqual(self.srv.get("/v1/designs/watchlist", token=self.carrier).status, 403)
        self.assertIn("customs_designs_matches_total{watchlist=\"security\"} 1",
                      self.srv.get("/metrics").body)
        # each match raised an alert about the uploaded file, for officers
        r = self.srv.get("/v1/alerts?subject=design", token=self.officer)
        self.assertEqual(r.status, 200, r)
        got = sorted((a["type"], a["severity"], a["detail"]["design_id"]) for a in r.json["items"])
        self.assertEqual(got, [("design_ipr_match", "warning", rocket),
                               ("design_security_match", "critical", gear)])
        self.assertEqual(r.json["items"][0]["subject"], {"kind": "design", "id": gear_sha})
        self.assertEqual(self.srv.get("/v1/alerts", token=self.acme).status, 403)

    def declare(self, ref, design, token=None, **item):
        doc = declaration(ref)
        doc["items"][0].update(design=design, **item)
        return self.srv.post("/v1/declarations", doc, token=token or self.acme)

    def test_declared_designs(self):
        rocket = self.register(os.path.join(DATA, "rocket.stl"), "ipr", "ACME Toys", "Rocket")
        self.register(os.path.join(DATA, "gear12.stl"), "security", "Customs", "Controlled gear")
        files = {}
        for name, kw in (("gear", {"scale": 2.0}), ("rocket", {"mirror": True})):
            r = self.upload(self.variant(f"{name}{'12' if name == 'gear' else ''}.stl", **kw),
                            self.hanbit, f"{name}.stl")
            ins = r.json["inspection"]
            files[name] = {"sha256": ins["sha256"], "format": "stl",
                           "file_size": ins["file_size"], "licence": "sale"}
        # a controlled design: red, and the trader's reason names no design
        r = self.declare("D-SEC", files["gear"], token=self.hanbit, transmission=True)
        self.assertEqual(r.status, 201, r)
        risk = self.srv.get(f"/v1/declarations/{r.json['id']}", token=self.hanbit).json["risk"]
        self.assertEqual(risk["lane"], "red")
        reason = [x for x in risk["reasons"] if x["feature"] == "designs.security"]
        self.assertEqual(len(reason), 1)
        self.assertNotIn("gear", json.dumps(risk).lower())
        self.assertTrue(r.json["items"][0]["transmission"])
        sec_id = r.json["id"]
        # a protected design sold without the holder's licence: a reason naming the holder
        r = self.declare("D-IPR", files["rocket"], token=self.hanbit)
        risk = r.json["risk"]
        reason = [x for x in risk["reasons"] if x["feature"] == "designs.ipr"]
        self.assertEqual(len(reason), 1, risk)
        self.assertIn("ACME Toys", reason[0]["detail"])
        self.assertIn(risk["lane"], ("yellow", "red"))
        # licensed from the holder: no ipr reason
        licensed = dict(files["rocket"], licence="licence", rights_holder="ACME Toys")
        r = self.declare("D-LIC", licensed, token=self.hanbit)
        self.assertFalse([x for x in r.json["risk"]["reasons"]
                          if x["feature"].startswith("designs.")], r.json["risk"])
        # a file never uploaded, and one declared unlike its upload
        r = self.declare("D-MISS", dict(files["rocket"], sha256="ab" * 32), token=self.hanbit)
        self.assertIn("designs.file_missing", [x["feature"] for x in r.json["risk"]["reasons"]])
        r = self.declare("D-SIZE", dict(licensed, file_size=7, format="obj"), token=self.hanbit)
        self.assertIn("designs.declared_file", [x["feature"] for x in r.json["risk"]["reasons"]])
        # officers get alerts naming the design
        r = self.srv.get("/v1/alerts?subject=declaration", token=self.officer)
        got = sorted((a["type"], a["declarations"][0] == sec_id, a["detail"]["design_id"] == rocket)
                     for a in r.json["items"])
        self.assertEqual(got, [("declared_design_ipr", False, True),
                               ("declared_design_security", True, False)])
        # the member is checked with pointers; a transmission needs a design
        r = self.declare("D-BAD", {"sha256": "XY", "format": "step", "file_size": -1,
                                   "licence": "rent", "colour": 1})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(sorted(d["path"] for d in r.json["error"]["details"]),
                         ["/items/0/design/colour", "/items/0/design/file_size",
                          "/items/0/design/format", "/items/0/design/licence",
                          "/items/0/design/sha256"])
        doc = declaration("D-T")
        doc["items"][0]["transmission"] = True
        r = self.srv.post("/v1/declarations", doc, token=self.acme)
        self.assertEqual([d["path"] for d in r.json["error"]["details"]], ["/items/0/transmission"])

    def test_file_bytes_come_back(self):
        with open(os.path.join(DATA, "bracket.3mf"), "rb") as f:
            data = f.read()
        r = self.upload(data, self.hanbit, "bracket.3mf", ctype="model/3mf")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["inspection"]["format"], "3mf")
        self.assertEqual(r.json["name"], "bracket.3mf")
        sha = r.json["inspection"]["sha256"]
        c = self.srv.connection()
        c.request("GET", f"/v1/designs/{sha}/file", headers={"Authorization": "Bearer "
                                                            + self.hanbit})
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.read(), data)
        c.close()
        self.assertEqual(self.srv.get(f"/v1/designs/{sha}/file", token=self.officer).status, 200)
        self.assertEqual(self.srv.get(f"/v1/designs/{'0' * 64}", token=self.officer).status, 404)
        r = self.srv.get("/v1/designs/not-a-hash", token=self.officer)
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/sha256"))

    def test_uploads_are_checked(self):
        with open(os.path.join(DATA, "rocket.stl"), "rb") as f:
            data = f.read()
        r = self.upload(data, self.acme, query="?name=a.stl&colour=red")
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/colour"))
        r = self.upload(data, self.acme, query="?name=../etc/passwd")
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/name"))
        self.assertEqual(self.upload(b"{}", self.acme, ctype="application/json").status, 415)
        r = self.upload(data, self.acme, ctype="multipart/form-data; boundary=x")
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "invalid_multipart"))
        self.assertEqual(self.upload(data, self.carrier).status, 403)
        self.assertEqual(self.upload(data, None).status, 401)
        for body, reason in ((b"", "empty"), (b"hello", "unknown_format"),
                             (data[:-3], "truncated")):
            r = self.upload(body, self.acme)
            self.assertEqual(r.status, 422, r)
            self.assertEqual(r.json["error"]["code"], "invalid_design")
            self.assertEqual(r.json["error"]["details"][0]["reason"], reason)
        # past 128 MiB the edge answers 413 from the announced length alone
        c = self.srv.connection()
        c.putrequest("POST", "/v1/designs?name=big.stl")
        for k, v in (("Authorization", "Bearer " + self.acme),
                     ("Content-Type", "application/octet-stream"),
                     ("Content-Length", str((128 << 20) + 1))):
            c.putheader(k, v)
        c.endheaders()
        self.assertEqual(c.getresponse().status, 413)
        c.close()
        self.assertIn("customs_designs_refused_total 3", self.srv.get("/metrics").body)

    def test_large_and_multipart_uploads(self):
        # an ASCII STL over the 1 MiB of ordinary bodies: spooled, read whole
        tris = transform(read_stl(os.path.join(DATA, "propeller.stl")), scale=1.3)
        lines = ["solid big"]
        for a, b, c in tris:
            lines.append("facet normal 0 0 0\n outer loop")
            lines += [f"  vertex {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}" for p in (a, b, c)]
            lines.append(" endloop\nendfacet")
        body = ("\n".join(lines) + "\nendsolid big\n").encode()
        body = body.replace(b"\n", b"\n" + b" " * 100)
        self.assertGreater(len(body), 1 << 20)
        r = self.upload(body, self.acme, "big.stl")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["inspection"]["triangles"], len(tris))
        # the same file as a form (the console's upload), named by the form
        with open(os.path.join(DATA, "gear12.stl"), "rb") as f:
            data = f.read()
        form = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gear.stl\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + data +
                b"\r\n--XyZ--\r\n")
        r = self.upload(form, self.acme, query="", ctype="multipart/form-data; boundary=XyZ")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["name"], "gear.stl")
        self.assertEqual(r.json["inspection"]["sha256"], hashlib.sha256(data).hexdigest())
        bad = form.replace(b'name="file"', b'name="colour"')
        r = self.upload(bad, self.acme, query="", ctype="multipart/form-data; boundary=XyZ")
        self.assertEqual((r.status, r.json["error"]["details"][0]["path"]), (400, "/colour"))

    def test_watchlist_registrations_are_checked(self):
        with open(os.path.join(DATA, "propeller.stl"), "rb") as f:
            sha = self.upload(f.read(), self.officer).json["inspection"]["sha256"]
        good = {"sha256": sha, "watchlist": "ipr", "holder": "AeroParts", "title": "Prop"}
        self.assertEqual(self.srv.post("/v1/designs/watchlist", good, token=self.acme).status, 403)
        r = self.srv.post("/v1/designs/watchlist", {"sha256": sha, "watchlist": "both",
                                                    "title": 7, "valid_until": "2024-02-30",
                                                    "colour": "red"}, token=self.officer)
        self.assertEqual(r.status, 400, r)
        paths = sorted(d["path"] for d in r.json["error"]["details"])
        self.assertEqual(paths, ["/colour", "/holder", "/title", "/valid_until", "/watchlist"])
        r = self.srv.post("/v1/designs/watchlist", dict(good, sha256="ab" * 32), token=self.officer)
        self.assertEqual(r.status, 404)
        r = self.srv.post("/v1/designs/watchlist", good, token=self.officer)
        self.assertEqual(r.status, 201, r)
        entry = r.json["id"]
        r = self.srv.post("/v1/designs/watchlist", good, token=self.officer)
        self.assertEqual(r.status, 409)
        self.assertIn(entry, r.json["error"]["message"])
        # removed: it no longer matches, and cannot be removed twice
        variant = self.variant("propeller.stl", scale=0.8)
        self.assertTrue(self.upload(variant, self.acme).json["matches"][0]["match"])
        self.assertEqual(self.srv.request("DELETE", f"/v1/designs/watchlist/{entry}",
                                          token=self.acme).status, 403)
        r = self.srv.request("DELETE", f"/v1/designs/watchlist/{entry}", token=self.officer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.upload(variant, self.acme).json["matches"], [])
        self.assertEqual(self.srv.request("DELETE", f"/v1/designs/watchlist/{entry}",
                                          token=self.officer).status, 409)
        self.assertEqual(self.srv.request("DELETE", "/v1/designs/watchlist/NOPE",
                                          token=self.officer).status, 404)

    def test_paging_and_restart(self):
        ids = [self.register(os.path.join(DATA, n), "ipr", "H", n)
               for n in ("rocket.stl", "gear12.stl", "propeller.stl")]
        seen, cursor = [], None
        while True:
            q = "?watchlist=ipr&limit=2" + (f"&cursor={cursor}" if cursor else "")
            r = self.srv.get("/v1/designs/watchlist" + q, token=self.officer)
            self.assertEqual(r.status, 200, r)
            seen += [e["id"] for e in r.json["items"]]
            cursor = r.json["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, ids)
        self.assertEqual(self.srv.get("/v1/designs/watchlist?limit=0", token=self.officer).status,
                         400)
        # the watchlists come back from the database after a restart
        self.srv.stop()
        self.srv = self.serve()
        r = self.upload(self.variant("gear12.stl", scale=0.7), self.acme)
        self.assertEqual(r.json["matches"][0]["design_id"], ids[1])


class DesignsDemoTest(TempDirTestCase):
    def test_make_run_step(self):
        """scripts/demo.d/50-designs: registered designs, and declarations
        whose designs match them (red for the controlled gear)."""
        step = os.path.join(SOURCE, "scripts", "demo.d", "50-designs")
        env = dict(os.environ, TRADER2=create_key(self.db, "HANBIT", "trader"))
        officer = create_key(self.db, "KCS", "officer")
        # with the revenue demo before it, as make run does: the transmissions
        # pay no customs duty (WTO moratorium), the printed figurine does
        subprocess.run([os.path.join(SOURCE, "scripts", "demo.d", "15-revenue"), "prepare",
                        self.db, BIN, "-"], check=True, capture_output=True)
        subprocess.run([step, "prepare", self.db, BIN, "-"], env=env, check=True,
                       capture_output=True)
        # no red lane at random (inspection at random while no model is
        # active, exploration): the lanes asserted below are the designs' own
        srv = self.serve("--inspect-rate", "0", "--explore-rate", "0")
        out = subprocess.run([step, "live", self.db, BIN, f"127.0.0.1:{srv.port}"], env=env,
                             check=True, capture_output=True, text=True).stdout
        self.assertIn("HB-3DP-0002: lane red", out)
        # 120 EUR at 1,495.55 = 179,466 KRW; 9503 and 84: 8 % duty, 10 % VAT
        self.assertIn("HB-3DP-0001: lane yellow, duty 0 + VAT 17947 KRW (wto_moratorium)", out)
        self.assertIn("HB-3DP-0002: lane red, duty 0 + VAT 17947 KRW (wto_moratorium)", out)
        self.assertIn("HB-3DP-0003: lane yellow, duty 14357 + VAT 19382 KRW\n", out)
        items = srv.get("/v1/declarations", token=officer).json["items"]
        reasons = {d["reference"]: [r["feature"] for r in d["risk"]["reasons"]] for d in items}
        self.assertIn("designs.ipr", reasons["HB-3DP-0001"])
        self.assertIn("designs.security", reasons["HB-3DP-0002"])
        self.assertEqual(len(srv.get("/v1/designs/watchlist", token=officer).json["items"]), 3)


if __name__ == "__main__":
    unittest.main()
