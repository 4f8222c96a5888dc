"""The paper's Circles Dataset (Sec. 4.1) and the iso-distance circle pairs of the set-matching task (Sec. 4.3).

Rules, as the paper and its reference code make them:

- 64x64 RGB images; 0 to 10 circles, count uniform; colour red (1,0,0) or green (0,1,0), uniform;
  integer radius 1..11, uniform; centre (x, y) uniform in [r, size-1-r], so every disc lies inside.
- Circles of the same colour never overlap, with the reference's one-pixel margin: the new circle
  drawn with radius r+1 must not touch an existing same-colour disc. A failed placement redraws
  radius, centre and colour of that circle. Red and green may overlap (yellow).

A disc is the set of pixels whose centres satisfy (x - cx)^2 + (y - cy)^2 <= r^2 (exact, no
antialiasing), so every rule above is checked exactly and analytically: two same-colour circles are
accepted iff no pixel lies in both the (r+1)-disc of one and the r-disc of the other, which is
tested in closed form on the integer lattice by ``_discs_touch``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np

from sslr_cli.data.dataset_kind import BASE_SCHEMA, DatasetKind
from sslr_cli.data.scenes import SceneArrays, concat_scenes
from sslr_cli.errors import SSLRError

CIRCLE_FIELDS = ["x", "y", "radius", "color"]  # color: 0 = red, 1 = green
RED, GREEN = 0, 1
# Attempts at placing one circle before the whole image is redrawn, and images redrawn before giving up.
_TRIES_PER_CIRCLE = 200
_TRIES_PER_IMAGE = 50


@dataclass(frozen=True)
class CircleSpec:
    """What ``gen-data circles`` draws. Defaults are the paper's."""

    size: int = 64
    min_count: int = 0
    max_count: int = 10
    min_radius: int = 1
    max_radius: int = 11

    def validate(self) -> None:
        if not 8 <= self.size <= 1024:
            raise SSLRError(f"--size {self.size}: must be between 8 and 1024 pixels")
        if not 1 <= self.min_radius <= self.max_radius:
            raise SSLRError(f"--min-radius/--max-radius {self.min_radius}..{self.max_radius}: need 1 <= min <= max")
        if 2 * self.max_radius + 1 > self.size:
            raise SSLRError(f"--max-radius {self.max_radius}: a circle of that radius does not fit in a {self.size}-pixel image")
        if not 0 <= self.min_count <= self.max_count:
            raise SSLRError(f"--min-count/--max-count {self.min_count}..{self.max_count}: need 0 <= min <= max")
        # Each colour's discs (with the one-pixel margin) are disjoint, so their areas bound the count.
        smallest = _disc_area(self.min_radius)
        bound = 2 * (self.size * self.size) // smallest
        if self.max_count > bound:
            raise SSLRError(
                f"--count/--max-count {self.max_count}: cannot place that many non-overlapping circles in a "
                f"{self.size}x{self.size} image (at most about {bound})"
            )


def _disc_area(r: int) -> int:
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return int(((x * x + y * y) <= r * r).sum())


_LATTICE_CACHE: dict[int, np.ndarray] = {}


def _disc_offsets(r: int) -> np.ndarray:
    """Integer offsets (dx, dy) of the pixels of a radius-r disc."""
    if r not in _LATTICE_CACHE:
        y, x = np.mgrid[-r : r + 1, -r : r + 1]
        keep = (x * x + y * y) <= r * r
        _LATTICE_CACHE[r] = np.stack([x[keep], y[keep]], axis=1)
    return _LATTICE_CACHE[r]


def _discs_touch(cx: int, cy: int, r: int, others: list[tuple[int, int, int]]) -> bool:
    """Does the (r+1)-disc at (cx, cy) share a pixel with any r_j-disc in ``others`` (x, y, r_j)?

    Centre distance decides most pairs at once (plain integers: the lists hold at most ten
    circles, where numpy's per-call overhead would dominate); only pairs in the narrow band
    between "surely apart" and "surely touching" are decided on the pixel lattice.
    """
    for ox, oy, orad in others:
        d2 = (ox - cx) ** 2 + (oy - cy) ** 2
        reach = r + 1 + orad
        if d2 > reach * reach:
            continue
        inner = max(r + 1, orad)
        if d2 <= inner * inner:  # one centre (a pixel of both discs) lies inside the other disc
            return True
        offsets = _disc_offsets(int(orad)) + (ox - cx, oy - cy)
        if ((offsets * offsets).sum(1) <= (r + 1) * (r + 1)).any():
            return True
    return False


class _Uniforms:
    """A deterministic stream of uniform floats in [0, 1), drawn from ``rng`` in large blocks.

    Asking the generator for one number at a time costs microseconds per call; the placement
    loop needs four per attempt.
    """

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self.rng, self.block = rng, block
        self.buf: list[float] = []
        self.pos = 0

    def take(self) -> float:
        if self.pos >= len(self.buf):
            self.buf = self.rng.random(self.block).tolist()
            self.pos = 0
        self.pos += 1
        return self.buf[self.pos - 1]


def _place_circles(u: _Uniforms, spec: CircleSpec, count: int,
                   radii: np.ndarray | None = None, colors: np.ndarray | None = None) -> list[tuple[int, int, int, int]] | None:
    """(x, y, r, color) of ``count`` circles obeying the rules, or None if placement kept failing.

    With ``radii``/``colors`` given (the second image of a matching pair) only centres are drawn.
    """
    placed: list[tuple[int, int, int, int]] = []
    n_radii = spec.max_radius - spec.min_radius + 1
    for j in range(count):
        for _ in range(_TRIES_PER_CIRCLE):
            if radii is None:
                r = spec.min_radius + int(u.take() * n_radii)
                c = int(u.take() * 2)
            else:
                r, c = int(radii[j]), int(colors[j])
            span = spec.size - 2 * r
            x = r + int(u.take() * span)
            y = r + int(u.take() * span)
            if not _discs_touch(x, y, r, [(px, py, pr) for px, py, pr, pc in placed if pc == c]):
                placed.append((x, y, r, c))
                break
        else:
            return None
    return placed


def _render(circles: np.ndarray, size: int, image: np.ndarray, mask: np.ndarray) -> None:
    """Draw discs into ``image`` (H, W, 3 uint8, additive per channel) and ``mask`` (instance ids)."""
    for i, (x, y, r, c) in enumerate(circles):
        offsets = _disc_offsets(int(r))
        px = offsets[:, 0] + x
        py = offsets[:, 1] + y
        image[py, px, c] = 255
        mask[py, px] = i + 1  # where red and green overlap, the later circle owns the pixel


def render_circles(circles, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One image (H, W, 3) uint8 and its instance mask (H, W) from rows (x, y, radius, color),
    drawn exactly as the generator draws them. Every disc must lie inside the image."""
    circles = np.asarray(circles, dtype=np.int64).reshape(-1, 4)
    image = np.zeros((size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), dtype=np.uint8)
    _render(circles, size, image, mask)
    return image, mask


def _sample_scene(u: _Uniforms, spec: CircleSpec, count: int,
                  radii=None, colors=None) -> np.ndarray:
    for _ in range(_TRIES_PER_IMAGE):
        circles = _place_circles(u, spec, count, radii, colors)
        if circles is not None:
            return np.array(circles, dtype=np.int64).reshape(count, 4)
    raise SSLRError(
        f"could not place {count} circles (radius {spec.min_radius}..{spec.max_radius}) without same-colour "
        f"overlap in a {spec.size}x{spec.size} image after {_TRIES_PER_IMAGE * _TRIES_PER_CIRCLE} tries; "
        f"lower --count/--max-count or --max-radius"
    )


CHUNK = 4096  # images generated at a time: ~16 KB each (image, mask, objects), so ~70 MB whatever n is


def circles_chunks(n: int, spec: CircleSpec = CircleSpec(), seed: int = 0, progress=None,
                   chunk: int = CHUNK) -> Iterator[SceneArrays]:
    """The Circles Dataset of ``n`` images as consecutive blocks of at most ``chunk`` images.

    The blocks put together are ``generate_circles(n, spec, seed)`` whatever ``chunk`` is: the
    counts are drawn first, then a stream of uniforms places the circles. numpy's ``integers``
    gives the same values in pieces as in one call, so one generator draws the counts block by
    block while a second one, advanced past all n counts (bounded memory, ~40 ms per 10 million),
    feeds the placement.
    """
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one image")
    count_rng, rng = np.random.default_rng(seed), np.random.default_rng(seed)
    for start in range(0, n, 1 << 22):
        rng.integers(spec.min_count, spec.max_count + 1, size=min(1 << 22, n - start))
    u = _Uniforms(rng)
    k_max, params = spec.max_count, {"generator": "circles", **asdict(spec), "n": n}
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        images = np.zeros((m, spec.size, spec.size, 3), dtype=np.uint8)
        masks = np.zeros((m, spec.size, spec.size), dtype=np.uint8)
        objects = np.full((m, k_max, len(CIRCLE_FIELDS)), np.nan, dtype=np.float32)
        counts = count_rng.integers(spec.min_count, spec.max_count + 1, size=m).astype(np.int16)
        for i in range(m):
            circles = _sample_scene(u, spec, int(counts[i]))
            _render(circles, spec.size, images[i], masks[i])
            objects[i, : len(circles)] = circles
            if progress is not None and (start + i + 1) % 1000 == 0:
                progress(1000)
        if progress is not None and start + m == n:
            progress(n % 1000)
        yield SceneArrays("circles", {"images": images, "masks": masks, "objects": objects, "counts": counts},
                          CIRCLE_FIELDS, params=params, seed=seed)


def generate_circles(n: int, spec: CircleSpec = CircleSpec(), seed: int = 0, progress=None) -> SceneArrays:
    """``n`` images of the Circles Dataset in memory. The same ``seed`` gives identical arrays."""
    return concat_scenes(list(circles_chunks(n, spec, seed, progress)))


def isocircles_chunks(n: int, count: int = 2, spec: CircleSpec | None = None, seed: int = 0, progress=None,
                      chunk: int = CHUNK) -> Iterator[SceneArrays]:
    """``generate_isocircles`` in consecutive blocks of at most ``chunk`` pairs (the same pairs whatever ``chunk``)."""
    if count < 1:
        raise SSLRError(f"--count {count}: need at least one circle per image")
    spec = spec or CircleSpec(min_count=count, max_count=count)
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one pair")
    u = _Uniforms(np.random.default_rng(seed))
    s = spec.size
    params = {"generator": "isocircles", **asdict(spec), "count": count, "n": n}
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        a_img = np.zeros((m, s, s, 3), np.uint8)
        b_img = np.zeros((m, s, s, 3), np.uint8)
        a_mask = np.zeros((m, s, s), np.uint8)
        b_mask = np.zeros((m, s, s), np.uint8)
        a_obj = np.full((m, count, 4), np.nan, np.float32)
        b_obj = np.full((m, count, 4), np.nan, np.float32)
        targets = np.zeros((m, count), np.float32)
        for i in range(m):
            a = _sample_scene(u, spec, count)
            b = _sample_scene(u, spec, count, radii=a[:, 2], colors=a[:, 3])
            _render(a, s, a_img[i], a_mask[i])
            _render(b, s, b_img[i], b_mask[i])
            a_obj[i], b_obj[i] = a, b
            targets[i] = ((a[:, :2] - b[:, :2]) ** 2).sum(1)
            if progress is not None and (start + i + 1) % 1000 == 0:
                progress(1000)
        if progress is not None and start + m == n:
            progress(n % 1000)
        arrays = {
            "images": a_img, "masks": a_mask, "objects": a_obj, "counts": np.full(m, count, np.int16),
            "images_b": b_img, "masks_b": b_mask, "objects_b": b_obj,
            "correspondence": np.tile(np.arange(count, dtype=np.int16), (m, 1)),
            "targets": targets, "target": (targets.sum(1) / (s * s)).astype(np.float32),
        }
        yield SceneArrays("isocircles", arrays, CIRCLE_FIELDS, params=params, seed=seed)


def generate_isocircles(n: int, count: int = 2, spec: CircleSpec | None = None, seed: int = 0, progress=None) -> SceneArrays:
    """Pairs for the set-matching task: image A, and image B with the same circles at new centres.

    ``target`` = sum over circles of the squared centre displacement / size^2 (the scale the
    reference code trains on; 64*64 for the paper's images); ``targets`` holds the raw per-circle
    squared distances in pixels^2. Object j of image B is object j of image A
    (``correspondence`` is the identity, stored so readers need not assume it).
    """
    return concat_scenes(list(isocircles_chunks(n, count, spec, seed, progress)))


def circles_with_count(n: int, count: int, seed: int, size: int) -> SceneArrays:
    """``n`` images of exactly ``count`` circles (the learning curve's held-out images)."""
    return generate_circles(n, CircleSpec(size=size, min_count=count, max_count=count), seed=seed)


def circles_preset(f, task: str) -> str:
    """``tiny``; at 128 pixels (the CLEVR presets' side) ``clevr-small`` when reconstructing."""
    return "clevr-small" if task == "reconstruct" and f.image_size == 128 else "tiny"


# what a pair adds: image B, its masks and objects, which object of B is object j of A, the squared moves
PAIR_SCHEMA: dict[str, tuple[type, int]] = {
    "images_b": (np.uint8, 4),
    "masks_b": (np.uint8, 3),
    "objects_b": (np.float32, 3),
    "correspondence": (np.int16, 2),
    "targets": (np.float32, 2),
    "target": (np.float32, 1),
}

CIRCLES = DatasetKind(
    "circles", "reconstruct", BASE_SCHEMA, circles_preset,
    "The paper's Circles Dataset (Sec. 4.1): 0-10 red/green circles, radius 1-11, no same-colour overlap.",
    heldout=circles_with_count)
ISOCIRCLES = DatasetKind(
    "isocircles", "match", {**BASE_SCHEMA, **PAIR_SCHEMA}, circles_preset,
    "Set-matching pairs (Sec. 4.3): the same circles at new places; target = sum of squared moves / size^2.")
