"""Pictures of the shapes world: the image grid."""

from matplotlib.figure import Figure

from minifm.data.shapes import ShapesWorld
from minifm.plots.shapes import show_images


def test_show_images_draws_one_panel_per_image(rng):
    s = ShapesWorld().sample(5, rng)
    fig = show_images(s.images, s.captions, ncols=4)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 8 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == s.captions
