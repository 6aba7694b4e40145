"""customs xray on the command line: simulate (deterministic, sidecars and
truth), analyze (the exact JSON, the same answer from PNG, TIFF and DICOS),
render, and refusals with their reasons."""
import filecmp
import json
import os
import shutil
import tempfile
import unittest

from harness import run

KEYS = {"scan_id", "empty", "empty_score", "regions", "observed_mass_kg", "declared_mass_kg",
        "mass_ratio", "findings"}
REGION_KEYS = {"x", "y", "w", "h", "score", "kind", "from_door_m", "height_m"}
SIDECAR_KEYS = {"scan_id", "container", "time", "scanner", "pixel_mm_x", "pixel_mm_y",
                "open_beam", "mass_attenuation_cm2_g", "orientation", "declared_empty"}


class XrayCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="customs-xray-cli-")
        cls.out = {}
        for fmt in ("png", "tiff", "dcm"):
            d = os.path.join(cls.tmp, fmt)
            run("xray", "simulate", "--seed", "11", "--n", "2", "--out", d, "--kinds",
                "empty,empty_block", "--pixel-mm", "12", "--container", "20ft", "--format", fmt)
            cls.out[fmt] = d

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, fmt, i, ext=None):
        return os.path.join(self.out[fmt], "SIM-11-%06d.%s" % (i, ext or fmt))

    def analyze(self, *args):
        p = run("xray", "analyze", *args, "--json")
        self.assertEqual(p.stdout.count("\n"), 1, p.stdout)
        return json.loads(p.stdout)

    def test_simulate_writes_scans_sidecars_and_truth(self):
        truth = json.load(open(os.path.join(self.out["png"], "truth.json")))
        self.assertEqual((truth["seed"], truth["n"], truth["kinds"]),
                         (11, 2, ["empty", "empty_block"]))
        t0, t1 = truth["scans"]
        self.assertTrue(t0["empty"])
        self.assertEqual(t0["concealments"], [])
        self.assertFalse(t1["empty"])
        c = t1["concealments"][0]
        self.assertEqual(set(c), {"kind", "what", "x", "y", "w", "h", "from_door_m", "height_m",
                                  "mass_kg"})
        self.assertGreater(c["mass_kg"], 3)
        meta = json.load(open(self.path("png", 1, "json")))
        self.assertEqual(set(meta), SIDECAR_KEYS)
        self.assertIn(meta["orientation"], ("door_left", "door_right"))
        # the same seed draws the same scans, byte for byte
        again = os.path.join(self.tmp, "again")
        run("xray", "simulate", "--seed", "11", "--n", "2", "--out", again, "--kinds",
            "empty,empty_block", "--pixel-mm", "12", "--container", "20ft")
        for name in ("SIM-11-000000.png", "SIM-11-000001.png", "truth.json"):
            self.assertTrue(filecmp.cmp(os.path.join(again, name),
                                        os.path.join(self.out["png"], name), shallow=False))

    def test_analyze_exact_json(self):
        a = self.analyze(self.path("png", 0), "--meta", self.path("png", 0, "json"))
        self.assertEqual(set(a), KEYS)
        self.assertEqual(a["scan_id"], "SIM-11-000000")
        self.assertTrue(a["empty"])
        self.assertGreaterEqual(a["empty_score"], 0.5)
        self.assertIsNone(a["declared_mass_kg"])
        self.assertIsNone(a["mass_ratio"])
        b = self.analyze(self.path("png", 1), "--meta", self.path("png", 1, "json"))
        self.assertFalse(b["empty"])
        self.assertLess(b["empty_score"], 0.5)
        self.assertGreaterEqual(len(b["regions"]), 1)
        r = b["regions"][0]
        self.assertEqual(set(r), REGION_KEYS)
        self.assertIn(r["kind"], ("dense_object", "organic_mass", "false_wall", "anomaly"))
        truth = json.load(open(os.path.join(self.out["png"], "truth.json")))["scans"][1]
        c = truth["concealments"][0]
        self.assertLess(abs(r["from_door_m"] - c["from_door_m"]), 0.1, (r, c))
        self.assertLess(abs(r["height_m"] - c["height_m"]), 0.1, (r, c))
        # declared empty (the sidecar says so): the check fails, critically
        rules = {f["rule"]: f["severity"] for f in b["findings"]}
        self.assertEqual(rules.get("empty_check_failed"), "critical", b["findings"])
        # goods declared where there are none
        e = self.analyze(self.path("png", 0), "--meta", self.path("png", 0, "json"),
                         "--declared-mass-kg", "8000")
        self.assertEqual(e["declared_mass_kg"], 8000)
        self.assertIn("goods_missing", [f["rule"] for f in e["findings"]])
        # without --json: the same object, indented
        p = run("xray", "analyze", self.path("png", 1), "--meta", self.path("png", 1, "json"))
        self.assertEqual(json.loads(p.stdout), b)
        self.assertGreater(p.stdout.count("\n"), 5)

    def test_png_tiff_and_dicos_agree(self):
        png = self.analyze(self.path("png", 1), "--meta", self.path("png", 1, "json"))
        tiff = self.analyze(self.path("tiff", 1), "--meta", self.path("tiff", 1, "json"))
        dcm = self.analyze(self.path("dcm", 1))  # the sidecar is in its attributes
        self.assertEqual(png, tiff)
        self.assertEqual(png, dcm)

    def test_render(self):
        img = os.path.join(self.tmp, "r.png")
        ovl = os.path.join(self.tmp, "o.png")
        run("xray", "render", self.path("dcm", 1), "--out", img, "--overlay", ovl)
        for f in (img, ovl):
            with open(f, "rb") as fh:
                self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertFalse(filecmp.cmp(img, ovl, shallow=False))

    def test_refusals(self):
        p = run("xray", "analyze", self.path("png", 0), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--meta", p.stderr)
        p = run("xray", "analyze", self.path("png", 0), "--meta", self.path("png", 0, "json"),
                "--decl", check=False)  # no guessing abbreviations
        self.assertEqual(p.returncode, 2)
        self.assertIn("--decl", p.stderr)
        p = run("xray", "analyze", self.path("png", 0), "--meta", self.path("png", 0, "json"),
                "--declared-empty", "--declared-mass-kg", "100", check=False)
        self.assertEqual(p.returncode, 2)
        bad = os.path.join(self.tmp, "bad.json")
        meta = json.load(open(self.path("png", 0, "json")))
        meta.update(pixel_mm_x=-1, orientation="sideways", operator="J. Kim")
        json.dump(meta, open(bad, "w"))
        p = run("xray", "analyze", self.path("png", 0), "--meta", bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/pixel_mm_x", p.stderr)
        self.assertIn("/orientation", p.stderr)
        self.assertIn("ignoring unknown sidecar member 'operator'", p.stderr)
        cut = os.path.join(self.tmp, "cut.png")
        data = open(self.path("png", 0), "rb").read()
        open(cut, "wb").write(data[:len(data) // 3])
        p = run("xray", "analyze", cut, "--meta", self.path("png", 0, "json"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("truncated", p.stderr)
        p = run("xray", "simulate", "--seed", "1", "--n", "1", "--out", self.tmp, "--kinds",
                "empty,smuggled", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("smuggled", p.stderr)
        h = run("xray", "--help").stdout
        self.assertIn("Usage:", h)
        self.assertIn("Example", h)


if __name__ == "__main__":
    unittest.main(verbosity=2)
