r"""Learning-regime measures: how far training moved a network from where it started.

A *lazy* network solves its task with small changes of its weights, its hidden representation
and its tangent kernel (it behaves like its linearisation at initialisation); a *rich* network
changes them substantially (feature learning). With :math:`W_0 \to W_T` the weights before and
after training, :math:`H_0, H_T` hidden activity on the same inputs and :math:`K_0, K_T` the
empirical tangent kernels:

=================================  ===========================================================
:func:`relative_weight_change`     :math:`\|W_T - W_0\|_F / \|W_0\|_F`
:func:`layer_rotation`             :math:`1 - \cos(\mathrm{vec}\,W_T, \mathrm{vec}\,W_0)`
                                   (Carbonnelle and De Vleeschouwer 2019)
:func:`linear_cka`                 linear centred kernel alignment (Kornblith et al. 2019)
:func:`representation_change`      :math:`1 - \mathrm{CKA}(H_0, H_T)`
:func:`tangent_kernel`             :math:`K = J J^T`, J the Jacobian of the outputs w.r.t. parameters
:func:`kernel_alignment`           :math:`\langle K_1, K_2\rangle_F / (\|K_1\|_F \|K_2\|_F)`
:func:`kernel_distance`            :math:`1 -` kernel alignment (Fort et al. 2020)
:func:`relative_kernel_change`     :math:`\|K_T - K_0\|_F / \|K_0\|_F`
:func:`target_alignment`           kernel-target alignment :math:`A(K, y y^T)`
                                   (Cristianini et al. 2002)
:func:`weight_change_rank`         effective rank of :math:`W_T - W_0`
=================================  ===========================================================

Example:
    >>> import numpy as np
    >>> from spikeforge.analysis import linear_cka, relative_weight_change
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10))
    >>> Q = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    >>> round(linear_cka(X, 3.0 * X @ Q), 6)          # invariant to rotation and scale
    1.0
    >>> round(relative_weight_change(np.eye(2), 1.1 * np.eye(2)), 12)
    0.1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError
from ._common import as_array, as_matrix
from .connectivity import effective_rank

__all__ = [
    "relative_weight_change",
    "layer_rotation",
    "linear_cka",
    "representation_change",
    "tangent_kernel",
    "kernel_alignment",
    "kernel_distance",
    "relative_kernel_change",
    "target_alignment",
    "weight_change_rank",
]


def _pair(name0: str, a: Any, name1: str, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_array(name0, a), as_array(name1, b)
    if x.shape != y.shape:
        raise ShapeError(
            f"{name0} and {name1} must have the same shape, got {list(x.shape)} and {list(y.shape)}"
        )
    if x.size == 0:
        raise ShapeError(f"{name0} must not be empty")
    return x, y


def relative_weight_change(W0: Any, WT: Any) -> float:
    r"""Relative weight change :math:`\|W_T - W_0\|_F / \|W_0\|_F`.

    Args:
        W0: weights before training (any shape; numpy or torch).
        WT: weights after training, same shape.

    Returns:
        The relative change (float >= 0).

    Raises:
        ShapeError: different shapes.
        ParameterError: ``W0`` all zeros (the change has no scale).

    Example:
        >>> relative_weight_change([3.0, 4.0], [3.0, 5.0])
        0.2
    """
    w0, wt = _pair("W0", W0, "WT", WT)
    n0 = float(np.linalg.norm(w0))
    if n0 == 0.0:
        raise ParameterError("W0 is all zeros; the relative weight change is undefined")
    return float(np.linalg.norm(wt - w0) / n0)


def layer_rotation(W0: Any, WT: Any) -> float:
    r"""Layer rotation: the cosine distance between the flattened weights before and after training,
    :math:`1 - \frac{\langle W_0, W_T\rangle_F}{\|W_0\|_F\,\|W_T\|_F}` (0: same direction, 1: orthogonal,
    2: opposite). Unlike :func:`relative_weight_change` it ignores a pure rescaling.

    Raises:
        ParameterError: either matrix all zeros.

    Example:
        >>> layer_rotation([1.0, 0.0], [5.0, 0.0]), layer_rotation([1.0, 0.0], [0.0, 2.0])
        (0.0, 1.0)
    """
    w0, wt = _pair("W0", W0, "WT", WT)
    n0, nt = float(np.linalg.norm(w0)), float(np.linalg.norm(wt))
    if n0 == 0.0 or nt == 0.0:
        raise ParameterError("W0 and WT must not be all zeros; the rotation angle is undefined")
    cos = float(np.vdot(w0, wt)) / (n0 * nt)
    return float(1.0 - min(1.0, max(-1.0, cos)))


def _centred(name: str, x: Any) -> np.ndarray:
    m = as_matrix(name, x)
    m = m - m.mean(axis=0, keepdims=True)
    if float(np.abs(m).max()) == 0.0:
        raise ParameterError(f"{name} is constant across samples; CKA is undefined (0 / 0)")
    return m


def linear_cka(X: Any, Y: Any) -> float:
    r"""Linear centred kernel alignment between two representations of the same samples.

    .. math::

        \mathrm{CKA}(X, Y) = \frac{\|Y_c^T X_c\|_F^2}{\|X_c^T X_c\|_F\,\|Y_c^T Y_c\|_F}

    with :math:`X_c, Y_c` the column-centred matrices (Kornblith et al. 2019). It lies in [0, 1],
    is 1 for identical representations and invariant to orthogonal transforms and isotropic
    scaling of either (not to arbitrary invertible maps). For independent random representations
    it is small but biased upward at few samples (about :math:`\sqrt{pq}/n` for Gaussian features).

    Args:
        X: ``[n_samples, p]`` features (e.g. hidden units over trials and time steps).
        Y: ``[n_samples, q]`` features of the same samples, in the same order.

    Returns:
        CKA (float in [0, 1]).

    Raises:
        ShapeError: not 2-D, or different numbers of samples.
        ParameterError: a representation constant across samples.

    Example:
        >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
        >>> linear_cka(X, X)
        1.0
    """
    x, y = _centred("X", X), _centred("Y", Y)
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"X and Y must have the same number of samples (rows), got {x.shape[0]} and {y.shape[0]}"
        )
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)  # scale-free, avoids overflow
    if x.shape[0] < max(x.shape[1], y.shape[1]):  # fewer samples than features: Gram matrices
        kx, ky = x @ x.T, y @ y.T
        hsic, nx, ny = float((kx * ky).sum()), float(np.linalg.norm(kx)), float(np.linalg.norm(ky))
    else:
        hsic = float(np.linalg.norm(y.T @ x) ** 2)
        nx, ny = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    return float(min(1.0, hsic / (nx * ny)))


def representation_change(H0: Any, HT: Any) -> float:
    r"""Representation change :math:`1 - \mathrm{CKA}(H_0, H_T)` (0: same representation up to
    rotation and scale).

    Args:
        H0: ``[n_samples, n_units]`` activity before training.
        HT: ``[n_samples, n_units']`` activity after training, on the same inputs.

    Example:
        >>> H = np.random.default_rng(0).standard_normal((50, 8))
        >>> representation_change(H, 2.0 * H)
        0.0
    """
    return float(1.0 - linear_cka(H0, HT))


def _square(name: str, K: Any) -> np.ndarray:
    k = as_matrix(name, K)
    if k.shape[0] != k.shape[1]:
        raise ShapeError(f"{name} must be a square kernel matrix [n, n], got shape {list(k.shape)}")
    return k


def kernel_alignment(K1: Any, K2: Any, *, centered: bool = False) -> float:
    r"""Alignment of two kernel (Gram) matrices on the same samples.

    .. math:: A(K_1, K_2) = \frac{\langle K_1, K_2\rangle_F}{\|K_1\|_F\,\|K_2\|_F}

    With ``centered=True`` both are first double-centred, :math:`K \to HKH` with
    :math:`H = I - \frac{1}{n}\mathbf{1}\mathbf{1}^T` (Cortes et al. 2012); linear CKA is the
    centred alignment of the linear kernels.

    Args:
        K1: ``[n, n]`` kernel.
        K2: ``[n, n]`` kernel.
        centered: centre the kernels first.

    Returns:
        The alignment (float in [-1, 1]; in [0, 1] for positive semi-definite kernels).

    Raises:
        ShapeError: not square or different sizes.
        ParameterError: a kernel that is all zeros (after centring).

    Example:
        >>> kernel_alignment(np.eye(3), 2.0 * np.eye(3))
        1.0
    """
    k1, k2 = _square("K1", K1), _square("K2", K2)
    if k1.shape != k2.shape:
        raise ShapeError(f"K1 and K2 must have the same shape, got {list(k1.shape)} and {list(k2.shape)}")
    if centered:
        k1 = k1 - k1.mean(axis=0, keepdims=True) - k1.mean(axis=1, keepdims=True) + k1.mean()
        k2 = k2 - k2.mean(axis=0, keepdims=True) - k2.mean(axis=1, keepdims=True) + k2.mean()
    n1, n2 = float(np.linalg.norm(k1)), float(np.linalg.norm(k2))
    if n1 == 0.0 or n2 == 0.0:
        raise ParameterError("K1 and K2 must not be all zeros; their alignment is undefined")
    return float(np.clip((k1 * k2).sum() / (n1 * n2), -1.0, 1.0))


def kernel_distance(K0: Any, KT: Any) -> float:
    r"""Kernel distance :math:`1 - A(K_0, K_T)` (Fort et al. 2020): how much the tangent kernel
    rotated during training; 0 for a lazy network, whose kernel stays fixed up to scale.

    Example:
        >>> round(kernel_distance(np.eye(2), 3.0 * np.eye(2)), 12)   # a rescaling is no rotation
        0.0
    """
    return float(1.0 - kernel_alignment(K0, KT))


def relative_kernel_change(K0: Any, KT: Any) -> float:
    r"""Relative tangent-kernel change :math:`\|K_T - K_0\|_F / \|K_0\|_F`.

    Raises:
        ParameterError: ``K0`` all zeros.

    Example:
        >>> relative_kernel_change(np.eye(2), 1.5 * np.eye(2))
        0.5
    """
    k0, kt = _square("K0", K0), _square("KT", KT)
    if k0.shape != kt.shape:
        raise ShapeError(f"K0 and KT must have the same shape, got {list(k0.shape)} and {list(kt.shape)}")
    n0 = float(np.linalg.norm(k0))
    if n0 == 0.0:
        raise ParameterError("K0 is all zeros; the relative kernel change is undefined")
    return float(np.linalg.norm(kt - k0) / n0)


def target_alignment(K: Any, y: Any, *, centered: bool = True) -> float:
    r"""Kernel-target alignment :math:`A(K, y y^T)` (Cristianini et al. 2002), centred by default
    (Cortes et al. 2012): how well the kernel's geometry matches the labels. Rich learning
    typically raises it during training; a lazy network keeps it at its initial value.

    Args:
        K: ``[n, n]`` kernel on n samples (e.g. from :func:`tangent_kernel` with one output).
        y: targets ``[n]`` or ``[n, d]`` (then :math:`Y Y^T`).
        centered: centre both kernels first.

    Example:
        >>> y = np.array([1.0, 1.0, -1.0, -1.0])
        >>> target_alignment(np.outer(y, y), y)
        1.0
    """
    k = _square("K", K)
    t = as_array("y", y, ndim=(1, 2))
    t = t[:, None] if t.ndim == 1 else t
    if t.shape[0] != k.shape[0]:
        raise ShapeError(f"y must have one row per sample of K ({k.shape[0]}), got {t.shape[0]}")
    return kernel_alignment(k, t @ t.T, centered=centered)


def tangent_kernel(
    model: Callable[[Tensor], Any],
    inputs: Tensor,
    *,
    params: Iterable[Tensor] | None = None,
) -> np.ndarray:
    r"""Empirical (neural) tangent kernel of a model on a batch of inputs.

    .. math:: K_{ab} = \sum_p \frac{\partial f_a}{\partial \theta_p}\frac{\partial f_b}{\partial \theta_p}

    over every scalar output :math:`f_a` (all elements of ``model(inputs)``, flattened in C order)
    and the chosen parameters. Computed with one backward pass per output, so keep the number of
    outputs modest (a few hundred). Works for any differentiable model, including spiking ones
    trained with surrogate gradients (the kernel is then the surrogate's).

    Args:
        model: a callable (e.g. an ``nn.Module``) returning a tensor, or a tuple whose first
            element is the output tensor (as spikeforge modules return ``(out, state)``).
        inputs: the batch passed to ``model``.
        params: the parameters to differentiate; default all of ``model.parameters()`` that
            require grad (the model must then be an ``nn.Module``).

    Returns:
        ``[M, M]`` float64 kernel, M the number of output elements.

    Raises:
        ParameterError: no parameters to differentiate, or a non-tensor output.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(3, 1, bias=False)
        >>> x = torch.eye(3)
        >>> tangent_kernel(lin, x)        # f = x w, so K = x x^T
        array([[1., 0., 0.],
               [0., 1., 0.],
               [0., 0., 1.]])
    """
    if params is None:
        if not isinstance(model, nn.Module):
            raise ParameterError("params must be given when model is not a torch.nn.Module")
        plist: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
    else:
        plist = [p for p in params]
    if not plist or not all(isinstance(p, Tensor) and p.requires_grad for p in plist):
        raise ParameterError("tangent_kernel needs at least one parameter tensor with requires_grad=True")
    with torch.enable_grad():
        out = model(inputs)
        if isinstance(out, tuple):
            out = out[0]
        if not isinstance(out, Tensor):
            raise ParameterError(
                f"model must return a tensor (or a tuple starting with one), got {type(out).__name__}"
            )
        flat = out.reshape(-1)
        rows = []
        for a in range(flat.numel()):
            grads = torch.autograd.grad(flat[a], plist, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat(
                    [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, plist)]
                )
            )
    J = torch.stack(rows).to(torch.float64)
    return (J @ J.T).cpu().numpy()


def weight_change_rank(
    W0: Any, WT: Any, *, method: Literal["participation_ratio", "entropy"] = "participation_ratio"
) -> float:
    """Effective rank of the weight change :math:`W_T - W_0` (see
    :func:`~spikeforge.analysis.effective_rank`): low for the low-rank updates of gradient
    descent on low-dimensional tasks.

    Raises:
        ParameterError: the weights did not change.

    Example:
        >>> weight_change_rank(np.zeros((3, 3)), np.diag([1.0, 1.0, 0.0]))
        2.0
    """
    w0, wt = _pair("W0", W0, "WT", WT)
    if w0.ndim != 2:
        raise ShapeError(f"W0 and WT must be matrices, got shape {list(w0.shape)}")
    if not bool((wt != w0).any()):
        raise ParameterError("WT equals W0: there is no weight change to take the rank of")
    return effective_rank(wt - w0, method=method)
