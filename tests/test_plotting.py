"""The bundled Hangul font: figures with Korean labels render with no missing-glyph warning."""

import io
import os
import re
import warnings

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg", force=True)

import matplotlib.pyplot as plt  # noqa: E402

from resnet_keras import plotting  # noqa: E402

HANGUL = "잔차 학습(residual learning)의 테스트 오차"


def _render(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _hangul_figure():
    fig, ax = plt.subplots()
    ax.plot([-2, -1, 0, 1], [0.3, -0.2, 0.1, -0.4], label="플레인 네트워크(plain network)")
    ax.set_title(HANGUL)
    ax.set_xlabel("에폭(epoch)")
    ax.set_ylabel("오차(error, %) − ε")
    ax.legend()
    return fig


def test_font_file_and_license_are_shipped():
    path = plotting.font_path()
    assert os.path.isfile(path)
    assert os.path.getsize(path) > 1_000_000
    license_path = os.path.join(os.path.dirname(path), "OFL.txt")
    with open(license_path, encoding="utf-8") as f:
        assert "SIL OPEN FONT LICENSE" in f.read()


def test_without_the_font_hangul_is_missing():
    # Control: the check below means something only if DejaVu Sans alone really lacks Hangul.
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _render(_hangul_figure())
    # "Glyph ... missing from font(s) DejaVu Sans." (matplotlib 3.8+), "... missing from current
    # font." (3.7)
    assert any(re.search(r"Glyph \d+ .* missing from", str(w.message)) for w in caught)


def test_korean_figure_has_no_missing_glyphs():
    with matplotlib.rc_context():
        family = plotting.use_korean_font()
        assert family == "NanumGothic"
        assert matplotlib.rcParams["font.family"][0] == family
        assert matplotlib.rcParams["axes.unicode_minus"] is False
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            png = _render(_hangul_figure())
    assert png.startswith(b"\x89PNG")


def test_use_korean_font_is_idempotent():
    from matplotlib import font_manager

    with matplotlib.rc_context():
        first = plotting.use_korean_font()
        count = sum(f.fname == plotting.font_path() for f in font_manager.fontManager.ttflist)
        second = plotting.use_korean_font()
        assert first == second
        again = sum(f.fname == plotting.font_path() for f in font_manager.fontManager.ttflist)
        assert count == again == 1


def test_plot_error_curves():
    with matplotlib.rc_context():
        plotting.use_korean_font()
        runs = {
            "ResNet-20": {"train": [0.5, 0.3, 0.2], "test": [0.55, 0.35, 0.25]},
            "플레인-20": {"train": [0.6, 0.4]},
        }
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ax = plotting.plot_error_curves(runs, title="CIFAR-10 오차")
            lines = ax.get_lines()
            assert len(lines) == 3
            assert lines[0].get_linestyle() == "--" and lines[1].get_linestyle() == "-"
            assert lines[1].get_ydata()[-1] == pytest.approx(25.0)
            assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
            _render(ax.figure)


def test_log_tick_labels_draw_no_unicode_minus():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from resnet_keras.plotting import log_tick_labels

    fig, ax = plt.subplots()
    ax.semilogy([1, 2, 3], [1e-3, 1e-2, 1e-1])
    log_tick_labels(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all("\u2212" not in t for t in labels)
    assert "$10^{-2}$" in labels
    log_tick_labels(ax, style="plain")
    fig.canvas.draw()
    assert "0.01" in [t.get_text() for t in ax.get_yticklabels()]
    with pytest.raises(ValueError, match="axis"):
        log_tick_labels(ax, axis="z")
    plt.close(fig)


def test_draw_residual_unit_draws_one_box_per_layer():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyBboxPatch

    with matplotlib.rc_context():
        plotting.use_korean_font()
        fig, axes = plt.subplots(1, 2)
        branch = ["1×1 합성곱, 64", "3×3 합성곱, 64", "1×1 합성곱, 256"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no missing Hangul glyph
            ax = plotting.draw_residual_unit(
                axes[0], branch, notes=["BN, ReLU", "BN, ReLU", "BN"],
                input_label="입력: 256채널", output_label="출력: 256채널", title="병목 블록")
            plotting.draw_residual_unit(axes[1], ["합성곱"], after="")
            png = _render(fig)
    assert png.startswith(b"\x89PNG")
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 3
    assert sum(isinstance(p, Circle) for p in ax.patches) == 1
    texts = [t.get_text() for t in ax.texts]
    for expected in (*branch, "BN, ReLU", "BN", "ReLU", "+", "입력: 256채널", "출력: 256채널"):
        assert expected in texts
    assert ax.get_title() == "병목 블록" and not ax.axison
    # Boxes run from top to bottom in branch order.
    tops = [b.get_y() for b in boxes]
    assert tops == sorted(tops, reverse=True)
    # Nothing after the addition: no "ReLU" note on the second unit.
    assert "ReLU" not in [t.get_text() for t in axes[1].texts]


def test_draw_residual_unit_rejects_bad_input():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="branch=\\[\\]"):
        plotting.draw_residual_unit(ax, [])
    with pytest.raises(ValueError, match="sequence of layer labels"):
        plotting.draw_residual_unit(ax, "3×3 합성곱")
    with pytest.raises(ValueError, match="one text per branch layer \\(2\\)"):
        plotting.draw_residual_unit(ax, ["a", "b"], notes=["BN"])
    plt.close(fig)


def test_log_tick_labels_refuses_an_unknown_style():
    fig, ax = plt.subplots()
    ax.semilogy([1, 2], [1e-2, 1e-1])
    with pytest.raises(ValueError, match="style must be 'power' or 'plain'; got 'fancy'"):
        plotting.log_tick_labels(ax, style="fancy")
    plt.close(fig)
