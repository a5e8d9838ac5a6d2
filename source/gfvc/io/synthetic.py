"""A talking-head-like clip synthesised from one still photo (scikit-image's astronaut).

The head moves over a still background: a smooth mask (1 inside an ellipse around the head,
falling to 0 a little outside it) blends a per-frame similarity motion of the head (roll
about a pivot at the neck, sideways sway, nod, a slight scale change as if leaning in) with
no motion elsewhere, so the neck and the nearby background bend a little as in a real head
turn. The crop is first reduced to the output size with the exact area filter of
gfvc.io.resample (anti-aliasing), then each frame is one bilinear warp of that picture.

Bit-exactness: the motion curves use :func:`sin_turns`, a fixed polynomial evaluated with
+ and * only (libm and numpy's SIMD sin may differ in the last bit between machines); the
rest is element-wise float64 arithmetic and sqrt, which IEEE 754 rounds exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .resample import SquareBox, resize_frames, round_to_u8

_TWO_PI = 2.0 * math.pi


def sin_turns(turns: float) -> float:
    """sin(2*pi*turns) to ~1e-8 from a degree-17 Taylor polynomial on [-pi, pi) (Horner form)."""
    r = turns - math.floor(turns)  # [0, 1)
    a = _TWO_PI * (r - 0.5)  # [-pi, pi); sin(2 pi r) = -sin(a)
    a2 = a * a
    poly = 0.0
    for k in range(8, -1, -1):  # terms a^(2k+1) / (2k+1)!, highest first
        poly = poly * a2 + (-1.0) ** k / math.factorial(2 * k + 1)
    return -(a * poly)


@dataclass(frozen=True)
class Wave:
    """amplitude * sin(2 pi (t / period + phase)), t in seconds."""

    amplitude: float
    period: float
    phase: float = 0.0

    def __call__(self, t: float) -> float:
        return self.amplitude * sin_turns(t / self.period + self.phase)


def _waves(raw) -> list[Wave]:
    return [Wave(float(w[0]), float(w[1]), float(w[2]) if len(w) > 2 else 0.0) for w in raw]


@dataclass(frozen=True)
class HeadMotion:
    """Parameters of the synthetic motion, as recorded in the manifest (``motion:``)."""

    head_centre: tuple[float, float]  # ellipse centre (x, y) in photo pixels
    head_radii: tuple[float, float]  # ellipse radii; the mask is 1 inside
    falloff: float  # mask falls to 0 at falloff * radius
    pivot: tuple[float, float]  # rotation centre (the neck)
    roll_deg: list[Wave]
    shift_x: list[Wave]
    shift_y: list[Wave]
    scale: list[Wave]  # relative change, added to 1

    @classmethod
    def from_manifest(cls, raw: dict) -> "HeadMotion":
        return cls(tuple(raw["head_centre"]), tuple(raw["head_radii"]), float(raw["falloff"]),
                   tuple(raw["pivot"]), _waves(raw["roll_deg"]), _waves(raw["shift_x"]),
                   _waves(raw["shift_y"]), _waves(raw["scale"]))

    def at(self, t: float) -> tuple[float, float, float, float]:
        """(roll in radians, dx, dy, scale) at time t; each a sum of waves in list order."""
        def total(waves):
            s = 0.0
            for w in waves:
                s = s + w(t)
            return s
        return total(self.roll_deg) * (math.pi / 180.0), total(self.shift_x), total(self.shift_y), 1.0 + total(self.scale)


def _mask(x: np.ndarray, y: np.ndarray, m: HeadMotion) -> np.ndarray:
    dx = (x - m.head_centre[0]) / m.head_radii[0]
    dy = (y - m.head_centre[1]) / m.head_radii[1]
    r = np.sqrt(dx * dx + dy * dy)
    u = np.clip((m.falloff - r) / (m.falloff - 1.0), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)  # smoothstep: 1 inside the ellipse, 0 beyond falloff


class BilinearSampler:
    """Samples a float64 (H, W, C) picture at float coordinates (pixel centres at integers).

    The four neighbours of every pixel are stored side by side, so one gather per sample
    fetches all of them. Coordinates outside the picture are clamped to its edge.
    """

    def __init__(self, img: np.ndarray):
        h, w, c = img.shape
        pad = np.concatenate([img, img[-1:]], axis=0)
        pad = np.concatenate([pad, pad[:, -1:]], axis=1)
        self.quads = np.concatenate([pad[:-1, :-1], pad[:-1, 1:], pad[1:, :-1], pad[1:, 1:]],
                                    axis=2).reshape(h * w, 4 * c)
        self.h, self.w, self.c = h, w, c

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, self.w - 1.0)
        y = np.clip(y, 0.0, self.h - 1.0)
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = (x - x0)[..., None]
        fy = (y - y0)[..., None]
        q = np.take(self.quads, (y0.astype(np.int64) * self.w + x0.astype(np.int64)), axis=0)
        c = self.c
        top = q[..., 0:c] * (1.0 - fx) + q[..., c:2 * c] * fx
        bottom = q[..., 2 * c:3 * c] * (1.0 - fx) + q[..., 3 * c:] * fx
        return top * (1.0 - fy) + bottom * fy


def head_motion_clip(photo: np.ndarray, box: SquareBox, motion: HeadMotion, num_frames: int,
                     fps: Fraction, out_size: int) -> np.ndarray:
    """(num_frames, out_size, out_size, 3) uint8 frames of ``photo`` cropped to ``box``, head moving.

    Motion parameters are in photo pixels; the warp runs on the reduced crop, whose pixel u
    has its centre at photo coordinate box.x + (u + 0.5) * step - 0.5 (likewise for rows).
    """
    h, w = photo.shape[:2]
    if box.x < 0 or box.y < 0 or box.x + box.size > w or box.y + box.size > h:
        raise ValueError(f"crop box {box.as_list()} does not fit the {w}x{h} photo")
    crop = photo[box.y:box.y + box.size, box.x:box.x + box.size]
    sample = BilinearSampler(resize_frames(crop[None], out_size, out_size)[0].astype(np.float64))
    step = box.size / out_size
    centres = np.arange(out_size, dtype=np.float64)
    qx = np.broadcast_to(box.x + (centres[None, :] + 0.5) * step - 0.5, (out_size, out_size))
    qy = np.broadcast_to(box.y + (centres[:, None] + 0.5) * step - 0.5, (out_size, out_size))
    weight = _mask(qx, qy, motion)
    px, py = motion.pivot
    frames = np.empty((num_frames, out_size, out_size, 3), np.uint8)
    for j in range(num_frames):
        roll, dx, dy, s = motion.at(float(Fraction(j) / fps))
        c, sn = sin_turns(roll / _TWO_PI + 0.25), sin_turns(roll / _TWO_PI)
        # Inverse of p -> pivot + s R(roll) (p - pivot) + d, blended by the mask: where the
        # mask is 1 the pixel shows the moved head, where it is 0 the still photo.
        ux, uy = (qx - px - dx) / s, (qy - py - dy) / s
        hx = px + c * ux + sn * uy
        hy = py - sn * ux + c * uy
        sx = qx + weight * (hx - qx)
        sy = qy + weight * (hy - qy)
        # Photo coordinates -> reduced-crop coordinates.
        frames[j] = round_to_u8(sample((sx - box.x + 0.5) / step - 0.5, (sy - box.y + 0.5) / step - 0.5))
    return frames
