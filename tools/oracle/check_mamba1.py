#!/usr/bin/env python3
"""Use MambaRef as an oracle from Python (numpy + safetensors only).

Loads Mamba-1 selective-scan cases from reference-outputs/, runs a candidate implementation (a plain float32
numpy loop over tokens, standing in for your kernel), saves its outputs as CASE.safetensors and calls
`mambaref check`, which compares them with the float64 expected outputs under the manifest's fp32 tolerance.

    python tools/oracle/check_mamba1.py --mambaref path/to/mambaref [--reference-dir reference-outputs]
                                        [--out candidates] [--case mamba1_small ...]

Exit code: that of `mambaref check` (0 only if every case passes).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def softplus(x):
    # PyTorch's softplus: x itself above 20, log1p(exp(x)) below.
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def silu(x):
    return x / (1 + np.exp(-x))


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, h0=None):
    """The candidate: selective_scan_fn semantics, float32, one token at a time.

    u, delta, z: [b, d, l]; A: [d, n]; B, C: [b, n, l], [b, g, n, l] or static [d, n]; D, delta_bias: [d];
    h0: [b, d, n]. Returns out [b, d, l] and last_state [b, d, n].
    """
    b, d, l = u.shape
    n = A.shape[1]
    dt = delta + delta_bias[None, :, None] if delta_bias is not None else delta
    if delta_softplus:
        dt = softplus(dt)

    def per_channel(m, t):  # B or C at token t as [b, d, n]; channel d reads group d // (D / G)
        if m.ndim == 2:
            return np.broadcast_to(m, (b, d, n))
        if m.ndim == 3:
            return np.broadcast_to(m[:, None, :, t], (b, d, n))
        return np.repeat(m[:, :, :, t], d // m.shape[1], axis=1)

    h = np.zeros((b, d, n), np.float32) if h0 is None else h0.copy()
    out = np.empty((b, d, l), np.float32)
    for t in range(l):
        h = np.exp(dt[:, :, t, None] * A[None]) * h + (dt[:, :, t] * u[:, :, t])[:, :, None] * per_channel(B, t)
        y = (h * per_channel(C, t)).sum(-1)
        if D is not None:
            y = y + D[None] * u[:, :, t]
        if z is not None:
            y = y * silu(z[:, :, t])
        out[:, :, t] = y
    return out, h


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mambaref", default="mambaref", help="the mambaref executable")
    p.add_argument("--reference-dir", default="reference-outputs")
    p.add_argument("--out", default="candidates", help="directory for the candidate files")
    p.add_argument("--case", action="append", help="case name (repeatable); default: every selective_scan_fn case")
    a = p.parse_args()

    with open(os.path.join(a.reference_dir, "manifest.json")) as f:
        manifest = json.load(f)
    cases = [c for c in manifest["cases"] if c["op"] == "selective_scan_fn" and (not a.case or c["name"] in a.case)]
    if not cases:
        sys.exit("no matching selective_scan_fn case in the manifest")

    os.makedirs(a.out, exist_ok=True)
    for c in cases:
        x = load_file(os.path.join(a.reference_dir, c["file"]))  # inputs are float32, named as the op's arguments
        out, last_state = selective_scan(
            x["u"], x["delta"], x["A"], x["B"], x["C"], D=x.get("D"), z=x.get("z"), delta_bias=x.get("delta_bias"),
            delta_softplus=c["arguments"]["delta_softplus"], h0=x.get("h0"))
        save_file({"out": out, "last_state": last_state.astype(np.float32)}, os.path.join(a.out, c["name"] + ".safetensors"))

    cmd = [a.mambaref, "check", "--reference-dir", a.reference_dir, "--candidate-dir", a.out, "--json"]
    for c in cases:
        cmd += ["--case", c["name"]]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode not in (0, 1) or not run.stdout.strip():
        sys.stderr.write(run.stderr)
        sys.exit(run.returncode or 2)
    report = json.loads(run.stdout)
    worst = 0.0
    for r in report["cases"]:
        for t in r["tensors"]:
            ratio = t["worst_ratio"] if isinstance(t["worst_ratio"], (int, float)) else float("inf")
            worst = max(worst, ratio)
            print(f'{"PASS" if t["passed"] else "FAIL"} {r["case"]:28s} {t["name"]:10s} max_abs {t["max_abs"]:.3g}  '
                  f'max_ulp {t["max_ulp"]:.3g}  worst ratio {ratio:.3g} at {t["worst_position"]}')
        for e in r["errors"]:
            print(f'FAIL {r["case"]}: {e}')
    passed = sum(r["passed"] for r in report["cases"])
    print(f"{passed}/{len(report['cases'])} cases passed; worst error/tolerance ratio {worst:.3g}")
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
