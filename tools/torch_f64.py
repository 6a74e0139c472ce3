"""Helpers shared by tools/train_default_models.py and tools/crosscheck_transformers.py (run on the device machine).

transformers' pure-PyTorch Mamba paths cast to float32 in several places (`A_log.float()`, `.to(torch.float32)` in
the RMSNorms, `residual_in_fp32`, `B.float()`), so calling a model converted with `.double()` does not give a float64
forward. `Float64Mode` is a TorchFunctionMode that, while active, turns every float64→float32 conversion requested
through `Tensor.float()` / `Tensor.to(float32)` into a no-op, makes float64 the default dtype for new tensors, and
records any operation that still produces a reduced-precision floating tensor (the scripts fail if one does).
"""

import math

import torch
from torch.overrides import TorchFunctionMode

REDUCED = (torch.float32, torch.float16, torch.bfloat16)


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)


class Float64Mode(TorchFunctionMode):
    """Keeps a float64 model's forward in float64 (see module docstring)."""

    def __init__(self):
        super().__init__()
        self.downcasts = {}
        self._old_default = None

    def __enter__(self):
        self._old_default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        return super().__enter__()

    def __exit__(self, *exc):
        torch.set_default_dtype(self._old_default)
        return super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        if args and isinstance(args[0], torch.Tensor) and args[0].dtype == torch.float64:
            if name == "float":
                return args[0]
            if name == "to":
                args = tuple(torch.float64 if a is torch.float32 else a for a in args)
                if kwargs.get("dtype") is torch.float32:
                    kwargs["dtype"] = torch.float64
            if name == "type" and args[1:] and args[1] in (torch.float32, "torch.FloatTensor"):
                return args[0]
        out = func(*args, **kwargs)
        for t in _tensors(out):
            if t.dtype in REDUCED:
                self.downcasts[name] = self.downcasts.get(name, 0) + 1
        return out


def forward_f64(model, input_ids):
    """Logits [B, L, V] of a float64 copy of `model` (model is converted in place with .double())."""
    model.double()
    mode = Float64Mode()
    with torch.no_grad(), mode:
        logits = model(input_ids=input_ids, use_cache=False).logits
    if mode.downcasts:
        raise RuntimeError(f"float64 forward produced reduced-precision tensors: {mode.downcasts}")
    assert logits.dtype == torch.float64
    return logits


def forward_f32(model, input_ids):
    """Logits [B, L, V] in float32 (no TF32)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model.float()
    with torch.no_grad():
        logits = model(input_ids=input_ids, use_cache=False).logits
    assert logits.dtype == torch.float32
    return logits


def rel_err(a, b):
    """Normwise relative error ‖a − b‖₂ / ‖b‖₂ in float64."""
    a = a.double()
    b = b.double()
    return float(torch.linalg.vector_norm(a - b) / max(float(torch.linalg.vector_norm(b)), 1e-300))


def per_group_gated_norm(norm_module, groups):
    """Patches a transformers MambaRMSNormGated instance to normalise within `groups` groups of channels
    (mamba_ssm's RMSNormGated with group_size = d_inner / ngroups, and MATH.md §3) instead of over all d_inner."""

    def forward(hidden_states, gate=None):
        dtype = hidden_states.dtype
        h = hidden_states
        if gate is not None:
            h = h * torch.nn.functional.silu(gate)
        shape = h.shape
        h = h.reshape(*shape[:-1], groups, shape[-1] // groups)
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + norm_module.variance_epsilon)
        return norm_module.weight * h.reshape(shape).to(dtype)

    norm_module.forward = forward


def perplexity(nll_sum, tokens):
    return math.exp(nll_sum / tokens)
