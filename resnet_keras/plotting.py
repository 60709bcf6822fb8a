"""Plot helpers for the book: a bundled Hangul font and the error-curve style of He et al.

matplotlib is an optional dependency (``pip install "resnet-keras[plot]"``); it is imported only
when a function here is called, so ``import resnet_keras`` works without it.

Colab and most Linux images ship no Hangul font, and ``koreanize-matplotlib`` does not install on
Python 3.12, so the package carries NanumGothic (SIL Open Font License 1.1, see
``resnet_keras/fonts/OFL.txt``) and registers it with matplotlib's font manager.

Example:

```python
from resnet_keras.plotting import use_korean_font
use_korean_font()              # once, before drawing; returns "NanumGothic"
plt.title("잔차 블록(residual block)의 학습 오차")
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

__all__ = ["font_path", "use_korean_font", "plot_error_curves", "log_tick_labels"]

_FONT_FILE = "NanumGothic-Regular.ttf"
# Glyphs NanumGothic lacks (a few symbols, some Greek) fall back to matplotlib's own font.
_FALLBACK_FAMILY = "DejaVu Sans"
_registered_family: str | None = None


def font_path() -> str:
    """Absolute path of the bundled Hangul TrueType font (NanumGothic, OFL 1.1)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts", _FONT_FILE)


def use_korean_font() -> str:
    """Make matplotlib draw Hangul with the bundled NanumGothic font.

    Registers the font file with ``matplotlib.font_manager`` (once per process), sets
    ``rcParams["font.family"]`` to ``[<family>, "DejaVu Sans"]`` (glyph-level fallback for symbols
    NanumGothic lacks) and ``rcParams["axes.unicode_minus"] = False`` (NanumGothic has no U+2212
    minus sign, so negative tick labels would otherwise show a missing-glyph box). Safe to call
    any number of times.

    Returns:
        The font family name that was set, ``"NanumGothic"``.
    """
    global _registered_family
    import matplotlib
    from matplotlib import font_manager

    path = font_path()
    if not os.path.exists(path):  # pragma: no cover - broken installation
        raise FileNotFoundError(
            f"The bundled Hangul font is missing: expected {path}. Reinstall resnet-keras."
        )
    if _registered_family is None or not any(
        os.path.abspath(f.fname) == path for f in font_manager.fontManager.ttflist
    ):
        font_manager.fontManager.addfont(path)
        _registered_family = font_manager.FontProperties(fname=path).get_name()
    family = _registered_family
    matplotlib.rcParams["font.family"] = [family, _FALLBACK_FAMILY]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family


def plot_error_curves(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    ax=None,
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "에폭(epoch)",
    ylabel: str = "오차(error, %)",
    title: str | None = None,
    percent: bool = True,
    ylim: tuple[float, float] | None = None,
):
    """Draw training and test error curves in the style of He et al. (2015), Fig. 1 and 6.

    Each run gets one colour; its training error is dashed and thin, its test error solid and
    thick. Missing keys are skipped, so a run may have only ``"train"`` or only ``"test"``.

    Args:
        runs: ``{label: {"train": [...], "test": [...]}}`` error rates in [0, 1] per epoch
            (or per evaluation point, see ``x``).
        ax: a matplotlib ``Axes``; a new figure is created when ``None``.
        x: x positions shared by all runs (default: 1, 2, ... per point).
        xlabel, ylabel, title: axis labels and title (Korean by default; call
            :func:`use_korean_font` first).
        percent: multiply the error rates by 100.
        ylim: optional y-axis limits (in the plotted unit).

    Returns:
        The ``Axes`` drawn on.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    scale = 100.0 if percent else 1.0
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, (label, curves) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        for key, style, width, suffix in (
            ("train", "--", 1.0, "학습(train)"),
            ("test", "-", 2.0, "테스트(test)"),
        ):
            values = curves.get(key)
            if values is None or len(values) == 0:
                continue
            xs = list(x)[: len(values)] if x is not None else range(1, len(values) + 1)
            ax.plot(
                xs,
                [v * scale for v in values],
                linestyle=style,
                linewidth=width,
                color=color,
                label=f"{label} {suffix}",
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax


def log_tick_labels(ax, axis: str = "y", style: str = "power"):
    """Tick labels of a log axis that the bundled Hangul font can draw.

    matplotlib's default log labels (``$\\mathdefault{10^{-3}}$``) use U+2212 for the minus
    sign, which NanumGothic lacks. Call this after drawing.

    Args:
        ax: the matplotlib ``Axes``.
        axis: ``"y"`` or ``"x"``.
        style: ``"power"`` labels the decades as ``10^n`` (and, on a range narrower than two
            decades, the 2s and 5s between them as plain numbers); ``"plain"`` labels the
            decades as plain numbers (0.001, 100).

    Returns:
        The ``Axes``.
    """
    import math

    from matplotlib.ticker import FuncFormatter, NullFormatter

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y'; got {axis!r}")
    if style not in ("power", "plain"):
        raise ValueError(f"style must be 'power' or 'plain'; got {style!r}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    if style == "plain":
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())
        return ax
    target.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{round(math.log10(v))}}}$"))
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if low > 0 and high / low < 100:
        def minor(v, _):
            return f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""

        target.set_minor_formatter(FuncFormatter(minor))
    else:
        target.set_minor_formatter(NullFormatter())
    return ax
