"""Fit the polynomials csrc/vecmath.h uses for the float32 GELU and its derivative.

Derivative (fg__gelu_rf):

    R(a) = Phi(-a) exp(a^2 / 2) = erfcx(a / sqrt 2) / 2 ~= t P(t),  t = 1 / (1 + a / c),

over 0 <= a <= 15, with float32 coefficients: minimax linear programs on the relative
error, taken against the float32 t the kernel forms; the coefficients are rounded to
float32 one at a time, from the highest degree, each time refitting the rest; then the
error of the float32 evaluation (fused multiply-adds) is measured on a fine grid.

    python tools/fit_gelu.py [--degree 8] [--c 2.8284271247461903]

Prints the largest relative error in float32 ulps and the coefficients (degree 0 first).

Forward (fg__gelu_m, evaluated in double):

    m(a) = a Phi(-a) exp(a^2 / 2) = (a / 2) erfcx(a / sqrt 2) ~= a t Q(t),  t = 1 / (1 + a / c),

over 0 < a <= 15 with double coefficients: least squares reweighted by the error
(Lawson's iteration), which converges to the minimax fit of the relative error.

    python tools/fit_gelu.py --forward [--degree 10] [--c 4]

Prints the largest relative error (as a power of two) and the coefficients, highest degree
first, in the order of the kernel's Horner scheme.  Needs scipy.
"""
import argparse

import numpy as np
from scipy.optimize import linprog
from scipy.special import erfcx

AMAX = 15.0


def target(a):
    return 0.5 * erfcx(a / np.sqrt(2.0))


def t32(a, c):
    """t as the kernel forms it: 1 / fma(a, 1/c, 1) in float32."""
    a = a.astype(np.float32)
    d = (a.astype(np.float64) * np.float64(np.float32(1 / c)) + 1.0).astype(np.float32)
    return (np.float32(1) / d).astype(np.float32)


def lp(M, fixed, free):
    """min e subject to |M[:, free] p + fixed - 1| <= e"""
    Mf = M[:, free]
    n = Mf.shape[1]
    one = np.ones((len(M), 1))
    A = np.vstack([np.hstack([Mf, -one]), np.hstack([-Mf, -one])])
    b = np.concatenate([1 - fixed, -(1 - fixed)])
    c = np.zeros(n + 1)
    c[-1] = 1
    res = linprog(c, A_ub=A, b_ub=b, bounds=[(None, None)] * (n + 1), method="highs")
    return res.x[-1], res.x[:-1]


def fma32(x, y, z):
    return (x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)).astype(np.float32)


def fit(n, c):
    a = np.concatenate([np.linspace(0, AMAX, 6000), AMAX * (1 - np.cos(np.linspace(0, np.pi / 2, 6000)))])
    a = a.astype(np.float32).astype(np.float64)
    t = t32(a, c).astype(np.float64)
    M = (t[:, None] * np.vander(t, n + 1, increasing=True)) / target(a)[:, None]
    coef = np.zeros(n + 1)
    fixed = np.zeros(len(a))
    free = list(range(n + 1))
    for k in range(n, -1, -1):
        _, p = lp(M, fixed, free)
        coef[k] = float(np.float32(p[free.index(k)]))
        fixed = fixed + M[:, k] * coef[k]
        free.remove(k)
    return coef


def forward_m(a):
    return 0.5 * a * erfcx(a / np.sqrt(2.0))


def fit_forward(n, c, iters=30):
    """Q with a t Q(t) ~= m(a), t = 1/(1 + a/c), minimax in the relative error."""
    a = AMAX * (1 - np.cos(np.linspace(0, np.pi, 20001)[1:])) / 2
    t = 1 / (1 + a / c)
    M = (a * t)[:, None] * np.vander(t, n + 1, increasing=True) / forward_m(a)[:, None]
    w = np.full(len(a), 1.0 / len(a))
    for _ in range(iters):
        sw = np.sqrt(w)
        q = np.linalg.lstsq(M * sw[:, None], sw, rcond=None)[0]
        w = w * np.abs(M @ q - 1)
        w /= w.sum()
    return q


def main_forward(n, c):
    q = fit_forward(n, c)
    a = np.linspace(1e-6, AMAX, 1000001)
    t = 1 / (1 + a / c)
    err = np.abs(a * t * np.polynomial.polynomial.polyval(t, q) / forward_m(a) - 1).max()
    print(f"relative error {err:.3g} (2^{np.log2(err):.1f})")
    print("coefficients, highest degree first:", ", ".join(float(x).hex() for x in q[::-1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--forward", action="store_true")
    ap.add_argument("--degree", type=int, default=None)
    ap.add_argument("--c", type=float, default=None)
    args = ap.parse_args()
    if args.forward:
        main_forward(args.degree or 10, args.c or 4.0)
        return
    args.degree = args.degree or 8
    args.c = args.c or 2.8284271247461903
    coef = fit(args.degree, args.c)
    a = np.linspace(0, AMAX, 3000001).astype(np.float32)
    t = t32(a, args.c)
    p = np.full_like(a, np.float32(coef[-1]))
    for k in coef[-2::-1]:
        p = fma32(p, t, np.full_like(a, np.float32(k)))
    r = (t * p).astype(np.float32)
    err = np.abs(r / target(a.astype(np.float64)) - 1)
    print(f"relative error {err.max():.3g} ({err.max() / 2 ** -24:.2f} float32 ulp at 1)")
    print("coefficients, degree 0 first:", ", ".join(float(x).hex() for x in coef))


if __name__ == "__main__":
    main()
