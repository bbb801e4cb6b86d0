"""minifm/plots/diffusion.py: each figure titled, its axes labelled, drawn from plain arrays."""

import numpy as np
from matplotlib.figure import Figure

from minifm.data.shapes import CHANCE
from minifm.plots.diffusion import (plot_denoising_strip, plot_guidance_sweep,
                                    plot_interpolation, plot_side_by_side, plot_variations)


def _titled(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else fig.axes[0].get_title()


def test_guidance_sweep_plots_both_splits_against_the_scale():
    results = [{"seen": {"accuracy": a}, "unseen": {"accuracy": b}, "chance": CHANCE}
               for a, b in ((0.5, 0.2), (0.8, 0.4), (0.9, 0.6))]
    fig = plot_guidance_sweep({"scales": [1.0, 2.0, 4.0], "results": results})
    ax = fig.axes[0]
    assert "guidance" in ax.get_title() and "guidance scale" in ax.get_xlabel()
    assert ax.get_ylabel() == "drawn right (judge)"
    seen, unseen = ax.get_lines()[:2]
    np.testing.assert_array_equal(seen.get_xdata(), [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(unseen.get_ydata(), [0.2, 0.4, 0.6])


def test_strip_variations_and_interpolation_have_one_panel_per_image():
    rng = np.random.default_rng(0)
    strip = plot_denoising_strip(rng.uniform(size=(4, 2, 16, 16, 3)), np.array([999, 600, 0, -1]),
                                 "a red circle")
    assert len(strip.axes) == 8 and "denoising 'a red circle'" in _titled(strip)
    assert strip.axes[0].get_title() == "t = 999" and strip._supxlabel.get_text()
    variations = plot_variations(rng.uniform(size=(16, 16, 3)), rng.uniform(size=(3, 16, 16, 3)))
    assert len(variations.axes) == 4 and "variations" in _titled(variations)
    line = plot_interpolation(rng.uniform(size=(5, 16, 16, 3)), "a red square", "a blue ring")
    assert len(line.axes) == 5 and "'a red square' -> 'a blue ring'" in _titled(line)
    assert line.axes[-1].get_title() == "1.00"


def test_side_by_side_has_a_panel_per_generator_with_its_judged_share():
    rng = np.random.default_rng(0)
    drawings = {"tokens": rng.uniform(size=(2, 3, 16, 16, 3)),
                "diffusion": rng.uniform(size=(2, 3, 16, 16, 3))}
    correct = {"tokens": np.array([[True, False, False], [False, False, True]]),
               "diffusion": np.ones((2, 3), dtype=bool)}
    fig = plot_side_by_side(drawings, correct, ["a red circle", "a blue ring"])
    left, right = fig.subfigs
    assert len(left.axes) == 6 and len(right.axes) == 6
    assert left._suptitle.get_text() == "tokens: 33% judged right"
    assert right._suptitle.get_text() == "diffusion: 100% judged right"
    assert [ax.get_ylabel() for ax in left.axes[::3]] == ["a red circle", "a blue ring"]
    assert not any(ax.get_ylabel() for ax in right.axes)
    assert "judge" in _titled(fig)
    assert right.axes[0].spines["top"].get_edgecolor()[:3] == (0.0, 0.5019607843137255, 0.0)
