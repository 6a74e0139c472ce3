"""Plain PyTorch baselines for the CUDA benchmarks (same shapes and byte/flop models as
native/cuda/bench/bench.c): the Mamba-1 selective scan (sequential over L, as selective_scan_ref) and the
Mamba-2 SSD chunked form (chunk 64, written with einsum/cumsum as in ssd_minimal_discrete). When transformers is
installed, its segment_sum helper (the one its Mamba2 torch path uses) replaces ours.

Usage: python tools/cuda_bench_torch.py [--iters 3]
Prints one line per case: time per call (CUDA events), GB/s, TFLOP/s for the SSD.
"""
import argparse

import torch
import torch.nn.functional as F

PEAK_GBS = 4800.0


def selective_scan_plain(u, delta, A, B, C, D, z, delta_bias):
    # u, delta, z [b, d, l]; A [d, n]; B, C [b, 1, n, l]; sequential recurrence in float32.
    dt = F.softplus(delta.float() + delta_bias[None, :, None])
    dA = torch.exp(torch.einsum("bdl,dn->bdln", dt, A))
    dBu = torch.einsum("bdl,bnl,bdl->bdln", dt, B[:, 0].float(), u.float())
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float32)
    Cf = C[:, 0].float()
    ys = []
    for t in range(u.shape[2]):
        h = dA[:, :, t] * h + dBu[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, Cf[:, :, t]))
    y = torch.stack(ys, dim=2) + D[None, :, None] * u.float()
    return (y * F.silu(z.float())).to(u.dtype), h


def segsum_plain(x):
    t = x.size(-1)
    x = x[..., None].repeat(*([1] * x.dim()), t)
    mask = torch.tril(torch.ones(t, t, device=x.device, dtype=torch.bool), diagonal=-1)
    x = x.masked_fill(~mask, 0)
    s = torch.cumsum(x, dim=-2)
    mask = torch.tril(torch.ones(t, t, device=x.device, dtype=torch.bool), diagonal=0)
    return s.masked_fill(~mask, -torch.inf)


def ssd_chunked_plain(x, dt, A, B, C, D, z, dt_bias, q=64, segsum=segsum_plain):
    # x, z [b, l, h, p]; dt [b, l, h]; A [h]; B, C [b, l, 1, n]; returns out [b, l, h, p] and final state.
    b, l, h, p = x.shape
    c = l // q
    dtf = F.softplus(dt.float() + dt_bias)
    xd = (x.float() * dtf[..., None]).reshape(b, c, q, h, p)
    Bc = B.float().expand(b, l, h, B.shape[-1]).reshape(b, c, q, h, -1)
    Cc = C.float().expand(b, l, h, C.shape[-1]).reshape(b, c, q, h, -1)
    Ac = (dtf * A).reshape(b, c, q, h).permute(0, 3, 1, 2)  # b h c q
    A_cum = torch.cumsum(Ac, dim=-1)
    Lm = torch.exp(segsum(Ac))
    y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", Cc, Bc, Lm, xd)
    decay_states = torch.exp(A_cum[..., -1:] - A_cum)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", Bc, decay_states, xd)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cum[..., -1], (1, 0))))
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states, final = new_states[:, :-1], new_states[:, -1]
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Cc, states, torch.exp(A_cum))
    y = (y_diag + y_off).reshape(b, l, h, p) + D[:, None] * x.float()
    return (y * F.silu(z.float())).to(x.dtype), final


def timed(fn, iters):
    fn()
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(iters):
        fn()
    e1.record()
    torch.cuda.synchronize()
    return e0.elapsed_time(e1) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    dev = "cuda"
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")

    bsz, d, l, n = 8, 1536, 4096, 16
    for dtype in (torch.float32, torch.bfloat16):
        u = (torch.rand(bsz, d, l, device=dev) * 2 - 1).to(dtype)
        delta = (torch.rand(bsz, d, l, device=dev) * 4 - 3).to(dtype)
        A = -torch.arange(1, n + 1, device=dev, dtype=torch.float32).repeat(d, 1)
        B = (torch.rand(bsz, 1, n, l, device=dev) * 2 - 1).to(dtype)
        C = (torch.rand(bsz, 1, n, l, device=dev) * 2 - 1).to(dtype)
        D = torch.rand(d, device=dev) * 2 - 1
        z = (torch.rand(bsz, d, l, device=dev) * 4 - 2).to(dtype)
        bias = torch.rand(d, device=dev) * 2 - 1
        ms = timed(lambda: selective_scan_plain(u, delta, A, B, C, D, z, bias), max(1, args.iters // 3))
        es = u.element_size()
        nbytes = es * (4.0 * bsz * d * l + 2.0 * bsz * n * l)
        print(f"torch scan (sequential) {str(dtype)[6:]:8s} B={bsz} D={d} L={l} N={n}: {ms * 1e3:10.1f} us  {nbytes / (ms * 1e-3) / 1e9:7.1f} GB/s")
        del u, delta, B, C, z

    segsum = segsum_plain
    source = "plain"
    try:
        from transformers.models.mamba2 import modeling_mamba2 as m2

        if hasattr(m2, "segment_sum"):
            segsum, source = m2.segment_sum, "transformers.segment_sum"
    except Exception as e:  # noqa: BLE001
        print(f"transformers Mamba2 helpers unavailable: {e}")

    bsz, l, h, p, n, q = 8, 4096, 24, 64, 128, 64
    flops = bsz * h * (l // q) * 2.0 * q * (q * n + q * p + 2.0 * p * n)
    for dtype in (torch.float32, torch.bfloat16):
        x = (torch.rand(bsz, l, h, p, device=dev) * 2 - 1).to(dtype)
        dt = (torch.rand(bsz, l, h, device=dev) * 3 - 4).to(dtype)
        A = -(torch.rand(h, device=dev) * 7 + 1)
        B = (torch.rand(bsz, l, 1, n, device=dev) * 2 - 1).to(dtype)
        C = (torch.rand(bsz, l, 1, n, device=dev) * 2 - 1).to(dtype)
        D = torch.rand(h, device=dev)
        z = (torch.rand(bsz, l, h, p, device=dev) * 4 - 2).to(dtype)
        dtb = torch.rand(h, device=dev) * 2 - 1
        for name, sfn in (("plain", segsum_plain), (source, segsum)) if source != "plain" else (("plain", segsum_plain),):
            ms = timed(lambda: ssd_chunked_plain(x, dt, A, B, C, D, z, dtb, q, sfn), args.iters)
            es = x.element_size()
            nbytes = es * (3.0 * bsz * l * h * p + bsz * l * h + 2.0 * bsz * l * n)
            print(f"torch ssd chunked ({name}) {str(dtype)[6:]:8s} B={bsz} L={l} H={h} P={p} N={n}: {ms * 1e3:10.1f} us  {flops / (ms * 1e-3) / 1e12:6.2f} TFLOP/s  {nbytes / (ms * 1e-3) / 1e9:7.1f} GB/s")
        del x, dt, B, C, z


if __name__ == "__main__":
    main()
