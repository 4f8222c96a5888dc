"""Fig. 7: the elements Table 2 scores and their component boxes, drawn beside the ground truth."""

from types import SimpleNamespace

import numpy as np
import torch
from matplotlib.patches import Rectangle

from sslr_cli.experiments.clevr_figure import decompose_with_boxes, truth_boxes
from sslr_cli.experiments.figures import reconstruction_figure


class _Fixed(torch.nn.Module):
    """A 'model' whose weighted element images are given: (1, 3, 3, 8, 8)."""

    def __init__(self, elements):
        super().__init__()
        self.elements = elements

    def forward(self, x):
        return None, SimpleNamespace(element_images=self.elements, image=self.elements.sum(1))


def _elements():
    e = torch.zeros(1, 3, 3, 8, 8)
    e[0, 0, 1, 1:3, 1:3] = 0.5  # element 0: two blobs -> two boxes
    e[0, 0, 1, 5:8, 5:7] = 0.5
    e[0, 1, :, :, :] = 0.005  # element 1: below the 0.01 threshold everywhere -> not shown
    e[0, 2, 0, 4, 0:8] = 0.9  # element 2: one row of 8 pixels, more mass than element 0
    return e


def test_elements_with_an_on_pixel_are_shown_largest_first_with_their_component_boxes():
    boxed = decompose_with_boxes(_Fixed(_elements()), torch.zeros(1, 8, 8, 3, dtype=torch.uint8))
    assert boxed.decomposition.element_ids == [[2, 0]]  # mass 7.2 before 2.5; element 1 is empty at 0.01
    assert boxed.boxes[0][0] == [(0, 4, 8, 5)] and sorted(boxed.boxes[0][1]) == [(1, 1, 3, 3), (5, 5, 7, 8)]
    assert boxed.decomposition.elements[0].shape == (2, 8, 8, 3)


def test_truth_boxes_drop_padding_rows():
    boxes = np.array([[1, 2, 3, 4], [np.nan] * 4, [0, 0, 8, 8]], float)
    assert truth_boxes(boxes) == [(1.0, 2.0, 3.0, 4.0), (0.0, 0.0, 8.0, 8.0)]


def test_figure_draws_one_rectangle_per_box():
    boxed = decompose_with_boxes(_Fixed(_elements()), torch.zeros(1, 8, 8, 3, dtype=torch.uint8))
    fig = reconstruction_figure(np.zeros((1, 8, 8, 3)), [("SRN", boxed.decomposition)],
                                original_boxes=[[(1.0, 2.0, 3.0, 4.0)]], element_boxes=[boxed.boxes])
    rectangles = [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 1 + 1 + 2  # the ground truth's one, element 2's one, element 0's two
    assert sorted(r.get_edgecolor()[:3] == (1.0, 0.0, 0.0) for r in rectangles) == [False, True, True, True]
