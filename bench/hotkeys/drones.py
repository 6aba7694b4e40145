"""bench/hotkeys, drones (issue 17): posts N observations of one UAS ID (the
hot drone), N/10 of another (warm) and 100 of a third (cold), in batches of
1,000, to a running server, and waits until all are stored.
Usage: drones.py PORT TOKEN N"""
import datetime
import http.client
import json
import sys
import time

BASIC = "0012{}0000000000000000"  # a serial-number UAS ID of 15 characters, 25 bytes
LOCATION = bytes.fromhex("122624160a42bf241b6ed1b4b69808ac0870086b53150e0200")
T0 = datetime.datetime(2024, 6, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)


def obs(uas, mac, i):
    """Observation i of a flight: a Basic ID and a Location, half a second apart."""
    t = T0 + datetime.timedelta(milliseconds=500 * i)
    loc = bytearray(LOCATION)
    # north and back, 1e-7 degree a step: every drone flies the same kind of
    # track (a wrap back to the start would be a 445 m/s jump, a spoofing
    # alert only the hot drone raised, whose points its track then carried)
    lat = int.from_bytes(loc[5:9], "little", signed=True) + min(i % 40000, 40000 - i % 40000)
    loc[5:9] = lat.to_bytes(4, "little", signed=True)
    loc[21:23] = (((t.minute * 60 + t.second) * 10 + t.microsecond // 100000) % 36000) \
        .to_bytes(2, "little")
    basic = BASIC.format(uas.encode().hex())
    return {"time": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "transport": "ble4",
            "mac": mac, "payload_hex": "f01902" + basic + loc.hex()}


def call(port, token, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def post(port, token, path, body, want):
    status, data = call(port, token, "POST", path, body)
    if status != want or json.loads(data).get("rejected"):
        sys.exit(f"{path}: {status} {data[:200]!r}")


def stored(port, token, uas, last):
    for _ in range(6000):
        status, data = call(port, token, "GET", "/v1/drones/" + uas)
        if status == 200 and json.loads(data)["position_time"] == last["time"]:
            return
        time.sleep(0.05)
    sys.exit(f"{uas}: its last position was not stored")


def main():
    port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    post(port, token, "/v1/drones/receivers",
         {"id": "RX-1", "name": "Mast", "lat": 45.5, "lon": 9.2}, 201)
    for uas, mac, count in (("HOTDRONE0000001", "60:60:1f:00:00:01", n),
                            ("WARMDRONE000001", "60:60:1f:00:00:03", n // 10),
                            ("COLDDRONE000001", "60:60:1f:00:00:02", 100)):
        for start in range(0, count, 1000):
            post(port, token, "/v1/drones/observations", {"receiver": "RX-1", "observations": [
                obs(uas, mac, i) for i in range(start, min(count, start + 1000))]}, 202)
        stored(port, token, uas, obs("", "", count - 1))


if __name__ == "__main__":
    main()
