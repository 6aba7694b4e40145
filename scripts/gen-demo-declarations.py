#!/usr/bin/env python3
"""Generates the demo declarations in data/demo/ (deterministic: seed 2026).

Realistic shapes only: real HS 2022 subheadings with matching descriptions,
ISO 3166 countries, ISO 4217 currencies, ISO 6346 containers with correct
check digits. Run again only to change the demo set.
"""
import csv
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = random.Random(2026)

LETTERS = {}
v = 10
for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if v % 11 == 0:
        v += 1
    LETTERS[c] = v
    v += 1


def container(owner):
    serial = "%06d" % rng.randrange(1000000)
    body = owner + "U" + serial
    s = sum((LETTERS[ch] if i < 4 else int(ch)) << i for i, ch in enumerate(body))
    return body + str(s % 11 % 10)


hs = {}
with open(os.path.join(ROOT, "data/hs/harmonized-system.csv")) as f:
    for row in csv.DictReader(f):
        if row["level"] == "6":
            hs[row["hscode"]] = row["description"]
GOODS = [  # (hs6, typical origin, kg per unit of value in USD, currency)
    ("690722", "CN"), ("940360", "VN"), ("850440", "CN"), ("847130", "CN"), ("620342", "BD"),
    ("030617", "VN"), ("870323", "DE"), ("392690", "CN"), ("640399", "IT"), ("851713", "KR"),
    ("220421", "FR"), ("090111", "BR"), ("020130", "AU"), ("080510", "ES"), ("611020", "TR"),
    ("854231", "TW"), ("300490", "IN"), ("732690", "CN"), ("880610", "CN"), ("401110", "JP"),
]
for code, _ in GOODS:
    assert code in hs, code
OWNERS = ["CSQ", "MSK", "MSC", "HLX", "ONE", "EGH", "CMA", "HMM"]
OFFICES = ["KRPUS", "KRINC", "KRICN", "KRKAN"]
CURRENCY = {"CN": "CNY", "VN": "USD", "DE": "EUR", "IT": "EUR", "FR": "EUR", "ES": "EUR",
            "KR": "KRW", "JP": "JPY", "AU": "AUD", "BR": "USD", "BD": "USD", "TR": "EUR",
            "TW": "USD", "IN": "USD"}


def declaration(org, n):
    items = []
    for i in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 5])):
        code, origin = rng.choice(GOODS)
        if rng.random() < 0.1:
            origin = rng.choice(list(CURRENCY))
        mass = round(rng.lognormvariate(6, 1.2), 1)
        value = round(mass * rng.lognormvariate(2.2, 0.8), 2)
        cur = CURRENCY.get(origin, "USD")
        if cur == "KRW":
            value = round(value * 1350)
        elif cur == "JPY":
            value = round(value * 150)
        items.append({
            "hs_code": code, "description": hs[code][:200], "country_of_origin": origin,
            "origin_indicator": rng.choice(["Y", "E", "G", "B"]),
            "quantity": rng.randrange(1, 2000), "unit": rng.choice(["NAR", "KGM", "PCE"]),
            "net_mass_kg": mass, "gross_mass_kg": round(mass * 1.07, 1),
            "value": value, "currency": cur, "tax_rate": rng.choice([0, 3, 5.2, 8, 13]),
            "tax_type": rng.choice(["A", "C", "FCN1", "FEU1"]),
        })
    month, day = rng.randrange(9, 12), rng.randrange(1, 29)
    d = {
        "reference": f"{org}-2026-{n:05d}", "type": "import",
        "date": f"2026-{month:02d}-{day:02d}", "office": rng.choice(OFFICES),
        "declarant_id": f"BRK-{rng.randrange(10, 60):03d}", "importer_id": f"{org}-IMP",
        "seller_id": f"SEL-{rng.randrange(1000, 9999)}",
        "country_of_departure": items[0]["country_of_origin"],
        "transport_mode": rng.choice(["10", "10", "10", "40"]),
        "procedure": {"process_type": "B", "import_type": "11", "import_use": "21",
                      "payment_type": rng.choice(["11", "43", "18"])},
        "items": items,
    }
    if d["transport_mode"] == "10":
        d["containers"] = [container(rng.choice(OWNERS)) for _ in range(rng.choice([1, 1, 2]))]
        d["transport_document"] = {"type": "BL", "number": f"BL{rng.randrange(10**8, 10**9)}"}
    else:
        d["transport_document"] = {"type": "AWB", "number": f"180-{rng.randrange(10**7, 10**8)}"}
    return d


for org, count in (("ACME-KR", 150), ("HANBIT", 100)):
    with open(os.path.join(ROOT, f"data/demo/{org.lower()}.jsonl"), "w") as f:
        for n in range(1, count + 1):
            f.write(json.dumps(declaration(org, n), ensure_ascii=False) + "\n")
