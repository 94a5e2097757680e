"""Every optimizer equals its reference: parameters and every state tensor, float64 and float32."""

from __future__ import annotations

import pytest
import torch

from tests.optim.cases import CASES, Case
from tests.optim.harness import assert_close_rel, run_side_by_side

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def _compare(case: Case, dtype: torch.dtype, fused: bool | None) -> None:
    (a, ours), (b, ref) = run_side_by_side(case, dtype, fused=fused)
    rtol = TOLERANCE[dtype]
    for i, (pa, pb) in enumerate(zip(a.parameters(), b.parameters())):
        assert torch.isfinite(pa).all(), f"parameter {i} is not finite"
        assert_close_rel(pa.detach(), pb.detach(), rtol, f"{case} {dtype} parameter {i}")
        sa, sb = ours.state[pa], ref.state[pb]
        for key, va in sa.items():
            key_ref = case.state_map.get(key, key)
            if key_ref is None or not torch.is_tensor(va):
                continue
            assert key_ref in sb, f"{case}: reference has no state {key_ref!r}"
            assert_close_rel(va.to(torch.float64), sb[key_ref].to(torch.float64), rtol, f"{case} state {key}")
        ours_keys = {case.state_map.get(k, k) for k in sa} - {None}
        ref_keys = set(sb) - set(case.reference_only)
        assert ours_keys == ref_keys, f"{case}: state keys differ: ours {sorted(sa)}, reference {sorted(sb)}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_reference(case: Case, dtype: torch.dtype) -> None:
    _compare(case, dtype, fused=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", [c for c in CASES if getattr(c.ours, "rule", None) and c.ours.rule.fused], ids=str)
def test_fused_path_matches_reference(case: Case, dtype: torch.dtype) -> None:
    _compare(case, dtype, fused=True)


# The fused step generated from the rule by torch.compile (rules/generated.py), for the rules torch has no fused
# kernel of: one case per rule, the one with the most options on (a second group with other values), so each rule
# compiles its program once per dtype in a session. Same tolerances as the readable rule: 1e-10 (f64), 1e-5 (f32).
GENERATED_CASES = ["rmsprop-centered-momentum-wd", "adadelta-wd-maximize", "adamax-wd-maximize", "nadam-wd",
                   "radam-decoupled"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", [c for c in CASES if c.id in GENERATED_CASES], ids=str)
def test_generated_path_matches_reference(case: Case, dtype: torch.dtype) -> None:
    from descentlab.rules import generated

    step = generated.fused_step(case.ours.rule)
    calls = step.compiled_calls
    _compare(case, dtype, fused=True)
    assert step.compiled_calls >= calls + 2 * case.steps, "the generated path did not run every step"
    assert not step.failed, "a program fell back to the readable rule"


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_non_contiguous_gradients_match_reference(name: str) -> None:
    """torch's CPU fused kernels misread non-contiguous gradients; the default path must still be right."""
    from descentlab import optim

    entry = optim.get(name)
    ref_cls = getattr(torch.optim, entry.cls.__name__)
    torch.manual_seed(0)
    a = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours = entry.create([a], lr=0.01)
    ref = ref_cls([b], lr=0.01, **entry.implied)
    for _ in range(10):
        g = torch.randn(5, 7, dtype=torch.float64).t()  # a transposed, non-contiguous gradient
        a.grad, b.grad = g, g.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
