"""The rich/lazy figure's title says what its own numbers show (issue 15, item 7): the spiking
sweep's title stated the rate-RNN conclusion whatever its panels showed."""

from __future__ import annotations

import matplotlib

from spikeforge.analysis.richlazy import (
    RichLazyConfig,
    RichLazyResult,
    RichLazySweep,
    plot_rich_lazy,
    rich_lazy_summary,
)

matplotlib.use("Agg")


def _sweep(weight: dict[str, float], *, model: str = "rate", short: bool = True) -> RichLazySweep:
    """A sweep with made-up measures: ``weight[label]`` as weight and representation change."""
    cfg = RichLazyConfig(model=model, target_loss=0.05, max_iters=100)  # type: ignore[arg-type]
    rows = []
    for seed in (0, 1):
        for label, value in weight.items():
            rank = None if label == "full" else (cfg.d if label == "aligned" else int(label.split()[1]))
            rows.append(
                RichLazyResult(
                    label,
                    rank,
                    label == "aligned",
                    seed,
                    1.0,
                    value,
                    value,
                    value,
                    0.1,
                    1.0,
                    1.0,
                    0.9 if short and label == "full" and seed == 0 else 0.01,
                    100,
                )  # fmt: skip
            )
    return RichLazySweep(cfg, rows)


def test_title_states_a_fall_only_when_the_numbers_fall():
    falling = _sweep({"rank 1": 0.9, "rank 2": 0.7, "rank 5": 0.5, "full": 0.3, "aligned": 0.2})
    title = rich_lazy_summary(falling)
    assert "rate RNN, 2 seeds" in title
    assert "weight change falls as the rank rises (rho = -1.00)" in title
    assert "aligned start as lazy as full rank or lazier in weight change (0.67x full rank's)" in title
    flat = _sweep({"rank 1": 0.5, "rank 2": 0.7, "rank 5": 0.4, "full": 0.6, "aligned": 0.9}, model="spiking")
    title = rich_lazy_summary(flat)
    assert title.startswith("spiking (LIF) RNN")
    assert "falls as the rank rises" not in title and "does not fall steadily with rank" in title
    assert "richer than full rank" in title


def test_title_says_when_training_stopped_short():
    s = _sweep({"rank 1": 0.9, "rank 2": 0.7, "full": 0.3, "aligned": 0.2})
    assert "7/8 runs reached the target loss 0.05 in 100 steps (training stopped short)" in rich_lazy_summary(
        s
    )
    s = _sweep({"rank 1": 0.9, "rank 2": 0.7, "full": 0.3, "aligned": 0.2}, short=False)
    assert "8/8 runs reached" in rich_lazy_summary(s) and "stopped short" not in rich_lazy_summary(s)


def test_the_figure_carries_the_title():
    s = _sweep({"rank 1": 0.5, "rank 2": 0.7, "rank 5": 0.4, "full": 0.6, "aligned": 0.9}, model="spiking")
    fig = plot_rich_lazy(s)
    assert fig._suptitle is not None and fig._suptitle.get_text() == rich_lazy_summary(s)
    assert "learns more lazily" not in fig._suptitle.get_text()
