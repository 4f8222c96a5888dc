"""An offline CLEVR-style scene renderer (Sec. 4.2, App. B): vectorised ray casting in numpy.

The real CLEVR (Johnson et al., 2016) is rendered with Blender; the paper adds a shadeless render
per image to get the objects on their own. Neither is available offline, so this module renders
scenes with the same content from first principles:

- Scene (CLEVR's ``properties.json`` and ``render_images.py`` defaults): 3 to 10 objects; shapes
  cube / sphere / cylinder; CLEVR's eight colours with its exact RGB values; materials rubber
  (matte) and metal (shiny); sizes small (r = 0.35) and large (r = 0.7); position uniform in
  [-3, 3]^2 on the ground plane z = 0, resting on it (centre height z = r, r / sqrt(2) for a cube,
  as CLEVR's ``3d_coords``); rotation uniform in
  [0, 360) degrees about the vertical axis. A sphere has radius r, a cylinder radius r and height
  2r, a cube half-side r / sqrt(2) (as CLEVR scales its cube), so every footprint lies in a disc of
  radius r. Two placements are rejected when their footprint discs come closer than ``min_gap``
  (CLEVR's ``min_dist`` = 0.25).
- Camera: CLEVR's Blender camera position (7.36, -6.93, 4.96) looking at the origin with its 35 mm
  lens on a 32 mm sensor (horizontal half-angle tan = 16/35) and its 3:2 frame (480x320). The frame
  is rendered straight into a square image, which is what the paper's ``Resize((128, 128))`` of
  the 480x320 renders gives (the same horizontal squeeze).
- Shading: ambient + Lambert diffuse + Blinn-Phong specular from one directional key light, hard
  shadows (a shadow ray from every lit point towards the light, tested against every object), and
  for metal a stronger, sharper highlight plus a crude sky/ground reflection term. A grey ground
  plane; no anti-aliasing, so every pixel belongs to exactly one surface and masks are exact.

Every primary ray is tested against the ground and each object analytically (ray-sphere,
ray-oriented-box by the slab method in the box frame, ray-vertical-cylinder with caps); the
nearest hit wins, which gives correct occlusion. The only Python loop is over objects; rays are
numpy arrays, pre-filtered by each object's bounding sphere.

Stored per image (see ``generate_clevr``): ``images``, ``foreground`` (the objects' shaded pixels on
black: the paper's reconstruction target), ``masks`` (nearest object id, 1-based, 0 = ground),
``objects`` (``CLEVR_FIELDS``, NaN-padded to K_max = max objects), ``counts``, and two kinds of
boxes (x0, y0, x1, y1) with exclusive ends (``x1`` = last column + 1), NaN for padding:
``boxes``, amodal: the pixels the object covers when rendered alone, occluded parts included (the
paper's kind: its reference code takes boxes from the scene file, which knows nothing of occlusion);
``boxes_visible``: its visible pixels (``masks[y0:y1, x0:x1]`` is the tight crop; NaN when hidden).

Apparent size: the camera, lens and object sizes are CLEVR's, so objects cover the same fraction of
the frame at any image side. Checked against the box heuristic the authors use for CLEVR's scene
files (``clevr_import.heuristic_box``, in 480x320 pixels), applied to the rendered scenes' own
objects (``benchmarks/bench_clevr.py --apparent-size``): the median widths and heights of spheres and
cubes are 91-101% of the heuristic's at 64 and 128 pixels, cylinders' widths 87-90% and heights
77-80% (the heuristic pads a cylinder's top); a small object is about 5 x 7 pixels at 64x64.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

from sslr_cli.data.dataset_kind import BASE_SCHEMA, DatasetKind
from sslr_cli.data.scenes import SceneArrays
from sslr_cli.errors import SSLRError

SHAPES = ("cube", "sphere", "cylinder")  # CLEVR's properties.json order
COLORS: dict[str, tuple[int, int, int]] = {  # CLEVR's properties.json, sRGB 0-255
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}
COLOR_NAMES = tuple(COLORS)
MATERIALS = ("rubber", "metal")
SIZES: dict[str, float] = {"small": 0.35, "large": 0.7}
SIZE_NAMES = tuple(SIZES)
# One row per object; categorical fields hold the index into the tuples above. px, py: the
# projected centre in pixels (CLEVR's ``pixel_coords``), rotation in degrees.
CLEVR_FIELDS = ["shape", "color", "material", "size", "x", "y", "z", "rotation", "px", "py"]

# What ``boxes`` holds, recorded in a dataset's params (files without the entry predate it: their
# ``boxes`` are the visible pixels' and they have no ``boxes_visible``).
BOXES_AMODAL = "amodal: the whole object, occluded parts too (the paper's kind); visible-pixel boxes in boxes_visible"

_EXTENT = 3.0  # CLEVR places objects in [-3, 3]^2
_TRIES_PER_OBJECT = 100
_TRIES_PER_SCENE = 50
_EPS = 1e-4

# Light and materials (chosen by eye to resemble CLEVR's renders).
_LIGHT = np.array([0.6, 0.26, 0.7]) / np.linalg.norm([0.6, 0.26, 0.7])  # towards the key light (camera right, above)
_AMBIENT = 0.35
_GROUND = np.array([0.55, 0.55, 0.55])
_SKY = np.array([0.65, 0.65, 0.67])
# material -> (diffuse weight, specular weight, shininess, reflection weight)
_MATERIAL = {0: (0.75, 0.12, 12.0, 0.0), 1: (0.45, 0.9, 80.0, 0.35)}


@dataclass(frozen=True)
class ClevrSpec:
    """What ``gen-data clevr`` renders. Defaults are CLEVR's scene rules at the paper's 128x128."""

    size: int = 128
    min_objects: int = 3
    max_objects: int = 10
    min_gap: float = 0.25  # CLEVR's min_dist between footprints (world units)
    # CLEVR redraws a scene in which an object shows fewer than 200 of 480x320 pixels; the same
    # fraction of this image (at least 1 pixel), so every stored object is visible.
    min_visible_fraction: float = 200.0 / (480 * 320)

    @property
    def min_visible(self) -> int:
        return max(1, int(round(self.min_visible_fraction * self.size * self.size)))

    def validate(self) -> None:
        if not 8 <= self.size <= 1024:
            raise SSLRError(f"--size {self.size}: must be between 8 and 1024 pixels")
        if not 1 <= self.min_objects <= self.max_objects:
            raise SSLRError(f"--min-objects/--max-objects {self.min_objects}..{self.max_objects}: need 1 <= min <= max")
        if self.max_objects > 255:
            raise SSLRError(f"--max-objects {self.max_objects}: instance masks are uint8, at most 255 objects")
        if self.min_gap < 0:
            raise SSLRError(f"min_gap {self.min_gap}: must be >= 0")
        if not 0.0 <= self.min_visible_fraction < 0.5:
            raise SSLRError(f"min_visible_fraction {self.min_visible_fraction}: must be in [0, 0.5)")
        # Footprint discs of radius r + gap/2 must be disjoint in a (6 + 2r)^2 square: an area bound
        # that rejects hopeless requests at once (the retry limit catches the rest).
        r = SIZES["small"] + self.min_gap / 2
        bound = int((2 * (_EXTENT + r)) ** 2 / (math.pi * r * r) * 0.9069)  # hexagonal packing density
        if self.max_objects > bound:
            raise SSLRError(f"--max-objects {self.max_objects}: that many objects cannot be placed apart on the "
                            f"[-3, 3]^2 ground (at most about {bound})")


@dataclass(frozen=True)
class Camera:
    """A pinhole camera; ``tan_x``/``tan_y`` are the tangents of the half field of view."""

    position: tuple[float, float, float] = (7.358891487121582, -6.925790786743164, 4.958309173583984)
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tan_x: float = 16.0 / 35.0  # 32 mm sensor, 35 mm lens
    tan_y: float = 16.0 / 35.0 * 320.0 / 480.0  # CLEVR's 3:2 frame

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _camera_basis(self)

    def _basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        forward = np.asarray(self.target, float) - np.asarray(self.position, float)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return forward, right, up

    def rays(self, size: int) -> np.ndarray:
        """Unit directions (size*size, 3) through the pixel centres, row-major, row 0 at the top."""
        forward, right, up = self.basis()
        c = (np.arange(size) + 0.5) / size * 2.0 - 1.0  # -1 .. 1 across the image
        u = c[None, :] * self.tan_x  # columns go right
        v = -c[:, None] * self.tan_y  # rows go down
        d = forward + u[..., None] * right + v[..., None] * up
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        return d.reshape(-1, 3)

    def project(self, points: np.ndarray, size: int) -> np.ndarray:
        """World points (M, 3) -> pixel coordinates (M, 2) as (x, y) with the pixel centres at +0.5."""
        forward, right, up = self.basis()
        rel = np.asarray(points, float) - np.asarray(self.position, float)
        depth = rel @ forward
        x = (rel @ right) / depth / self.tan_x
        y = (rel @ up) / depth / self.tan_y
        return np.stack([(x + 1.0) * size / 2.0, (1.0 - y) * size / 2.0], axis=1)


CAMERA = Camera()


@functools.lru_cache(maxsize=16)
def _camera_basis(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return camera._basis()


@dataclass(frozen=True)
class SceneObject:
    shape: int  # index into SHAPES
    color: int  # index into COLOR_NAMES
    material: int  # 0 rubber, 1 metal
    size: int  # 0 small, 1 large
    x: float
    y: float
    rotation: float  # degrees about the vertical axis

    @property
    def r(self) -> float:
        return SIZES[SIZE_NAMES[self.size]]

    @property
    def center(self) -> np.ndarray:
        # Resting on the ground: CLEVR translates each object up by its scale, which for a cube is
        # r / sqrt(2) (its half-side), so a cube's centre is lower than a sphere's of the same size.
        return np.array([self.x, self.y, self.r / math.sqrt(2) if self.shape == 0 else self.r])

    @property
    def bound(self) -> float:
        """Radius of a sphere around the centre that contains the object."""
        r = self.r
        return {0: r / math.sqrt(2) * math.sqrt(3), 1: r, 2: r * math.sqrt(2)}[self.shape]


# ----------------------------------------------------------------------------------------------
# Ray-primitive intersections. o: (P, 3) or (3,) origins, d: (P, 3) unit directions.
# Each returns the distance t (P,) of the first hit with t > _EPS, +inf where the ray misses.
# ----------------------------------------------------------------------------------------------


def intersect_sphere(o: np.ndarray, d: np.ndarray, center: np.ndarray, r: float) -> np.ndarray:
    oc = o - center
    b = (d * oc).sum(-1)
    c = (oc * oc).sum(-1) - r * r
    disc = b * b - c
    t = np.full(d.shape[0], np.inf)
    hit = disc >= 0
    sq = np.sqrt(np.where(hit, disc, 0.0))
    t0, t1 = -b - sq, -b + sq
    t = np.where(hit & (t0 > _EPS), t0, np.where(hit & (t1 > _EPS), t1, t))
    return t


def _rotate_z(v: np.ndarray, angle: float) -> np.ndarray:
    """Rotate vectors (..., 3) by ``angle`` radians about the vertical axis."""
    c, s = math.cos(angle), math.sin(angle)
    out = np.empty_like(v)
    out[..., 0] = c * v[..., 0] - s * v[..., 1]
    out[..., 1] = s * v[..., 0] + c * v[..., 1]
    out[..., 2] = v[..., 2]
    return out


def intersect_box(o: np.ndarray, d: np.ndarray, center: np.ndarray, half: float, angle: float) -> np.ndarray:
    """An axis-aligned cube in its own frame (rotated by ``angle`` about z): the slab method."""
    lo = _rotate_z(np.broadcast_to(o - center, d.shape), -angle)
    ld = _rotate_z(d, -angle)
    safe = np.where(np.abs(ld) < 1e-12, 1e-12, ld)  # a ray parallel to a slab: +-inf, never nan
    t1 = (-half - lo) / safe
    t2 = (half - lo) / safe
    tnear = np.minimum(t1, t2).max(-1)
    tfar = np.maximum(t1, t2).min(-1)
    hit = (tfar >= tnear) & (tfar > _EPS)
    return np.where(hit, np.where(tnear > _EPS, tnear, tfar), np.inf)


def intersect_cylinder(o: np.ndarray, d: np.ndarray, center: np.ndarray, r: float, half_height: float) -> np.ndarray:
    """A vertical cylinder (axis through ``center`` along z) with flat caps at z = cz +- half_height."""
    oc = np.broadcast_to(o - center, d.shape)
    ox, oy, oz = oc[:, 0], oc[:, 1], oc[:, 2]
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - r * r
    disc = b * b - a * c
    ok = (disc >= 0) & (a > 1e-12)
    sq = np.sqrt(np.where(ok, disc, 0.0))
    a_safe = np.where(a > 1e-12, a, 1.0)
    t = np.full(d.shape[0], np.inf)
    for root in ((-b - sq) / a_safe, (-b + sq) / a_safe):  # side wall, both crossings
        z = oz + root * dz
        good = ok & (root > _EPS) & (np.abs(z) <= half_height)
        t = np.where(good & (root < t), root, t)
    dz_safe = np.where(np.abs(dz) < 1e-12, 1e-12, dz)
    for cap in (-half_height, half_height):  # the two discs
        root = (cap - oz) / dz_safe
        px, py = ox + root * dx, oy + root * dy
        good = (np.abs(dz) >= 1e-12) & (root > _EPS) & (px * px + py * py <= r * r)
        t = np.where(good & (root < t), root, t)
    return t


def intersect_ground(o: np.ndarray, d: np.ndarray) -> np.ndarray:
    oz = np.broadcast_to(o, d.shape)[:, 2]
    dz = d[:, 2]
    down = dz < -1e-12
    t = -oz / np.where(down, dz, -1.0)
    return np.where(down & (t > _EPS), t, np.inf)


def hit_object(obj: SceneObject, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Distance to ``obj`` along each ray (+inf on a miss), without any pre-filter."""
    if obj.shape == 1:
        return intersect_sphere(o, d, obj.center, obj.r)
    if obj.shape == 0:
        return intersect_box(o, d, obj.center, obj.r / math.sqrt(2), math.radians(obj.rotation))
    return intersect_cylinder(o, d, obj.center, obj.r, obj.r)


def intersect_object(obj: SceneObject, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Distance to ``obj`` along each ray; only rays that meet its bounding sphere are tested exactly."""
    center = obj.center
    t = np.full(d.shape[0], np.inf)
    near = np.isfinite(intersect_sphere(o, d, center, obj.bound))
    near |= ((o - center) ** 2).sum(-1) < obj.bound**2  # an origin inside the bounding sphere
    near = np.flatnonzero(near)
    if near.size:
        t[near] = hit_object(obj, o[near] if o.ndim == 2 else o, d[near])
    return t


def screen_rect(obj: SceneObject, size: int, camera: Camera) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (x0, y0, x1, y1), exclusive ends, that holds the object's whole projection.

    The projection of the bounding sphere lies inside the projection of its bounding cube, and that
    inside the rectangle of the cube's eight projected corners (all in front of the camera here).
    """
    c, b = obj.center, obj.bound
    corners = c + b * np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    pix = camera.project(corners, size)
    x0, y0 = np.floor(pix.min(0)).astype(int) - 1
    x1, y1 = np.ceil(pix.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x0 >= x1 or y0 >= y1:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def surface_normals(obj: SceneObject, p: np.ndarray) -> np.ndarray:
    """Outward unit normals (M, 3) of ``obj`` at its surface points ``p`` (M, 3)."""
    rel = p - obj.center
    r = obj.r
    if obj.shape == 1:
        return rel / r
    if obj.shape == 0:
        angle = math.radians(obj.rotation)
        local = _rotate_z(rel, -angle)
        axis = np.abs(local).argmax(-1)  # the face: the coordinate at +-half
        n = np.zeros_like(local)
        n[np.arange(len(p)), axis] = np.sign(local[np.arange(len(p)), axis])
        return _rotate_z(n, angle)
    # cylinder: a cap where |z| reaches the half height (up to rounding), the side wall otherwise
    n = np.zeros_like(rel)
    cap = np.abs(rel[:, 2]) >= r * (1 - 1e-6) - 1e-6
    radial = np.hypot(rel[:, 0], rel[:, 1])
    cap |= radial < r * (1 - 1e-3)  # well inside the rim: only a cap can be hit there
    n[cap, 2] = np.sign(rel[cap, 2])
    side = ~cap
    n[side, 0] = rel[side, 0] / np.maximum(radial[side], 1e-12)
    n[side, 1] = rel[side, 1] / np.maximum(radial[side], 1e-12)
    return n


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


@dataclass
class Rendered:
    image: np.ndarray  # uint8 (S, S, 3)
    foreground: np.ndarray  # uint8 (S, S, 3): object pixels of ``image``, black elsewhere
    mask: np.ndarray  # uint8 (S, S): 0 ground/sky, k = objects[k - 1]
    boxes: np.ndarray  # float32 (K, 4) x0, y0, x1, y1 (exclusive ends) of the whole object, occluded parts too
    boxes_visible: np.ndarray  # float32 (K, 4) the same of its visible pixels; NaN if hidden


@dataclass(frozen=True)
class _View:
    """Everything about the primary rays that does not depend on the scene (cached per size)."""

    d: np.ndarray  # (P, 3) unit ray directions
    t_ground: np.ndarray  # (P,) distance to the ground plane, +inf above the horizon
    ground_p: np.ndarray  # (P, 3) ground hit points, lifted just off the plane for shadow rays
    ground_q: np.ndarray  # (P, 3) the same points in the light frame (see _shadowed)
    pixel: np.ndarray  # (S, S) flat pixel index


_VIEW_CACHE: dict[tuple[int, Camera], _View] = {}


def _view(size: int, camera: Camera) -> _View:
    key = (size, camera)
    if key not in _VIEW_CACHE:
        d = camera.rays(size)
        t = intersect_ground(np.asarray(camera.position, float), d)
        p = np.asarray(camera.position, float) + np.where(np.isfinite(t), t, 0.0)[:, None] * d
        p[:, 2] = 1e-3  # just above the plane, so shadow rays start off the surface
        _VIEW_CACHE[key] = _View(d, t, p, p @ _light_basis(_LIGHT), np.arange(size * size).reshape(size, size))
    return _VIEW_CACHE[key]


@functools.lru_cache(maxsize=4)
def _light_frame(light: tuple[float, float, float]) -> np.ndarray:
    return _light_basis(np.asarray(light, float))


def _light_basis(light: np.ndarray) -> np.ndarray:
    """(3, 3) columns e1, e2, L: an orthonormal frame whose third axis points at the light."""
    e1 = np.cross(light, [0.0, 0.0, 1.0] if abs(light[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(light, e1), light], axis=1)


def _shadowed(objects: list[SceneObject], p: np.ndarray, light: np.ndarray, q: np.ndarray | None = None) -> np.ndarray:
    """(M,) True where the ray from ``p`` towards the (directional) light hits any object.

    In a frame with the light along the third axis (``q`` = ``p`` in that frame, if known) a ray can
    only meet an object's bounding sphere if its origin lies within the sphere's radius in the first
    two coordinates and not beyond the sphere along the third; only those rays are tested exactly.
    """
    frame = _light_frame(tuple(light))
    q = p @ frame if q is None else q
    blocked = np.zeros(len(p), bool)
    for obj in objects:
        qc = obj.center @ frame
        b = obj.bound
        cand = np.flatnonzero(((q[:, 0] - qc[0]) ** 2 + (q[:, 1] - qc[1]) ** 2 < b * b) & (q[:, 2] < qc[2] + b))
        cand = cand[~blocked[cand]]
        if cand.size:
            blocked[cand] = np.isfinite(hit_object(obj, p[cand], np.broadcast_to(light, (cand.size, 3))))
    return blocked


def _sky(dirs: np.ndarray) -> np.ndarray:
    """A dim environment for metal reflections: ground grey below the horizon, brighter above."""
    up = np.clip(dirs[:, 2:3], -1.0, 1.0)
    return np.where(up > 0, _SKY + 0.25 * up, _GROUND * 0.8)


def boxes_from_mask(mask: np.ndarray, count: int) -> np.ndarray:
    """(count, 4) float32 (x0, y0, x1, y1) of the pixels of ids 1..count; exclusive ends, NaN if absent."""
    boxes = np.full((count, 4), np.nan, np.float32)
    ys, xs = np.nonzero(mask)
    ids = mask[ys, xs].astype(np.int64) - 1
    keep = ids < count
    ys, xs, ids = ys[keep], xs[keep], ids[keep]
    if ids.size:
        x0 = np.full(count, np.iinfo(np.int64).max)
        y0 = np.full(count, np.iinfo(np.int64).max)
        x1 = np.full(count, -1)
        y1 = np.full(count, -1)
        np.minimum.at(x0, ids, xs)
        np.minimum.at(y0, ids, ys)
        np.maximum.at(x1, ids, xs)
        np.maximum.at(y1, ids, ys)
        seen = x1 >= 0
        boxes[seen] = np.stack([x0[seen], y0[seen], x1[seen] + 1, y1[seen] + 1], axis=1)
    return boxes


def render_scene(objects: list[SceneObject], size: int = 128, camera: Camera = CAMERA) -> Rendered:
    """Ray-cast one scene; see the module docstring for the model of light and camera."""
    view = _view(size, camera)
    d = view.d
    o = np.asarray(camera.position, float)
    t_best = view.t_ground.copy()
    owner = np.where(np.isfinite(t_best), 0, -1)  # -1 sky, 0 ground, k: objects[k - 1]
    amodal = np.full((len(objects), 4), np.nan, np.float32)
    for k, obj in enumerate(objects):
        rect = screen_rect(obj, size, camera)
        if rect is None:
            continue
        x0, y0, x1, y1 = rect
        idx = view.pixel[y0:y1, x0:x1].ravel()
        t = hit_object(obj, o, d[idx])
        silhouette = np.isfinite(t).reshape(y1 - y0, x1 - x0)  # the object alone, before occlusion
        if silhouette.any():
            amodal[k] = boxes_from_mask(silhouette.astype(np.uint8), 1)[0] + np.array([x0, y0, x0, y0], np.float32)
        closer = t < t_best[idx]  # the nearest hit wins: occlusion
        t_best[idx[closer]] = t[closer]
        owner[idx[closer]] = k + 1

    colour = np.empty((d.shape[0], 3))
    colour[owner < 0] = _SKY
    # Ground: normal (0, 0, 1), matte; lit unless a shadow ray meets an object.
    g = np.flatnonzero(owner == 0)
    shadow = _shadowed(objects, view.ground_p[g], _LIGHT, view.ground_q[g])
    colour[g] = np.where(shadow[:, None], _GROUND * _AMBIENT, _GROUND * (_AMBIENT + 0.8 * _LIGHT[2]))
    # Objects: per-object normals and materials, then one shading pass over all object pixels.
    m = np.flatnonzero(owner > 0)
    if m.size:
        dm = d[m]
        p = o + t_best[m, None] * dm
        normals = np.empty_like(p)
        base = np.empty_like(p)
        params = np.empty((m.size, 4))
        ids = owner[m]
        for k, obj in enumerate(objects):
            sel = ids == k + 1
            if sel.any():
                normals[sel] = surface_normals(obj, p[sel])
                base[sel] = np.asarray(COLORS[COLOR_NAMES[obj.color]], float) / 255.0
                params[sel] = _MATERIAL[obj.material]
        kd, ks, shine, refl = params.T
        n_dot_l = normals @ _LIGHT
        lit = n_dot_l > 0
        front = np.flatnonzero(lit)
        if front.size:  # off the surface, so a point does not shadow itself
            lit[front[_shadowed(objects, p[front] + normals[front] * 1e-3, _LIGHT)]] = False
        half = _LIGHT - dm
        half /= np.sqrt((half * half).sum(-1, keepdims=True))
        spec = np.clip((normals * half).sum(-1), 0.0, 1.0) ** shine
        c = base * (_AMBIENT + kd * np.clip(n_dot_l, 0.0, 1.0) * lit)[:, None] + (ks * spec * lit)[:, None]
        shiny = refl > 0  # metal mirrors a dim environment, tinted by its colour
        if shiny.any():
            nd = (dm[shiny] * normals[shiny]).sum(-1, keepdims=True)
            reflected = dm[shiny] - 2.0 * nd * normals[shiny]
            c[shiny] += refl[shiny, None] * _sky(reflected) * base[shiny]
        colour[m] = c
    image = (np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).reshape(size, size, 3)

    mask = np.clip(owner, 0, None).astype(np.uint8).reshape(size, size)
    fg = mask > 0
    foreground = np.where(fg[..., None], image, 0).astype(np.uint8)
    # "foreground = any channel > 0" must find every object pixel, even a black-rendered one
    foreground[fg & (foreground.max(-1) == 0)] = 1
    return Rendered(image, foreground, mask, amodal, boxes_from_mask(mask, len(objects)))


# ----------------------------------------------------------------------------------------------
# Scene sampling and the dataset
# ----------------------------------------------------------------------------------------------


def _place(rng: np.random.Generator, count: int, spec: ClevrSpec) -> list[SceneObject] | None:
    placed: list[SceneObject] = []
    for _ in range(count):
        size = int(rng.integers(2))
        r = SIZES[SIZE_NAMES[size]]
        for _ in range(_TRIES_PER_OBJECT):
            x, y = rng.uniform(-_EXTENT, _EXTENT, 2)
            if all((x - q.x) ** 2 + (y - q.y) ** 2 >= (r + q.r + spec.min_gap) ** 2 for q in placed):
                break
        else:
            return None
        placed.append(SceneObject(
            shape=int(rng.integers(len(SHAPES))), color=int(rng.integers(len(COLOR_NAMES))),
            material=int(rng.integers(len(MATERIALS))), size=size, x=float(x), y=float(y),
            rotation=float(rng.uniform(0.0, 360.0)),
        ))
    return placed


def sample_scene(rng: np.random.Generator, spec: ClevrSpec, count: int) -> list[SceneObject]:
    """``count`` objects whose footprints keep ``min_gap`` apart (whole scene redrawn on failure)."""
    for _ in range(_TRIES_PER_SCENE):
        objects = _place(rng, count, spec)
        if objects is not None:
            return objects
    raise SSLRError(
        f"could not place {count} objects at least {spec.min_gap} apart on the [-3, 3]^2 ground after "
        f"{_TRIES_PER_SCENE} scenes of {_TRIES_PER_OBJECT} tries per object; lower --max-objects"
    )


def render_visible_scene(rng: np.random.Generator, spec: ClevrSpec, count: int) -> tuple[list[SceneObject], Rendered]:
    """Sample and render scenes until every object shows at least ``spec.min_visible`` pixels."""
    for _ in range(_TRIES_PER_SCENE):
        scene = sample_scene(rng, spec, count)
        out = render_scene(scene, spec.size)
        visible = np.bincount(out.mask.ravel(), minlength=count + 1)[1:]
        if visible.min() >= spec.min_visible:
            return scene, out
    raise SSLRError(
        f"could not render {count} objects with each showing at least {spec.min_visible} pixels after "
        f"{_TRIES_PER_SCENE} scenes; lower --max-objects or raise --size"
    )


def object_rows(objects: list[SceneObject], size: int, camera: Camera = CAMERA) -> np.ndarray:
    """(K, len(CLEVR_FIELDS)) float32 attribute rows."""
    if not objects:
        return np.zeros((0, len(CLEVR_FIELDS)), np.float32)
    centers = np.stack([o.center for o in objects])
    pix = camera.project(centers, size)
    rows = [[o.shape, o.color, o.material, o.size, o.x, o.y, o.center[2], o.rotation, px, py]
            for o, (px, py) in zip(objects, pix)]
    return np.asarray(rows, np.float32)


def generate_clevr(n: int, spec: ClevrSpec = ClevrSpec(), seed: int = 0, progress=None) -> SceneArrays:
    """``n`` CLEVR-style scenes. The same ``seed`` (and spec) gives identical arrays."""
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one image")
    rng = np.random.default_rng(seed)
    s, k_max = spec.size, spec.max_objects
    images = np.zeros((n, s, s, 3), np.uint8)
    foreground = np.zeros((n, s, s, 3), np.uint8)
    masks = np.zeros((n, s, s), np.uint8)
    objects = np.full((n, k_max, len(CLEVR_FIELDS)), np.nan, np.float32)
    boxes = np.full((n, k_max, 4), np.nan, np.float32)
    boxes_visible = np.full((n, k_max, 4), np.nan, np.float32)
    counts = rng.integers(spec.min_objects, spec.max_objects + 1, size=n).astype(np.int16)
    step = 100
    for i in range(n):
        scene, out = render_visible_scene(rng, spec, int(counts[i]))
        images[i], foreground[i], masks[i] = out.image, out.foreground, out.mask
        objects[i, : len(scene)] = object_rows(scene, s)
        boxes[i, : len(scene)] = out.boxes
        boxes_visible[i, : len(scene)] = out.boxes_visible
        if progress is not None and (i + 1) % step == 0:
            progress(step)
    if progress is not None and n % step:
        progress(n % step)
    arrays = {"images": images, "foreground": foreground, "masks": masks, "objects": objects,
              "counts": counts, "boxes": boxes, "boxes_visible": boxes_visible}
    params = {"generator": "clevr-render", **asdict(spec), "boxes": BOXES_AMODAL, "n": n, "camera": asdict(CAMERA),
              "shapes": list(SHAPES), "colors": list(COLOR_NAMES), "materials": list(MATERIALS),
              "sizes": list(SIZE_NAMES)}
    return SceneArrays("clevr", arrays, CLEVR_FIELDS, params=params, seed=seed)


def clevr_preset(f, task: str) -> str:
    """``clevr-tiny`` for 64-pixel renders, ``clevr-small`` otherwise (``tiny`` for another task)."""
    if task != "reconstruct":
        return "tiny"
    return "clevr-tiny" if f.image_size == 64 else "clevr-small"


CLEVR = DatasetKind(
    "clevr", "reconstruct", {**BASE_SCHEMA, "foreground": (np.uint8, 4), "boxes": (np.float32, 3)}, clevr_preset,
    "CLEVR-style scenes (Sec. 4.2): 3-10 shaded objects on a ground plane, with foreground, masks and boxes.")
