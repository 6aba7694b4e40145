#!/usr/bin/env python3
"""Parametric test designs for bench/designs, written for customs (CC0).

Generates COUNT random designs from several families (radial blobs, tori,
superellipsoids, twisted star prisms, surfaces of revolution, helical
springs, compounds of primitives), each as a binary STL at a base
resolution and as NAME.fine.stl / NAME.coarse.stl: the same surface
tessellated finer and coarser, the way a CAD export at another quality
setting would. Standard library only; deterministic for a seed.

    shapes.py OUTDIR [COUNT] [SEED]
"""
import math
import os
import random
import struct
import sys


def write_stl(path, tris):
    with open(path, "wb") as f:
        f.write(b"customs bench/designs/shapes.py".ljust(80, b" "))
        f.write(struct.pack("<I", len(tris)))
        for a, b, c in tris:
            f.write(struct.pack("<12fH", 0, 0, 0, *a, *b, *c, 0))


def grid_surface(fn, nu, nv, close_u=True, cap_v=True):
    """Triangles of the parametric surface fn(u, v), u in [0,1) around, v in
    [0,1] along; the two ends of v are closed with fans when cap_v."""
    pts = [[fn(i / nu, j / nv) for i in range(nu)] for j in range(nv + 1)]
    tris = []
    for j in range(nv):
        for i in range(nu if close_u else nu - 1):
            a, b = pts[j][i], pts[j][(i + 1) % nu]
            c, d = pts[j + 1][i], pts[j + 1][(i + 1) % nu]
            tris += [(a, b, d), (a, d, c)]
    if cap_v:
        for j, flip in ((0, True), (nv, False)):
            ring = pts[j]
            cx = [sum(p[k] for p in ring) / len(ring) for k in range(3)]
            for i in range(nu):
                a, b = ring[i], ring[(i + 1) % nu]
                tris.append((cx, b, a) if flip else (cx, a, b))
    return tris


def blob(rng):
    terms = [(rng.randint(1, 4), rng.randint(0, 4), rng.uniform(0, 6.3), rng.uniform(0.05, 0.25))
             for _ in range(rng.randint(2, 5))]
    sx, sy, sz = rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3)

    def f(u, v):
        th, ph = 2 * math.pi * u, math.pi * (0.001 + 0.998 * v)
        r = 1 + sum(a * math.cos(m * th + p) * math.sin(l * ph) for l, m, p, a in terms)
        return (30 * sx * r * math.sin(ph) * math.cos(th), 30 * sy * r * math.sin(ph) * math.sin(th),
                30 * sz * r * math.cos(ph))
    return lambda q: grid_surface(f, int(48 * q), int(24 * q))


def torus(rng):
    big, small, ell = rng.uniform(15, 30), rng.uniform(3, 12), rng.uniform(0.5, 1.5)

    def f(u, v):
        a, b = 2 * math.pi * u, 2 * math.pi * v
        r = big + small * math.cos(b)
        return (r * math.cos(a), r * math.sin(a), ell * small * math.sin(b))
    return lambda q: _closed_v(f, int(48 * q), int(20 * q))


def _closed_v(f, nu, nv):
    pts = [[f(i / nu, j / nv) for i in range(nu)] for j in range(nv)]
    tris = []
    for j in range(nv):
        for i in range(nu):
            a, b = pts[j][i], pts[j][(i + 1) % nu]
            c, d = pts[(j + 1) % nv][i], pts[(j + 1) % nv][(i + 1) % nu]
            tris += [(a, d, b), (a, c, d)]
    return tris


def superellipsoid(rng):
    e1, e2 = rng.uniform(0.2, 1.8), rng.uniform(0.2, 1.8)
    ax = [rng.uniform(10, 40) for _ in range(3)]

    def sp(w, e):
        return math.copysign(abs(w) ** e, w)

    def f(u, v):
        th, ph = 2 * math.pi * u - math.pi, math.pi * (0.001 + 0.998 * v) - math.pi / 2
        return (ax[0] * sp(math.cos(ph), e1) * sp(math.cos(th), e2),
                ax[1] * sp(math.cos(ph), e1) * sp(math.sin(th), e2), ax[2] * sp(math.sin(ph), e1))
    return lambda q: grid_surface(f, int(48 * q), int(24 * q))


def star_prism(rng):
    n, inner, h, twist = rng.randint(3, 9), rng.uniform(0.3, 0.8), rng.uniform(10, 60), rng.uniform(-1.5, 1.5)

    def f(u, v):
        k = u * 2 * n
        i = int(k)
        t = k - i
        ra = 25 if i % 2 == 0 else 25 * inner
        rb = 25 * inner if i % 2 == 0 else 25
        a0, a1 = math.pi * i / n, math.pi * (i + 1) / n
        x = (1 - t) * ra * math.cos(a0) + t * rb * math.cos(a1)
        y = (1 - t) * ra * math.sin(a0) + t * rb * math.sin(a1)
        tw = twist * v
        return (x * math.cos(tw) - y * math.sin(tw), x * math.sin(tw) + y * math.cos(tw), h * v)
    # u samples must include the star's corners: a multiple of 2n around
    return lambda q: grid_surface(f, 2 * n * max(1, int(4 * q)), max(2, int(12 * q)))


def revolution(rng):
    ctrl = [rng.uniform(5, 30) for _ in range(rng.randint(3, 6))]
    h = rng.uniform(30, 90)

    def prof(v):
        x = v * (len(ctrl) - 1)
        i = min(int(x), len(ctrl) - 2)
        t = x - i
        t = t * t * (3 - 2 * t)
        return ctrl[i] * (1 - t) + ctrl[i + 1] * t

    def f(u, v):
        a = 2 * math.pi * u
        r = prof(v)
        return (r * math.cos(a), r * math.sin(a), h * v)
    return lambda q: grid_surface(f, int(48 * q), int(32 * q))


def spring(rng):
    turns, radius, wire, pitch = rng.randint(3, 9), rng.uniform(10, 25), rng.uniform(1.5, 4), rng.uniform(6, 14)

    def f(u, v):
        s = v * turns * 2 * math.pi
        c = (radius * math.cos(s), radius * math.sin(s), pitch * s / (2 * math.pi))
        t = (-math.sin(s), math.cos(s), 0)
        nrm = (math.cos(s), math.sin(s), 0)
        b = (0, 0, 1)
        a = 2 * math.pi * u
        return tuple(c[k] + wire * (math.cos(a) * nrm[k] + math.sin(a) * b[k]) for k in range(3))
    return lambda q: grid_surface(f, int(16 * q), int(40 * turns * q))


def box(cx, cy, cz, sx, sy, sz):
    p = [(cx + dx * sx, cy + dy * sy, cz + dz * sz) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return [t for a, b, c, d in faces for t in ((p[a], p[b], p[c]), (p[a], p[c], p[d]))]


def compound(rng):
    parts = []
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["box", "cyl", "ball"])
        c = [rng.uniform(-20, 20) for _ in range(3)]
        s = [rng.uniform(5, 30) for _ in range(3)]
        parts.append((kind, c, s))

    def make(q):
        tris = []
        for kind, c, s in parts:
            if kind == "box":
                tris += box(*c, *s)
            elif kind == "cyl":
                r, h = s[0] / 2, s[2]
                tris += grid_surface(lambda u, v: (c[0] + r * math.cos(2 * math.pi * u),
                                                   c[1] + r * math.sin(2 * math.pi * u), c[2] + h * v),
                                     int(32 * q), 1)
            else:
                r = s[1] / 2
                tris += grid_surface(lambda u, v: (c[0] + r * math.sin(math.pi * (0.001 + 0.998 * v)) * math.cos(2 * math.pi * u),
                                                   c[1] + r * math.sin(math.pi * (0.001 + 0.998 * v)) * math.sin(2 * math.pi * u),
                                                   c[2] - r * math.cos(math.pi * (0.001 + 0.998 * v))),
                                     int(32 * q), int(16 * q))
        return tris
    return make


FAMILIES = [blob, torus, superellipsoid, star_prism, revolution, spring, compound]


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 28
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        fam = FAMILIES[i % len(FAMILIES)]
        make = fam(rng)
        name = f"gen{seed}_{i:02d}_{fam.__name__}"
        write_stl(os.path.join(out, name + ".stl"), make(1.0))
        write_stl(os.path.join(out, name + ".fine.stl"), make(1.8))
        write_stl(os.path.join(out, name + ".coarse.stl"), make(0.6))


if __name__ == "__main__":
    main()
