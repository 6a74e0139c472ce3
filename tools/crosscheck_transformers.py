#!/usr/bin/env python3
"""Cross-check fixtures: random-init transformers models whose logits MambaRef must reproduce.

For each configuration below (Mamba, Mamba-2 with n_groups 1 and > 1 and odd sizes, FalconMamba) this builds a
random-init `MambaForCausalLM` / `Mamba2ForCausalLM` / `FalconMambaForCausalLM`, perturbs the parameters that the
default initialisation leaves at 0 or 1 (norm weights, D, biases) so that every tensor matters, `save_pretrained`s
it, and runs transformers' pure-PyTorch forward on the CPU (the CUDA kernels are never used: no `mamba_ssm` on the
CPU path) in float32 and float64 (see tools/torch_f64.py for how the float64 forward is kept in float64).

Output, per fixture, in OUT/<name>/: config.json and model.safetensors (float32, as save_pretrained wrote them) and
expected.safetensors with
  input_ids [L] int64, logits_f32 [L, V] float32, logits_f64 [L, V] float64
and for Mamba-2 with n_groups > 1 also
  logits_ref_f64_norm_per_group, logits_ref_f32_norm_per_group
computed with transformers' MambaRMSNormGated patched to normalise per group of d_inner/n_groups channels.
transformers normalises over the whole d_inner, mamba_ssm (the reference implementation, whose checkpoints these
are) and MATH.md per group; the two agree only when n_groups = 1. MambaRef follows MATH.md, so its tests compare
G > 1 fixtures against the per-group reference (and check that they differ from the unpatched one).

Run (device machine, CPU only, a few seconds):
  HF_HUB_OFFLINE=1 python3 tools/crosscheck_transformers.py --out tests/MambaRef.Tests/TestData/crosscheck
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    FalconMambaConfig,
    FalconMambaForCausalLM,
    Mamba2Config,
    Mamba2ForCausalLM,
    MambaConfig,
    MambaForCausalLM,
)

from torch_f64 import forward_f32, forward_f64, per_group_gated_norm, rel_err  # noqa: E402

INF = float("inf")

FIXTURES = [
    # Mamba-1, small regular sizes, tied head.
    dict(name="mamba-d64", kind="mamba", seq=41, seed=1, cfg=dict(
        vocab_size=97, hidden_size=64, state_size=16, num_hidden_layers=2, expand=2, conv_kernel=4,
        time_step_rank=4, use_bias=False, use_conv_bias=True, tie_word_embeddings=True)),
    # Mamba-1, odd sizes: d_model 72, expand 1 (d_inner 72), N 7, kernel 3, dt_rank 5, biases, untied head.
    dict(name="mamba-odd-d72", kind="mamba", seq=37, seed=2, cfg=dict(
        vocab_size=131, hidden_size=72, state_size=7, num_hidden_layers=2, expand=1, conv_kernel=3,
        time_step_rank=5, use_bias=True, use_conv_bias=False, tie_word_embeddings=False)),
    # FalconMamba: RMSNorms on B, C and dt.
    dict(name="falcon-mamba-d48", kind="falcon_mamba", seq=33, seed=3, cfg=dict(
        vocab_size=100, hidden_size=48, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4,
        time_step_rank=6, use_bias=False, use_conv_bias=True, mixer_rms_eps=1e-6, tie_word_embeddings=True)),
    # Mamba-2, one group, several chunks (chunk 16, L 45: a padded last chunk).
    dict(name="mamba2-g1-d64", kind="mamba2", seq=45, seed=4, cfg=dict(
        vocab_size=97, hidden_size=64, state_size=16, num_hidden_layers=2, expand=2, conv_kernel=4,
        head_dim=16, num_heads=8, n_groups=1, chunk_size=16, use_bias=False, use_conv_bias=True,
        time_step_limit=(0.0, INF), tie_word_embeddings=True)),
    # Mamba-2, odd sizes: d_model 72, head_dim 12 (12 heads), 4 groups, N 10, kernel 3, biases, dt clamp that binds.
    dict(name="mamba2-g4-d72-hd12", kind="mamba2", seq=39, seed=5, cfg=dict(
        vocab_size=131, hidden_size=72, state_size=10, num_hidden_layers=2, expand=2, conv_kernel=3,
        head_dim=12, num_heads=12, n_groups=4, chunk_size=8, use_bias=True, use_conv_bias=True,
        time_step_limit=(0.005, 0.08), tie_word_embeddings=False)),
    # Mamba-2, 2 groups, head_dim 20, no conv bias.
    dict(name="mamba2-g2-d40-hd20", kind="mamba2", seq=30, seed=6, cfg=dict(
        vocab_size=89, hidden_size=40, state_size=12, num_hidden_layers=3, expand=2, conv_kernel=4,
        head_dim=20, num_heads=4, n_groups=2, chunk_size=16, use_bias=False, use_conv_bias=False,
        time_step_limit=(0.0, INF), tie_word_embeddings=True)),
]

CLASSES = {
    "mamba": (MambaConfig, MambaForCausalLM),
    "falcon_mamba": (FalconMambaConfig, FalconMambaForCausalLM),
    "mamba2": (Mamba2Config, Mamba2ForCausalLM),
}


def perturb(model, gen):
    """Norm weights, D, biases and A_log get random values (their defaults are constants)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.copy_(1.0 + 0.3 * noise)
            elif name.endswith(".D"):
                p.copy_(noise)
            elif name.endswith("A_log"):
                p.add_(0.2 * noise)
            elif name.endswith("conv1d.bias") or name.endswith("in_proj.bias") or name.endswith("out_proj.bias"):
                p.copy_(0.1 * noise)
            elif name.endswith("dt_proj.bias") or name.endswith("dt_bias"):
                p.add_(0.3 * noise)
            elif name.endswith("embeddings.weight") or name.endswith("lm_head.weight"):
                p.copy_(0.5 * noise)


def build(fx):
    cfg_cls, model_cls = CLASSES[fx["kind"]]
    cfg = cfg_cls(**fx["cfg"], residual_in_fp32=True)
    torch.manual_seed(fx["seed"])
    model = model_cls(cfg).eval()
    perturb(model, torch.Generator().manual_seed(1000 + fx["seed"]))
    return cfg, model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    summary = {"torch": torch.__version__, "transformers": transformers.__version__, "fixtures": {}}
    for fx in FIXTURES:
        cfg, model = build(fx)
        gen = torch.Generator().manual_seed(7 + fx["seed"])
        ids = torch.randint(0, cfg.vocab_size, (1, fx["seq"]), generator=gen)
        out_dir = os.path.join(args.out, fx["name"])
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            for f in ("config.json", "model.safetensors"):
                shutil.copy(os.path.join(tmp, f), out_dir)
            # Reference logits from the saved files, as a user would load them.
            _, model_cls = CLASSES[fx["kind"]]
            loaded = model_cls.from_pretrained(tmp, dtype=torch.float32).eval()
        l32 = forward_f32(loaded, ids)[0]
        l64 = forward_f64(loaded, ids)[0]
        tensors = {"input_ids": ids[0].to(torch.int64), "logits_f32": l32.contiguous(), "logits_f64": l64.contiguous()}
        info = {"kind": fx["kind"], "seq_len": fx["seq"], "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in fx["cfg"].items()},
                "rel_f32_vs_f64": rel_err(l32, l64)}
        groups = fx["cfg"].get("n_groups", 1)
        if fx["kind"] == "mamba2" and groups > 1:
            for layer in loaded.backbone.layers:
                per_group_gated_norm(layer.mixer.norm, groups)
            p64 = forward_f64(loaded, ids)[0]
            p32 = forward_f32(loaded, ids)[0]
            tensors["logits_ref_f64_norm_per_group"] = p64.contiguous()
            tensors["logits_ref_f32_norm_per_group"] = p32.contiguous()
            info["rel_per_group_vs_full_norm_f64"] = rel_err(p64, l64)
            info["rel_per_group_f32_vs_f64"] = rel_err(p32, p64)
        save_file(tensors, os.path.join(out_dir, "expected.safetensors"))
        with open(os.path.join(out_dir, "expected.json"), "w") as f:
            json.dump(info, f, indent=2)
        summary["fixtures"][fx["name"]] = info
        print(fx["name"], json.dumps(info), flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
