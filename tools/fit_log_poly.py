"""Fit the polynomial of fastloss's division-free float32 log (src/fl_vmath.h).

log(1 + f) = f - f^2/2 + f^3 P(f) on f in [sqrt(1/2) - 1, sqrt(2) - 1], the reduced
argument range of fl_log_f32.  P is fitted by weighted least squares (weights 1/|f|^2, so
that the *relative* error of log(1 + f) is what is minimised) on Chebyshev nodes, in
extended precision, then rounded to float32; the script reports the worst relative error
of the float32 evaluation.  Run:  python tools/fit_log_poly.py [degree]
"""
import sys

import numpy as np

A, B = np.sqrt(0.5) - 1.0, np.sqrt(2.0) - 1.0


def fit(degree, n=4000):
    k = np.arange(n)
    f = (A + B) / 2 + (B - A) / 2 * np.cos(np.pi * (k + 0.5) / n)
    f = f[np.abs(f) > 1e-4].astype(np.longdouble)
    target = (np.log1p(f) - f + f * f / 2) / f**3
    V = np.vander(f.astype(np.float64), degree + 1, increasing=True)
    w = np.abs(f.astype(np.float64))  # residual of f^3 P relative to log1p(f) ~ f: weight f^2
    coef, *_ = np.linalg.lstsq(V * w[:, None] ** 2, target.astype(np.float64) * w**2,
                               rcond=None)
    return coef.astype(np.float32)


def worst_relative_error(coef, n=200001):
    f = np.linspace(A, B, n).astype(np.float32)
    f = f[f != 0]
    p = np.zeros_like(f)
    for c in coef[::-1]:
        p = p * f + c
    approx = (f - f * f / np.float32(2)) + f * f * f * p
    exact = np.log1p(f.astype(np.float64))
    return float(np.max(np.abs(approx - exact) / np.abs(exact)))


if __name__ == "__main__":
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    coef = fit(degree)
    for i, c in enumerate(coef):
        print(f"c{i} = {float(c)!r}f")
    print("worst relative error (float32 evaluation):", worst_relative_error(coef))
