"""Plain PyTorch baselines for the CUDA benchmarks (same shapes and byte/flop models as
native/cuda/bench/bench.c): the Mamba-1 selective scan (sequential over L, as selective_scan_ref) and the
Mamba-2 SSD chunked form (chunk 64, written with einsum/cumsum as in ssd_minimal_discrete). When transformers is
installed, its segment_sum helper (the one its Mamba2 torch path uses) replaces ours, and its Mamba2Mixer.torch_forward
(the whole mixer: in_proj, conv1d, chunked SSD, gated RMSNorm, out_proj) is timed at the same shape.

SSD variants, so that the comparison is against the fastest plain form, not a strawman:
  plain          float32 einsums, B/C broadcast to every head (as ssd_minimal_discrete takes them);
  plain-shared   float32 einsums, the one B/C group used directly (C·Bᵀ computed once for all heads);
  plain-native   as plain-shared with the einsums in the storage type (bf16/f16 tensor cores; f32 accumulation
                 inside each product, 16-bit between them), reported with its error against `plain`.

Usage: python tools/cuda_bench_torch.py [--iters 3] [--ops scan,ssd,mixer]
Prints one line per case: time per call (CUDA events, after one warm-up call), GB/s, TFLOP/s for the SSD.
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


def ssd_chunked_shared(x, dt, A, B, C, D, z, dt_bias, q=64, segsum=segsum_plain, cdt=torch.float32):
    # As ssd_chunked_plain for one B/C group (G = 1), without broadcasting B and C to the heads; products in cdt.
    b, l, h, p = x.shape
    c = l // q
    dtf = F.softplus(dt.float() + dt_bias)
    xd = (x.float() * dtf[..., None]).to(cdt).reshape(b, c, q, h, p)
    Bc = B[:, :, 0].to(cdt).reshape(b, c, q, -1)
    Cc = C[:, :, 0].to(cdt).reshape(b, c, q, -1)
    Ac = (dtf * A).reshape(b, c, q, h).permute(0, 3, 1, 2)  # b h c q
    A_cum = torch.cumsum(Ac, dim=-1)
    Lm = torch.exp(segsum(Ac)).to(cdt)
    CB = torch.einsum("bcln,bcsn->bcls", Cc, Bc)
    y_diag = torch.einsum("bhcls,bcshp->bclhp", CB[:, None] * Lm, xd)
    decay_states = torch.exp(A_cum[..., -1:] - A_cum).to(cdt)
    states = torch.einsum("bcln,bhcl,bclhp->bchpn", Bc, decay_states, xd)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cum[..., -1], (1, 0)))).to(cdt)
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states, final = new_states[:, :-1], new_states[:, -1]
    y_off = torch.einsum("bcln,bchpn,bhcl->bclhp", Cc, states, torch.exp(A_cum).to(cdt))
    y = (y_diag.float() + y_off.float()).reshape(b, l, h, p) + D[:, None] * x.float()
    return (y * F.silu(z.float())).to(x.dtype), final.float()


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
    ap.add_argument("--ops", default="scan,ssd,mixer")
    args = ap.parse_args()
    ops = set(args.ops.split(","))
    dev = "cuda"
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")

    bsz, d, l, n = 8, 1536, 4096, 16
    for dtype in (torch.float32, torch.bfloat16) if "scan" in ops else ():
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
    for dtype in (torch.float32, torch.bfloat16) if "ssd" in ops else ():
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
        with torch.no_grad():
            ref, ref_fin = ssd_chunked_plain(x, dt, A, B, C, D, z, dtb, q, segsum_plain)
        variants = [("plain-shared", torch.float32)] + ([("plain-native", dtype)] if dtype != torch.float32 else [])
        for name, cdt in variants:
            fn = lambda: ssd_chunked_shared(x, dt, A, B, C, D, z, dtb, q, segsum_plain, cdt)  # noqa: E731
            ms = timed(fn, args.iters)
            with torch.no_grad():
                y, fin = fn()
            err = (y.float() - ref.float()).abs().max().item()
            ferr = (fin - ref_fin).abs().max().item() / max(ref_fin.abs().max().item(), 1e-30)
            print(f"torch ssd chunked ({name}) {str(dtype)[6:]:8s} B={bsz} L={l} H={h} P={p} N={n}: {ms * 1e3:10.1f} us  {flops / (ms * 1e-3) / 1e12:6.2f} TFLOP/s  {nbytes / (ms * 1e-3) / 1e9:7.1f} GB/s  (max |out - plain| {err:.3g}, final state rel {ferr:.3g})")
        del x, dt, B, C, z, ref, ref_fin

    if "mixer" in ops:
        try:
            from transformers import Mamba2Config
            from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer
        except Exception as e:  # noqa: BLE001
            print(f"transformers Mamba2Mixer unavailable: {e}")
            return
        import transformers

        for dtype in (torch.float32, torch.bfloat16):
            try:
                cfg = Mamba2Config(hidden_size=h * p // 2, expand=2, num_heads=h, head_dim=p, state_size=n, n_groups=1,
                                   chunk_size=q, conv_kernel=4, num_hidden_layers=1, vocab_size=16)
                mixer = Mamba2Mixer(cfg, layer_idx=0).to(dev, dtype).eval()
                hs = torch.randn(bsz, l, cfg.hidden_size, device=dev, dtype=dtype) * 0.5
                from transformers.models.mamba2 import modeling_mamba2 as m2

                # Older releases expose the pure-PyTorch path as torch_forward; newer ones choose it inside forward
                # when the mamba_ssm / causal_conv1d kernels are not installed (is_fast_path_available False).
                fast = getattr(m2, "is_fast_path_available", None)
                fn, what = (mixer.torch_forward, "torch_forward") if hasattr(mixer, "torch_forward") else (mixer.forward, f"forward (fast path available: {fast})")
                with torch.no_grad():
                    ms = timed(lambda: fn(hs), args.iters)
                print(f"transformers {transformers.__version__} Mamba2Mixer.{what} (whole mixer, chunked SSD inside) {str(dtype)[6:]:8s} B={bsz} L={l} H={h} P={p} N={n}: {ms * 1e3:10.1f} us")
                del mixer, hs
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                print(f"transformers Mamba2Mixer.torch_forward {str(dtype)[6:]}: failed: {type(e).__name__}: {str(e)[:200]}")


if __name__ == "__main__":
    main()
