"""Learning-regime measures: CKA invariances and limits, kernel alignment, the empirical tangent
kernel against a Jacobian computed independently, and weight-change measures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge.analysis as sfa
from spikeforge.errors import ParameterError, ShapeError


def cka_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA as HSIC of the centred Gram matrices (Kornblith et al. 2019, eq. 3-4)."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float(np.trace(k @ l) / math.sqrt(np.trace(k @ k) * np.trace(l @ l)))


@pytest.mark.parametrize(("n", "p"), [(300, 20), (15, 40)])  # feature path and Gram path
def test_cka_is_invariant_to_rotation_and_isotropic_scaling(n, p):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, p)) @ np.diag(np.linspace(0.2, 3.0, p))
    q = np.linalg.qr(rng.standard_normal((p, p)))[0]
    assert sfa.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert sfa.linear_cka(x, 5.0 * x @ q) == pytest.approx(1.0, abs=1e-10)
    assert sfa.linear_cka(x, x + 3.0) == pytest.approx(1.0, abs=1e-10)  # column means are removed
    y = rng.standard_normal((n, 7))
    assert sfa.linear_cka(x, y) == pytest.approx(cka_reference(x, y), rel=1e-10)
    assert sfa.linear_cka(x @ q, 0.1 * y) == pytest.approx(sfa.linear_cka(x, y), rel=1e-10)


def test_cka_is_not_invariant_to_anisotropic_scaling():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 10))
    assert sfa.linear_cka(x, x * np.linspace(0.1, 5.0, 10)) < 0.9


def test_cka_of_independent_representations_is_near_zero():
    rng = np.random.default_rng(2)
    n, p, q = 5000, 10, 10
    cka = sfa.linear_cka(rng.standard_normal((n, p)), rng.standard_normal((n, q)))
    assert cka < 5 * math.sqrt(p * q) / n  # its bias is about sqrt(p q) / n = 0.002
    gen = torch.Generator().manual_seed(5)
    assert (
        sfa.representation_change(torch.randn(200, 8, generator=gen), torch.randn(200, 8, generator=gen))
        > 0.8
    )


def test_kernel_alignment_distance_and_change():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((20, 5))
    k = a @ a.T
    assert sfa.kernel_alignment(k, 3.0 * k) == pytest.approx(1.0)
    assert sfa.kernel_distance(k, 3.0 * k) == pytest.approx(0.0, abs=1e-12)
    assert sfa.relative_kernel_change(k, 3.0 * k) == pytest.approx(2.0)
    b = rng.standard_normal((20, 5))
    align = sfa.kernel_alignment(k, b @ b.T)
    assert 0.0 < align < 1.0
    assert align == pytest.approx(np.sum(k * (b @ b.T)) / (np.linalg.norm(k) * np.linalg.norm(b @ b.T)))
    # centred alignment of linear kernels is linear CKA
    assert sfa.kernel_alignment(k, b @ b.T, centered=True) == pytest.approx(sfa.linear_cka(a, b), rel=1e-10)


def test_target_alignment():
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    assert sfa.target_alignment(np.outer(y, y), y) == pytest.approx(1.0)
    assert sfa.target_alignment(np.eye(5), y, centered=False) == pytest.approx(1 / math.sqrt(5))


def test_tangent_kernel_of_a_linear_model_is_the_input_gram():
    lin = seeded(nn.Linear(3, 1).double(), 4)
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    k = sfa.tangent_kernel(lin, x)
    np.testing.assert_allclose(k, (x @ x.T + 1.0).numpy(), rtol=1e-12)  # weights give x x^T, bias 1


def seeded(model: nn.Module, seed: int) -> nn.Module:
    """Overwrite a model's parameters from its own generator (the global RNG stays untouched)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
    return model


def test_tangent_kernel_matches_torch_func_jacobian():
    model = seeded(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double(), 0)
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    params = dict(model.named_parameters())

    def f(p):
        return torch.func.functional_call(model, p, (x,)).reshape(-1)

    jac = torch.func.jacrev(f)(params)
    J = torch.cat([j.reshape(10, -1) for j in jac.values()], dim=1)
    np.testing.assert_allclose(sfa.tangent_kernel(model, x), (J @ J.T).detach().numpy(), rtol=1e-10)
    # only the readout layer: the kernel of its features (plus 1 for the bias), per output
    k_out = sfa.tangent_kernel(model, x, params=model[2].parameters())
    feats = torch.tanh(model[0](x))
    gram = (feats @ feats.T + 1.0).detach().numpy()
    np.testing.assert_allclose(k_out[::2, ::2], gram, rtol=1e-10)
    np.testing.assert_allclose(k_out[0::2, 1::2], 0.0, atol=1e-12)  # outputs share no readout weight


def test_tangent_kernel_of_a_spiking_module_uses_the_first_output():
    import spikeforge as sf

    net = seeded(sf.Sequential(nn.Linear(3, 4), sf.neurons.LIF(4, tau_mem=5.0)), 2)
    x = torch.rand(10, 2, 3, generator=torch.Generator().manual_seed(3)) * 3.0
    k = sfa.tangent_kernel(net, x)
    assert k.shape == (80, 80) and np.allclose(k, k.T)


def test_weight_change_measures():
    w0 = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert sfa.relative_weight_change(w0, 2.0 * w0) == pytest.approx(1.0)
    assert sfa.layer_rotation(w0, 2.0 * w0) == pytest.approx(0.0, abs=1e-12)
    assert sfa.layer_rotation(w0, np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(1.0)
    assert sfa.layer_rotation(w0, -w0) == pytest.approx(2.0)
    u = np.random.default_rng(4).standard_normal((30, 1))
    assert sfa.weight_change_rank(np.eye(30), np.eye(30) + u @ u.T) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: sfa.linear_cka(np.ones((5, 2)), np.arange(10.0).reshape(5, 2) ** 2),
            ParameterError,
            "X is constant",
        ),
        (
            lambda: sfa.linear_cka(np.arange(10.0).reshape(5, 2) ** 2, np.arange(12.0).reshape(6, 2)),
            ShapeError,
            "same number of samples",
        ),
        (
            lambda: sfa.linear_cka(np.arange(5.0), np.arange(10.0).reshape(5, 2) ** 2),
            ShapeError,
            "X must be 2-D",
        ),
        (lambda: sfa.relative_weight_change(np.zeros(3), np.ones(3)), ParameterError, "W0 is all zeros"),
        (lambda: sfa.relative_weight_change(np.zeros(3), np.ones(4)), ShapeError, "same shape"),
        (lambda: sfa.layer_rotation(np.ones(3), np.zeros(3)), ParameterError, "all zeros"),
        (lambda: sfa.kernel_alignment(np.ones((2, 3)), np.ones((2, 3))), ShapeError, "square"),
        (lambda: sfa.kernel_alignment(np.zeros((2, 2)), np.eye(2)), ParameterError, "all zeros"),
        (lambda: sfa.target_alignment(np.eye(3), np.ones(4)), ShapeError, "one row per sample"),
        (lambda: sfa.weight_change_rank(np.eye(3), np.eye(3)), ParameterError, "no weight change"),
        (lambda: sfa.tangent_kernel(lambda x: x, torch.ones(2)), ParameterError, "params must be given"),
        (
            lambda: sfa.tangent_kernel(nn.Linear(2, 1).requires_grad_(False), torch.ones(2)),
            ParameterError,
            "requires_grad",
        ),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
