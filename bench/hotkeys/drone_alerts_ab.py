"""bench/hotkeys, drone alerts (A/B of two builds): a drone's track over a
200-second window when the drone has 100,000 alerts from the day before
(hot) against a drone with none (cold), each with 5 alerts in the window.
Both binaries serve at once, each on its own database (migrated by itself);
phases alternate (A hot, A cold, B hot, B cold, then reversed) and the
figure is the server's CPU per request from /proc (user + system), beside
the wall rates a loaded machine bends. Medians over ROUNDS.
Usage: drone_alerts_ab.py BIN_A BIN_B LOADGEN ROUNDS SECONDS
  e.g. drone_alerts_ab.py /tmp/base/build/customs build/customs build/bench/loadgen 5 4"""
import datetime, json, os, sqlite3, statistics, subprocess, sys, tempfile, time

from drones import call  # noqa: E402  (bench/hotkeys/drones.py, beside this file)

BASIC = "0012{}0000000000000000"
LOCATION = bytes.fromhex("122624160a42bf241b6ed1b4b69808ac0870086b53150e0200")
T0 = datetime.datetime(2024, 6, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
T0_MS = int(T0.timestamp()) * 1000
N = 200


def obs(uas, mac, i):
    t = T0 + datetime.timedelta(seconds=i)
    loc = bytearray(LOCATION)
    lat = int.from_bytes(loc[5:9], "little", signed=True) + 10 * i
    loc[5:9] = lat.to_bytes(4, "little", signed=True)
    loc[21:23] = ((t.minute * 60 + t.second) * 10).to_bytes(2, "little")
    return {"time": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "transport": "ble4", "mac": mac,
            "payload_hex": "f01902" + BASIC.format(uas.encode().hex()) + loc.hex()}


def stamp(i):
    return (T0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def serve(binary, db, tmp):
    pf = os.path.join(tmp, "port")
    if os.path.exists(pf):
        os.unlink(pf)
    p = subprocess.Popen([binary, "serve", "--db", db, "--listen", "127.0.0.1:0", "--port-file",
                          pf, "--anon-rate", "0", "--quiet"], stderr=subprocess.DEVNULL)
    for _ in range(400):
        if os.path.exists(pf) and open(pf).read().strip():
            return p, int(open(pf).read())
        time.sleep(0.05)
    sys.exit("no port")


def prepare(binary, tmp):
    db = os.path.join(tmp, "d.db")
    token = subprocess.check_output([binary, "keys", "create", "--db", db, "--org", "KCS",
                                     "--role", "officer", "--name", "ab"], text=True).strip()
    p, port = serve(binary, db, tmp)
    assert call(port, token, "POST", "/v1/drones/receivers",
                {"id": "RX-1", "name": "Mast", "lat": 45.5, "lon": 9.2})[0] == 201
    for uas, mac in (("HOTDRONE0000001", "60:60:1f:00:00:01"),
                     ("COLDDRONE000001", "60:60:1f:00:00:02")):
        s, d = call(port, token, "POST", "/v1/drones/observations",
                    {"receiver": "RX-1", "observations": [obs(uas, mac, i) for i in range(N)]})
        assert s == 202, d
        for _ in range(2000):
            s, d = call(port, token, "GET", "/v1/drones/" + uas)
            if s == 200 and json.loads(d)["position_time"] == stamp(N - 1):
                break
            time.sleep(0.05)
    p.terminate(); p.wait()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN")
    sql = ("INSERT INTO alerts(id, kind, subject, type, severity, time, drone, doc, created)"
           " VALUES(?, 'drone', ?, 'drone_incursion', 'warning', ?, ?, ?, 0)")

    def row(uas, i, at):
        doc = {"id": f"AL-{uas}-{i}", "type": "drone_incursion", "severity": "warning",
               "time": at, "lat": 45.5, "lon": 9.2, "detail": {"n": i}}
        return (f"AL-{uas}-{i}", uas, at, uas, json.dumps(doc))
    con.executemany(sql, (row("HOTDRONE0000001", i, T0_MS - 86400000 + i) for i in range(100000)))
    for uas in ("HOTDRONE0000001", "COLDDRONE000001"):
        con.executemany(sql, (row(uas, 200000 + k, T0_MS + s * 1000)
                              for k, s in enumerate((120, 20, 150, 50, 90))))
    con.execute("COMMIT")
    con.close()
    return db, token


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    bins = {"A": sys.argv[1], "B": sys.argv[2]}
    loadgen, rounds, secs = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    hz = os.sysconf("SC_CLK_TCK")
    srv = {}
    for k, b in bins.items():
        tmp = tempfile.mkdtemp(prefix=f"left-ab-{k}-")
        db, token = prepare(b, tmp)
        p, port = serve(b, db, tmp)
        srv[k] = (p, port, token)
    q = f"/track?from={stamp(0)}&to={stamp(N - 1)}&max_points=100"
    res = {}
    try:
        for k, (p, port, token) in srv.items():  # warm up, and the answers
            for uas in ("HOTDRONE0000001", "COLDDRONE000001"):
                s, d = call(port, token, "GET", "/v1/drones/" + uas + q)
                fs = json.loads(d)["features"]
                print(k, uas, s, [f["properties"]["detail"]["n"] - 200000 for f in fs
                                  if f["properties"]["kind"] == "alert"])
        for r in range(rounds):
            order = [(k, u) for k in "AB" for u in ("HOTDRONE0000001", "COLDDRONE000001")]
            if r % 2:
                order.reverse()
            for k, uas in order:
                p, port, token = srv[k]
                c0 = cpu_ticks(p.pid)
                out = subprocess.check_output([loadgen, "--mode", "get", "--token", token,
                                               "--port", str(port), "--connections", "4",
                                               "--seconds", secs, "--path",
                                               "/v1/drones/" + uas + q], text=True)
                c1 = cpu_ticks(p.pid)
                j = json.loads(out)
                assert not {s for s in j["statuses"] if s != "200"}, j
                res.setdefault((k, uas[:4]), []).append(
                    ((c1 - c0) * 1e6 / hz / max(1, j["ok"]), j["ok_rps"], j["p50_us"]))
    finally:
        for p, _, _ in srv.values():
            p.terminate(); p.wait()
    for key in sorted(res):
        xs = res[key]
        print(f"{key[0]} {key[1]}: CPU/req median {statistics.median(x[0] for x in xs):8.1f} us"
              f"  (rounds {[round(x[0]) for x in xs]})  req/s median "
              f"{statistics.median(x[1] for x in xs):8.0f}  p50 median "
              f"{statistics.median(x[2] for x in xs)} us")
    print("load average: %.2f %.2f %.2f" % os.getloadavg())


main()
