"""Plot helpers for the book: a bundled Hangul font, the error-curve style of He et al. and block diagrams.

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

__all__ = [
    "font_path",
    "use_korean_font",
    "plot_error_curves",
    "log_tick_labels",
    "draw_residual_unit",
]

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


def draw_residual_unit(
    ax,
    branch: Sequence[str],
    *,
    notes: Sequence[str] | None = None,
    after: str = "ReLU",
    input_label: str = "",
    output_label: str = "",
    shortcut_label: str = "항등 지름길 (identity)",
    title: str | None = None,
    box_color: str = "#dbe9f6",
):
    """Draw one residual unit from top to bottom, as in He et al. (2015), Fig. 2 and Fig. 5.

    The input enters at the top, runs through one box per weight layer of the residual branch,
    and meets the identity shortcut (a line on the right) at a "+" circle; the output leaves at
    the bottom. Text beside an arrow names the operations that are not drawn as boxes (batch
    normalization, ReLU). The axes are turned off and given fixed limits, so several units can
    be drawn side by side with ``plt.subplots(1, n)``.

    Example (the two blocks of He et al. 2015, Fig. 5):

    ```python
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.8))
    draw_residual_unit(axes[0], ["3×3 합성곱, 64", "3×3 합성곱, 64"], notes=["BN, ReLU", "BN"],
                       input_label="입력: 64채널", output_label="출력: 64채널")
    ```

    Args:
        ax: a matplotlib ``Axes``.
        branch: labels of the weight layers on the residual branch, first layer first.
        notes: one text per branch layer, written beside the arrow that leaves it (e.g.
            ``"BN, ReLU"``; ``""`` for none); ``None`` writes no notes.
        after: text beside the arrow after the addition (``"ReLU"`` for the original ResNet,
            ``""`` when nothing follows the addition, as in pre-activation units).
        input_label, output_label: text above the input and below the output.
        shortcut_label: text along the shortcut line.
        title: axes title.
        box_color: fill colour of the layer boxes.

    Returns:
        The ``Axes``.
    """
    from matplotlib.patches import Circle, FancyBboxPatch

    if isinstance(branch, str) or not all(isinstance(label, str) for label in branch):
        raise ValueError(
            f"branch must be a sequence of layer labels (strings). Received: branch={branch!r}"
        )
    branch = list(branch)
    if not branch:
        raise ValueError("branch must name at least one weight layer. Received: branch=[]")
    if notes is None:
        notes = [""] * len(branch)
    elif isinstance(notes, str) or len(notes) != len(branch):
        raise ValueError(
            f"notes must hold one text per branch layer ({len(branch)}). Received: notes={notes!r}"
        )

    cx = 4.5                                            # centre line of the branch
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, 12.4)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=12)
    ax.text(cx, 11.9, input_label, ha="center", va="center", fontsize=11)
    ys = [9.6 - i * (5.4 / (len(branch) - 1)) for i in range(len(branch))] if len(branch) > 1 else [6.9]
    top = 11.5
    for i, (y, label) in enumerate(zip(ys, branch)):
        ax.annotate("", xy=(cx, y + 0.55), xytext=(cx, top), arrowprops=dict(arrowstyle="->"))
        ax.add_patch(FancyBboxPatch((cx - 2.5, y - 0.45), 5.0, 0.9, boxstyle="round,pad=0.1",
                                    facecolor=box_color, edgecolor="black"))
        ax.text(cx, y, label, ha="center", va="center", fontsize=11)
        below = ys[i + 1] + 0.55 if i < len(branch) - 1 else 2.0
        if notes[i]:
            ax.text(cx + 0.25, (y - 0.55 + below) / 2, notes[i], ha="left", va="center",
                    fontsize=9, color="dimgray")
        top = y - 0.55
    ax.annotate("", xy=(cx, 1.95), xytext=(cx, top), arrowprops=dict(arrowstyle="->"))
    ax.add_patch(Circle((cx, 1.5), 0.42, facecolor="white", edgecolor="black"))
    ax.text(cx, 1.5, "+", ha="center", va="center", fontsize=14)
    ax.plot([cx, 8.6, 8.6], [11.3, 11.3, 1.5], color="black", lw=1)
    ax.annotate("", xy=(cx + 0.45, 1.5), xytext=(8.6, 1.5), arrowprops=dict(arrowstyle="->"))
    ax.text(8.85, 6.4, shortcut_label, rotation=90, ha="left", va="center", fontsize=9)
    ax.annotate("", xy=(cx, 0.0), xytext=(cx, 1.05), arrowprops=dict(arrowstyle="->"))
    if after:
        ax.text(cx + 0.25, 0.55, after, ha="left", va="center", fontsize=9, color="dimgray")
    ax.text(cx, -0.4, output_label, ha="center", va="center", fontsize=11)
    return ax
