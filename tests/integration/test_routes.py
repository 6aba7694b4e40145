"""Rules every route of the server keeps, checked on the routes the server
itself lists (its metrics name every route, used or not)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TempDirTestCase, create_key  # noqa: E402


class RoutesTest(TempDirTestCase):
    def test_unknown_query_parameters_are_refused_everywhere(self):
        """Every route of the server, read from its own metrics, refuses a
        query parameter it does not take with 400 naming it, before doing
        anything else; /osmand alone takes any (Traccar's parameters are the
        report). The metrics list every route whether it was used or not."""
        officer = create_key(self.db, "KCS", "officer")
        srv = self.serve()
        metrics = srv.get("/metrics").body
        routes = sorted(set(re.findall(
            r'customs_http_request_duration_seconds_count\{method="(\w+)",route="([^"]+)"\}',
            metrics)))
        self.assertGreater(len(routes), 40, routes)
        seen = 0
        for method, pattern in routes:
            path = re.sub(r"\{[^}]+\}", "x", pattern)
            r = srv.request(method, path + "?zz_unknown=1",
                            body="{}" if method == "POST" else None, token=officer)
            if pattern == "/osmand":
                self.assertNotEqual(r.json.get("error", {}).get("code") if r.body.startswith("{")
                                    else None, "invalid_parameter")
                continue
            self.assertEqual(r.status, 400, (method, pattern, r))
            self.assertEqual(r.json["error"]["code"], "invalid_parameter", (method, pattern))
            self.assertEqual(r.json["error"]["details"][0]["path"], "/zz_unknown")
            seen += 1
        self.assertEqual(seen, len(routes) - 2)  # GET and POST /osmand
        srv.stop()



if __name__ == "__main__":
    unittest.main()
