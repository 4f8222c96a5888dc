"""The interpolation experiments of Sec. 4.1: in image space (Fig. 2) and in latent space (Fig. 4).

Shift (Fig. 2): one circle moves right by one pixel per frame. Each frame is encoded and decoded;
an element is *responsible* for the circle in a frame when its weighted image
softmax_i(I) * sigmoid(I_i) exceeds the threshold (0.1, as in Table 1) on some pixel of the
circle. The paper: SSLR-SRN hands responsibility from one element to another in a single jump
(one responsible element in every frame); SSLR-MLP splits the circle while responsibility shifts.

Latent (Fig. 4): from the set of an image with one green circle take the element that draws the
circle and an element that decodes to an empty image, walk linearly from the empty one to the
circle one, and decode every point on its own (a set of one element: the softmax weight is 1 and
the image is sigmoid(I)). The paper: SRN grows the circle (a size interpolation), MLP shows
several circles and red artefacts. Each frame is thresholded and its connected components counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from sslr_cli.data.circles import GREEN, RED, render_circles
from sslr_cli.data.loader import to_float_images
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.disentanglement import element_masses, responsibility_segmentation

COLORS = {"red": RED, "green": GREEN}


def _check_circle(x: int, y: int, radius: int, size: int, what: str) -> None:
    if radius < 1:
        raise SSLRError(f"--radius {radius}: must be >= 1")
    if x - radius < 0 or x + radius > size - 1 or y - radius < 0 or y + radius > size - 1:
        raise SSLRError(f"{what}: a circle of radius {radius} at ({x}, {y}) does not fit in a {size}x{size} image")


def shift_frames(color: int, radius: int, x0: int, y: int, frames: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (F, H, W, 3) and circle masks (F, H, W) of one circle at x0, x0+1, ..., x0+F-1."""
    if frames < 1:
        raise SSLRError(f"--frames {frames}: need at least one frame")
    _check_circle(x0, y, radius, size, "--x/--y/--radius")
    _check_circle(x0 + frames - 1, y, radius, size, f"--x {x0} with --frames {frames}")
    images, masks = zip(*(render_circles([(x0 + f, y, radius, color)], size) for f in range(frames)))
    return np.stack(images), np.stack(masks)


def responsible_elements(weighted: torch.Tensor, circle: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """(F, n, 3, H, W) weighted element images, (F, H, W) circle mask -> (F, n) bool: elements whose
    weighted image exceeds ``threshold`` in some channel on some pixel of the circle."""
    on_circle = weighted.amax(dim=2) * circle[:, None].to(weighted.dtype)  # (F, n, H, W), 0 off the circle
    return on_circle.flatten(2).amax(dim=2) > threshold


@dataclass
class ShiftResult:
    label: str
    set_size: int
    reconstructions: np.ndarray  # (F, H, W, 3) float in [0, 1]
    responsibility: np.ndarray  # (F, H, W) int: 1 + most responsible element, 0 = nothing drawn
    sharing: list[int]  # per frame: number of elements responsible for the circle
    dominant: list[int]  # per frame: the element with the largest weighted mass on the circle
    threshold: float = 0.1

    @property
    def mean_sharing(self) -> float:
        return float(np.mean(self.sharing))

    @property
    def single_frames(self) -> int:
        return int(sum(s == 1 for s in self.sharing))

    @property
    def handovers(self) -> int:
        """Frames where the dominant element differs from the previous frame's."""
        return int(sum(a != b for a, b in zip(self.dominant, self.dominant[1:])))

    def summary(self) -> dict:
        return {"label": self.label, "frames": len(self.sharing), "mean_sharing": self.mean_sharing,
                "single_frames": self.single_frames, "handovers": self.handovers,
                "sharing": list(self.sharing), "dominant": list(self.dominant), "threshold": self.threshold}


@torch.no_grad()
def run_shift(model, label: str, images_u8: np.ndarray, masks: np.ndarray, threshold: float = 0.1,
              device: torch.device | str = "cpu") -> ShiftResult:
    """Encode and decode every frame; who draws the circle, frame by frame."""
    model.eval()
    x = to_float_images(torch.from_numpy(images_u8).to(device))
    _, rec = model(x)
    weighted = rec.element_images.float()
    circle = torch.from_numpy(masks > 0).to(weighted.device)
    sharing = responsible_elements(weighted, circle, threshold).sum(dim=1)
    mass_on_circle = element_masses(weighted * circle[:, None, None].to(weighted.dtype))
    return ShiftResult(
        label=label,
        set_size=int(weighted.shape[1]),
        reconstructions=rec.image.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy(),
        responsibility=responsibility_segmentation(weighted, threshold).cpu().numpy(),
        sharing=[int(s) for s in sharing.cpu()],
        dominant=[int(d) for d in mass_on_circle.argmax(dim=1).cpu()],
        threshold=threshold,
    )


# ---------------------------------------------------------------------------------------------
# Latent interpolation (Fig. 4)


@dataclass
class FrameShape:
    """What a decoded frame shows after thresholding."""

    components: int  # connected regions of drawn pixels (8-connectivity)
    wrong_color: bool  # some pixel has a channel other than the circle's colour above the threshold
    round: bool  # the single region fills its enclosing circle (not a ring, bar or blob pair)
    empty: bool

    @property
    def one_circle(self) -> bool:
        return self.components == 1 and not self.wrong_color and self.round


def frame_shape(image: np.ndarray, color: int, pixel_threshold: float = 0.5, min_fill: float = 0.6) -> FrameShape:
    """Classify one decoded image (H, W, 3) in [0, 1] against "one circle of colour ``color``".

    A pixel is drawn when any channel exceeds ``pixel_threshold``. Roundness: the region's pixel
    count over the area of its smallest enclosing circle (radius + half a pixel) is at least
    ``min_fill``; lattice discs score 0.66 (r = 2) to 0.9 (large r), a ring or a bar far less.
    """
    drawn = (image > pixel_threshold).any(axis=2)
    others = [c for c in range(image.shape[2]) if c != color]
    wrong = bool((image[..., others] > pixel_threshold).any())
    n_labels, labels = cv2.connectedComponents(drawn.astype(np.uint8), connectivity=8)
    components = int(n_labels) - 1
    round_ = False
    if components == 1:
        points = np.argwhere(labels == 1).astype(np.float32)
        _, r = cv2.minEnclosingCircle(points)
        round_ = bool(len(points) / (np.pi * (r + 0.5) ** 2) >= min_fill)
    return FrameShape(components, wrong, round_, components == 0)


@dataclass
class LatentResult:
    label: str
    circle_element: int
    empty_element: int
    alphas: np.ndarray  # (F,) 0 = the empty element, 1 = the circle element
    frames: np.ndarray  # (F, H, W, 3) float in [0, 1]: each point decoded on its own
    shapes: list[FrameShape] = field(default_factory=list)

    @property
    def one_circle_frames(self) -> int:
        return int(sum(s.one_circle for s in self.shapes))

    @property
    def wrong_color_frames(self) -> int:
        return int(sum(s.wrong_color for s in self.shapes))

    @property
    def empty_frames(self) -> int:
        return int(sum(s.empty for s in self.shapes))

    @property
    def multi_component_frames(self) -> int:
        return int(sum(s.components > 1 for s in self.shapes))

    def summary(self) -> dict:
        return {"label": self.label, "circle_element": self.circle_element, "empty_element": self.empty_element,
                "frames": len(self.shapes), "one_circle_frames": self.one_circle_frames,
                "wrong_color_frames": self.wrong_color_frames, "empty_frames": self.empty_frames,
                "multi_component_frames": self.multi_component_frames,
                "components": [s.components for s in self.shapes]}


@torch.no_grad()
def decode_alone(model, elements: torch.Tensor) -> np.ndarray:
    """(M, D) elements -> (M, H, W, 3) images, each element decoded as a set of one (= sigmoid(I))."""
    rec = model.decode(elements[:, None, :])
    return rec.image.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def find_endpoints(model, image_u8: np.ndarray, mask: np.ndarray, color: int, device: torch.device | str = "cpu",
                   circle_element: int | None = None, empty_element: int | None = None) -> tuple[torch.Tensor, int, int]:
    """The set of one image and the two elements to interpolate between.

    Circle element: the largest weighted mass in the circle's colour channel on the circle.
    Empty element: of the others, the one whose image decoded alone has the smallest maximum.
    """
    model.eval()
    x = to_float_images(torch.from_numpy(image_u8[None]).to(device))
    enc, rec = model(x)
    s = enc.set[0]
    n = s.shape[0]
    for name, value in (("--circle-element", circle_element), ("--empty-element", empty_element)):
        if value is not None and not 0 <= value < n:
            raise SSLRError(f"{name} {value}: the set has elements 0..{n - 1}")
    if circle_element is None:
        circle = torch.from_numpy(mask > 0).to(rec.element_images.device)
        mass = (rec.element_images[0, :, color].float() * circle).flatten(1).sum(1)
        circle_element = int(mass.argmax())
    if empty_element is None:
        peak = torch.from_numpy(decode_alone(model, s)).flatten(1).amax(dim=1)
        peak[circle_element] = float("inf")
        empty_element = int(peak.argmin())
    if empty_element == circle_element:
        raise SSLRError(f"--empty-element {empty_element}: is the circle element; choose another")
    return s, circle_element, empty_element


@torch.no_grad()
def run_latent(model, label: str, image_u8: np.ndarray, mask: np.ndarray, color: int, steps: int = 10,
               device: torch.device | str = "cpu", circle_element: int | None = None, empty_element: int | None = None,
               pixel_threshold: float = 0.5) -> LatentResult:
    """Interpolate linearly from the empty element to the circle element in ``steps`` frames."""
    if steps < 2:
        raise SSLRError(f"--steps {steps}: need at least 2 (the two end points)")
    s, ci, ei = find_endpoints(model, image_u8, mask, color, device, circle_element, empty_element)
    alphas = torch.linspace(0.0, 1.0, steps, device=s.device)
    path = (1 - alphas)[:, None] * s[ei][None] + alphas[:, None] * s[ci][None]
    frames = decode_alone(model, path)
    shapes = [frame_shape(f, color, pixel_threshold) for f in frames]
    return LatentResult(label, ci, ei, alphas.cpu().numpy(), frames, shapes)


def one_circle_image(color: int, radius: int, x: int, y: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """uint8 image (H, W, 3) and mask of a single circle, checked to fit."""
    _check_circle(x, y, radius, size, "--x/--y/--radius")
    return render_circles([(x, y, radius, color)], size)
