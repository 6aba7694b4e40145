#!/usr/bin/python3
"""The Python peer of `customs risk score` for bench/risk: the same saved
model (XGBoost JSON booster and feature tables from the customs registry),
the same features computed with pandas/numpy, xgboost's inplace_predict, and
the same output ("Declaration ID,score,lane"). Written as a data scientist
would: vectorised pandas, no Python loop per row.

Usage: score.py DB INPUT.csv OUTPUT.csv [MODEL_ID]
THREADS=N sets XGBoost's threads (default: xgboost's own, all CPUs).
Needs Debian's python3-xgboost, python3-pandas and python3-numpy.
"""
import json
import os
import sqlite3
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

KEYS = ["importer", "declarant", "seller", "hs6", "hs4", "hs2", "office", "origin",
        "departure", "hs6_origin", "route", "same", "same_hs6_value"]


def load_model(db, model_id):
    con = sqlite3.connect(db)
    if model_id:
        row = con.execute("SELECT id, booster, tables, metrics, features FROM risk_models "
                          "WHERE id=?", (model_id,)).fetchone()
    else:
        row = con.execute("SELECT m.id, m.booster, m.tables, m.metrics, m.features FROM "
                          "risk_active a JOIN risk_models m ON m.id=a.model_id").fetchone()
    con.close()
    if row is None:
        sys.exit("score.py: no such model")
    mid, booster_json, tables, metrics, features = row
    booster = xgb.Booster()
    booster.load_model(bytearray(booster_json))
    return mid, booster, json.loads(tables), json.loads(metrics), json.loads(features)


def hexbits(a):
    """16 hex digits of each double's bit pattern ("" for NaN), -0 as 0."""
    a = np.where(a == 0, 0.0, a).astype(np.float64)
    s = pd.Series(a.view(np.uint64)).map("{:016x}".format)
    return s.where(~np.isnan(a), "")


def hs2022_codes():
    d = os.environ.get("CUSTOMS_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..",
                                                      "data"))
    hs = pd.read_csv(os.path.join(d, "hs", "harmonized-system.csv"), dtype=str)
    return set(hs.loc[hs.level == "6", "hscode"])


def features(df, T, names):
    m = float(T["smoothing"])
    prior = float(T["prior"])
    value = df["Item Price"].to_numpy(np.float64)
    mass = df["Net Mass"].to_numpy(np.float64)
    tax = df["Tax Rate"].to_numpy(np.float64)
    lv = np.log1p(np.where(value >= 0, value, np.nan))
    lm = np.log1p(np.where(mass >= 0, mass, np.nan))
    lu = lv - lm
    hs6 = df["HS6 Code"]
    org, dep = df["Country of Origin"], df["Country of Departure"]
    route = hs6 + "|" + dep + "|" + org + "|" + df["Tax Type"] + "|" + hexbits(tax)
    vhex, mhex = hexbits(value), hexbits(mass)
    keys = {
        "importer": df["Importer ID"], "declarant": df["Declarant ID"],
        "seller": df["Seller ID"], "hs6": hs6, "hs4": hs6.str[:4], "hs2": hs6.str[:2],
        "office": df["Office ID"], "origin": org, "departure": dep,
        "hs6_origin": hs6 + "|" + org, "route": route,
        "same": route + "|" + vhex + "|" + mhex, "same_hs6_value": hs6 + "|" + vhex,
    }
    present = {
        "importer": df["Importer ID"] != "", "declarant": df["Declarant ID"] != "",
        "seller": df["Seller ID"] != "", "office": df["Office ID"] != "",
        "origin": org != "", "departure": dep != "", "hs6_origin": org != "",
        "same": ~(np.isnan(value) | np.isnan(mass)), "same_hs6_value": ~np.isnan(value),
    }
    X = pd.DataFrame(index=df.index)
    X["value_log"], X["mass_log"], X["unit_value_log"], X["tax_rate"] = lv, lm, lu, tax
    for name, col in (("unit_value_dev_hs6", "hs6"), ("unit_value_dev_hs6_origin", "hs6_origin")):
        t = T["uv"][col]
        idx = pd.Index(t["keys"]).get_indexer(keys[col])
        med = np.append(np.asarray(t["median"], np.float64), np.nan)[idx]
        mad = np.append(np.asarray(t["mad"], np.float64), np.nan)[idx]
        cnt = np.append(np.asarray(t["n"], np.int64), 0)[idx]
        z = (lu - med) / (1.4826 * mad + 0.05)
        X[name] = np.where((idx >= 0) & (cnt >= 3) & present.get(col, True), z, np.nan)
    both = (org != "") & (dep != "")
    X["origin_is_departure"] = np.where(both, (org == dep).astype(np.float64), np.nan)
    X["country_unknown"] = ((org == "ZZ") | (dep == "ZZ")).astype(np.float64)
    X["hs_unknown"] = (~hs6.isin(hs2022_codes())).astype(np.float64)
    tm = df["Mode of Transport"]
    digits = tm.str.fullmatch(r"[0-9]{1,6}")
    X["transport_mode"] = pd.to_numeric(tm.where(digits, None), errors="coerce")
    X["seller_missing"] = (df["Seller ID"] == "").astype(np.float64)
    X["courier_present"] = (df["Courier ID"] != "").astype(np.float64)
    for k in KEYS:
        t = T["te"][k]
        idx = pd.Index(t["keys"]).get_indexer(keys[k])
        n = np.append(np.asarray(t["n"], np.float64), 0.0)[idx]
        pos = np.append(np.asarray(t["pos"], np.float64), 0.0)[idx]
        ok = np.asarray(present.get(k, True))
        X["te_" + k] = np.where(ok, (pos + m * prior) / (n + m), np.nan)
        X["n_" + k] = np.where(ok, n, np.nan)
    X["importer_past_n"] = X["n_importer"]
    X["importer_past_fraud_rate"] = X["te_importer"]
    X["declarant_past_n"] = X["n_declarant"]
    X["declarant_past_fraud_rate"] = X["te_declarant"]
    for w, col in (("route", "route"), ("hs6", "hs6")):
        fr, dist = nearest(T["near"][w], keys[col], lv, lm)
        X["nearest_%s_fraud" % w], X["nearest_%s_dist" % w] = fr, dist
    return X[names].to_numpy(np.float32)


def nearest(t, key, lv, lm, chunk=4096):
    """Share of fraud among the labelled cases at the smallest distance in
    (log value, log mass) within the same group, and that distance."""
    counts = np.asarray(t["count"], np.int64)
    start = np.concatenate([[0], np.cumsum(counts)])
    rlv = np.asarray(t["lv"], np.float64)
    rlm = np.asarray(t["lm"], np.float64)
    rlab = np.asarray(t["label"], np.float64)
    g = pd.Index(t["keys"]).get_indexer(key)
    g = np.where(np.isnan(lv) | np.isnan(lm), -1, g)
    fr = np.full(len(key), np.nan)
    dist = np.full(len(key), np.nan)
    rows = pd.Series(np.arange(len(key)))[g >= 0]
    for gid, idx in rows.groupby(g[g >= 0]).indices.items():
        idx = rows.to_numpy()[idx]
        a, b = start[gid], start[gid + 1]
        for c0 in range(0, len(idx), chunk):
            q = idx[c0:c0 + chunk]
            d2 = (lv[q, None] - rlv[None, a:b]) ** 2 + (lm[q, None] - rlm[None, a:b]) ** 2
            best = d2.min(axis=1)
            tie = d2 == best[:, None]
            fr[q] = (tie * rlab[None, a:b]).sum(axis=1) / tie.sum(axis=1)
            dist[q] = np.sqrt(best)
    return fr, dist


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def thresholds(q, inspect=10.0, yellow=15.0):
    q = np.asarray(q, np.float64)
    nq = len(q)

    def quantile(p):
        if p <= 0:
            return q[0]
        if p >= 1:
            return q[-1]
        pos = p * (nq - 1)
        i = int(pos)
        if i >= nq - 1:
            return q[-1]
        f = pos - i
        return q[i] if f == 0 else q[i] + f * (q[i + 1] - q[i])

    def tie(t, share):
        sgt, sge = (q > t).sum() / nq, (q >= t).sum() / nq
        if sge - sgt <= 0:
            return 1.0
        return min(max((share - sgt) / (sge - sgt), 0.0), 1.0)

    red_s, both = inspect / 100, (inspect + yellow) / 100
    red, red_tie = quantile(1 - red_s), 1.0
    red_tie = tie(red, red_s)
    ylw = quantile(1 - both)
    ytie = tie(ylw, both)
    if ylw == red:
        ytie = (ytie - red_tie) / (1 - red_tie) if red_tie < 1 else 0.0
        ytie = min(max(ytie, 0.0), 1.0)
    return red, red_tie, ylw, ytie


def lanes(score, th):
    red, red_tie, ylw, ytie = th
    s = score.astype(np.float64)
    lane = np.where(s > red, "red", np.where(s > ylw, "yellow", "green")).astype(object)
    state = 0x5EED
    for i in np.flatnonzero((s == red) | (s == ylw)):  # ties at a threshold: rare
        done = False
        for t, p, name in ((red, red_tie, "red"), (ylw, ytie, "yellow")):
            if s[i] == t and not done:
                take = p >= 1
                if 0 < p < 1:
                    state, r = splitmix64(state)
                    take = (r >> 11) * (2.0 ** -53) < p
                if take:
                    lane[i], done = name, True
        if not done:
            lane[i] = "green" if s[i] <= ylw else lane[i]
    return lane


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    db, src, dst = sys.argv[1:4]
    mid, booster, T, metrics, names = load_model(db, sys.argv[4] if len(sys.argv) > 4 else None)
    num = {"Tax Rate": np.float64, "Net Mass": np.float64, "Item Price": np.float64}
    df = pd.read_csv(src, dtype={**{c: str for c in pd.read_csv(src, nrows=0).columns}, **num},
                     keep_default_na=False, na_values={c: [""] for c in num},
                     float_precision="round_trip")
    if os.environ.get("THREADS"):
        booster.set_param({"nthread": int(os.environ["THREADS"])})
    X = features(df, T, names)
    score = booster.inplace_predict(X, missing=np.nan)
    lane = lanes(score, thresholds(metrics["score_quantiles"]))
    out = pd.DataFrame({"Declaration ID": df["Declaration ID"], "score": score, "lane": lane})
    out.to_csv(dst, index=False, float_format="%.6f", lineterminator="\n")
    print("scored %d rows with model %s" % (len(df), mid), file=sys.stderr)


if __name__ == "__main__":
    main()
