r"""Population coding with Gaussian receptive fields (Bohte, Kok & La Poutré 2002).

Each input value drives N neurons whose preferred values :math:`\mu_i` are spread evenly over
``[low, high]`` (:math:`\mu_i = low + i\,(high - low)/(N - 1)`), with tuning width :math:`\sigma`
(default: the spacing of the centres):

.. math::

    \lambda_i(x) = r_{max} \exp\!\left(-\frac{(x - \mu_i)^2}{2\sigma^2}\right),

and the neurons then fire as Poisson trains of these rates (:func:`spikeforge.encoders.poisson`).
The population adds a last dimension of size N: ``[*shape] -> [T, *shape, N]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_dt, check_floating
from ..errors import ParameterError
from ..units import Hz
from .poisson import _check_number, _check_steps, _first_bad, poisson

__all__ = ["population", "population_rates", "population_centres"]

R_MAX_DEFAULT = 100 * Hz  # 0.1 per ms


def population_centres(
    n_neurons: int, *, low: float, high: float, dtype: torch.dtype | None = None
) -> Tensor:
    """The preferred values :math:`\\mu_i`, ``n_neurons`` evenly spaced over ``[low, high]``.

    Example:
        >>> from spikeforge.encoders import population_centres
        >>> population_centres(5, low=0.0, high=1.0)
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, int) or n_neurons < 2:
        raise ParameterError(f"n_neurons must be an int >= 2, got {n_neurons!r}")
    low = _check_number("low", low)
    high = _check_number("high", high)
    if not high > low:
        raise ParameterError(f"high must be > low, got low={low!r}, high={high!r}")
    return torch.linspace(low, high, n_neurons, dtype=dtype or torch.get_default_dtype())


def population_rates(
    x: Tensor,
    n_neurons: int,
    *,
    low: float,
    high: float,
    sigma: float | None = None,
    r_max: float = R_MAX_DEFAULT,
) -> Tensor:
    r"""The rates of a Gaussian receptive-field population (the deterministic part of
    :func:`population`).

    .. math::

        \lambda_i(x) = r_{max} \exp\!\left(-\frac{(x - \mu_i)^2}{2\sigma^2}\right),
        \qquad \mu_i = low + i\,\frac{high - low}{N - 1}

    Differentiable in ``x``.

    Args:
        x: values ``[*shape]``, floating dtype, no NaN (values outside ``[low, high]`` are allowed
            and fall in the tails).
        n_neurons: N >= 2, neurons per value.
        low, high: range covered by the centres, ``high > low``.
        sigma: tuning width, > 0, in x's units; default the centre spacing ``(high - low)/(N - 1)``.
        r_max: peak rate in events per ms (default ``100 * Hz`` = 0.1), >= 0.

    Returns:
        Rates in events per ms, ``[*shape, N]``, in x's dtype.

    Raises:
        DTypeError: ``x`` is not a floating tensor.
        ParameterError: NaN in ``x`` or a setting out of range.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import population_rates
        >>> population_rates(torch.tensor([0.5]), 5, low=0.0, high=1.0)  # peak at the middle neuron
        tensor([[0.0135, 0.0607, 0.1000, 0.0607, 0.0135]])
    """
    x = check_floating("x", x)
    bad = torch.isnan(x)
    if bool(bad.any()):
        raise ParameterError(f"x must not be NaN, got {_first_bad(x, bad)}")
    mu = population_centres(n_neurons, low=low, high=high, dtype=x.dtype).to(x.device)
    spacing = (high - low) / (n_neurons - 1)
    sigma = _check_number("sigma", spacing if sigma is None else sigma, low=0.0)
    r_max = _check_number("r_max", r_max, low=0.0, strict=False)
    return r_max * torch.exp(-0.5 * ((x.unsqueeze(-1) - mu) / sigma) ** 2)


def population(
    x: Tensor,
    n_neurons: int,
    *,
    low: float,
    high: float,
    steps: int,
    dt: float = 1.0,
    sigma: float | None = None,
    r_max: float = R_MAX_DEFAULT,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Population spike trains: Poisson spikes at the rates of :func:`population_rates`.

    .. math::

        z_{t,i} \sim \mathrm{Bernoulli}(\lambda_i(x)\,\Delta t)

    Args:
        x: values ``[*shape]``, floating dtype, no NaN.
        n_neurons: N >= 2, neurons per value.
        low, high: range covered by the centres.
        steps: number of time steps T.
        dt: step length in ms; ``r_max * dt`` must be <= 1.
        sigma: tuning width (default the centre spacing).
        r_max: peak rate in events per ms (default ``100 * Hz``).
        generator: source of the draws (see :func:`poisson`); None uses a fresh randomly seeded
            generator, never the global RNG.

    Returns:
        Spikes ``[T, *shape, N]``, 0 and 1 in x's dtype.

    Raises:
        DTypeError: ``x`` is not a floating tensor.
        ParameterError: as :func:`population_rates` and :func:`poisson` (``r_max * dt > 1``).

    Shape:
        ``[*shape] -> [T, *shape, N]``.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import population
        >>> g = torch.Generator().manual_seed(0)
        >>> z = population(torch.tensor([0.0, 0.5]), 5, low=0.0, high=1.0, steps=1000, generator=g)
        >>> z.shape
        torch.Size([1000, 2, 5])
        >>> z.sum(0).argmax(-1)  # the most active neuron is the one tuned to each value
        tensor([0, 2])
    """
    dt = check_dt(dt)
    steps = _check_steps(steps)
    rates = population_rates(x, n_neurons, low=low, high=high, sigma=sigma, r_max=r_max)
    if r_max * dt > 1:
        raise ParameterError(
            f"r_max * dt must be <= 1 (a spike probability per step), got r_max={r_max!r} per ms "
            f"with dt={dt!r} ms"
        )
    return poisson(rates.detach(), steps, dt, generator=generator)
