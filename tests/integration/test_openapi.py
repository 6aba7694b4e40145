"""docs/openapi.json against the server's actual route table, both ways.

Nothing here names a route: a module that adds routes adds them to the
document (tagged with its module) and this test holds the two together.
"""
import json
import os
import re
import subprocess
import sys
import unittest

from harness import SOURCE, TempDirTestCase, run

DOC = os.path.join(SOURCE, "docs", "openapi.json")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def load_doc():
    with open(DOC) as f:
        return json.load(f)


def served_routes(db):
    """(METHOD, path template, needs a token, query parameters) for every
    route of the server; the parameters are a set, or None when the route
    passes any query to its handler (query=*, or no list at all)."""
    out = run("serve", "--db", db, "--list-routes").stdout
    routes = []
    for line in out.splitlines():
        parts = line.split()
        query = [p[len("query="):] for p in parts[2:] if p.startswith("query=")]
        names = set(filter(None, query[0].split(","))) if query else None
        # the route table writes a rest-of-path capture {name*}; OpenAPI has {name}
        routes.append((parts[0], re.sub(r"\{(\w+)\*\}", r"{\1}", parts[1]),
                       "token" in parts[2:], None if names == {"*"} else names))
    return routes


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method.upper(), op


def resolve(doc, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


class OpenApiTest(TempDirTestCase):
    def test_document_matches_the_route_table(self):
        doc = load_doc()
        routes = served_routes(self.db)
        self.assertGreater(len(routes), 40)
        served = {(m, p) for m, p, _, _ in routes}
        documented = {(m, p) for p, m, _ in operations(doc)}
        missing = sorted(served - documented)
        extra = sorted(documented - served)
        self.assertFalse(missing or extra,
                         "docs/openapi.json and the server disagree:\n"
                         f"  served but not documented: {missing}\n"
                         f"  documented but not served: {extra}\n"
                         "Add the routes to docs/openapi.json (tag: the module), then run "
                         "scripts/api-index --write.")
        # who needs a token, and which query parameters a route takes (the
        # server refuses any other), are what the document says
        token = {(m, p): t for m, p, t, _ in routes}
        query = {(m, p): q for m, p, _, q in routes}
        for path, method, op in operations(doc):
            with self.subTest(route=f"{method} {path}"):
                if token[(method, path)]:
                    self.assertEqual(op.get("security"), [{"bearer": []}])
                    self.assertIn("401", op["responses"])
                else:
                    self.assertEqual(op.get("security"), [])
                if query[(method, path)] is not None:
                    params = [resolve(doc, x) for x in
                              doc["paths"][path].get("parameters", []) + op.get("parameters", [])]
                    documented = {x["name"] for x in params if x["in"] == "query"}
                    self.assertEqual(documented, query[(method, path)],
                                     "the query parameters in docs/openapi.json are not the "
                                     "ones the route takes")

    def test_document_is_complete(self):
        doc = load_doc()
        self.assertRegex(doc["openapi"], r"^3\.1\.\d+$")
        tags = {t["name"] for t in doc["tags"]}
        ids = set()
        with open(os.path.join(SOURCE, "docs", "api.md")) as f:
            api_md = f.read()
        for path, method, op in operations(doc):
            with self.subTest(route=f"{method} {path}"):
                self.assertNotIn(op["operationId"], ids)
                ids.add(op["operationId"])
                self.assertEqual(len(op["tags"]), 1)
                self.assertIn(op["tags"][0], tags)
                self.assertTrue(op.get("summary"))
                # every path variable is a declared path parameter
                params = [resolve(doc, p) for p in op.get("parameters", [])]
                names = {p["name"] for p in params if p["in"] == "path"}
                self.assertEqual(names, set(re.findall(r"\{(\w+)\}", path)))
                for p in params:
                    self.assertTrue(p.get("description"), p)
                    self.assertIn("schema", p)
                # a success answer, and every error with its codes, each in
                # docs/api.md's table of codes
                codes = op["responses"]
                self.assertTrue([c for c in codes if c.startswith("2")], codes)
                for status, resp in codes.items():
                    resp = resolve(doc, resp)
                    self.assertTrue(resp.get("description"))
                    if status.startswith(("4", "5")) and path != "/osmand":
                        self.assertTrue(resp.get("x-error-codes"), (status, resp))
                        for code in resp["x-error-codes"]:
                            self.assertIn(f"`{code}`", api_md, f"{code} is not in docs/api.md")
                if op.get("requestBody"):
                    self.assertTrue(resolve(doc, op["requestBody"])["content"])

    def test_served_at_openapi_json(self):
        srv = self.serve()
        r = srv.get("/openapi.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json, load_doc())

    def test_route_index_is_up_to_date(self):
        with open(os.path.join(SOURCE, "docs", "api.md")) as f:
            md = f.read()
        got = md[md.index("<!-- route-index -->") + 20:md.index("<!-- /route-index -->")]
        want = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "api-index")],
                              capture_output=True, text=True, check=True).stdout
        self.assertEqual(got.strip(), want.strip(),
                         "docs/api.md's route index is stale: run scripts/api-index --write")
        # organised by module, each route once
        doc = load_doc()
        for path, method, op in operations(doc):
            self.assertEqual(got.count(f"| `{method}` | `{path}` |"), 1, (method, path))


if __name__ == "__main__":
    unittest.main(verbosity=2)
