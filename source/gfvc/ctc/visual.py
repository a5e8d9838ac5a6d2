"""What the visual report (``report/index.html``, gfvc.evaluation.html) needs from a CTC run.

Worker side (:func:`cell_visual`): a few decoded pictures of the cell as PNG files, and, when the
run does not measure ``psnr_y``, the per-picture PSNR-Y (cheap). The driver stores the PNG files
as ``cells/<digest>.pictures/p<index>.png`` *before* the cell's record, and the record's
``visual`` part names them with their SHA-256; so the record stays the commit marker, and a
picture file that is missing or not the recorded one is shown as "not recorded" (the cell is not
computed again for it).

Driver side (:func:`sequence_views`): per sequence, the rate point of each codec closest to a
common target rate, its per-picture quality, key pictures, and the pictures with those of the
original sequence. Records made before the visual report existed have no ``visual`` part: the
report says so and shows what the record has (per-picture metric values always were stored).
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np

VISUAL_FORMAT = "gfvc-ctc-visual/1"
#: pictures larger than this on their longer side are reduced by an integer box filter
THUMBNAIL_MAX_SIDE = 256
#: per-picture quality the report plots (when the record has them), in this order
SERIES_METRICS = ("psnr_y", "ms_ssim", "ssim")


def picture_indices(frames: int) -> list[int]:
    """The pictures a report shows: the first after picture 0 (every codec codes picture 0 as a
    key or intra picture, so this is the first predicted one), the middle one and the last one.
    Depends only on the frame count, so every codec of a sequence shows the same pictures."""
    if frames <= 0:
        return []
    return sorted({min(1, frames - 1), frames // 2, frames - 1})


def picture_file_name(index: int) -> str:
    return f"p{index:06d}.png"


def thumbnail_png(picture: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 picture as PNG bytes (no metadata: the same picture gives the same
    bytes); reduced by an integer box filter when its longer side exceeds THUMBNAIL_MAX_SIDE."""
    from PIL import Image

    pic = np.asarray(picture, dtype=np.uint8)
    h, w = pic.shape[:2]
    f = -(-max(h, w) // THUMBNAIL_MAX_SIDE)
    if f > 1:
        hh, ww = (h // f) * f, (w // f) * f
        blocks = pic[:hh, :ww].astype(np.float64).reshape(hh // f, f, ww // f, f, 3)
        pic = np.clip(np.rint(blocks.mean(axis=(1, 3))), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pic), "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def cell_visual(frames: np.ndarray, decoded: np.ndarray,
                measured_psnr_y: bool) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The record's ``visual`` part and the picture files ({file name: PNG bytes}) of a cell."""
    files, pictures = {}, {}
    for i in picture_indices(decoded.shape[0]):
        data = thumbnail_png(decoded[i])
        files[picture_file_name(i)] = data
        pictures[str(i)] = hashlib.sha256(data).hexdigest()
    visual: dict[str, Any] = {"format": VISUAL_FORMAT, "pictures": pictures}
    if not measured_psnr_y:
        from ..metrics import get_metric

        per = get_metric("psnr_y").compute(frames, decoded).per_picture
        visual["psnr_y"] = [float(x) for x in np.asarray(per, dtype=np.float64)]
    return visual, files


# -- driver side ---------------------------------------------------------------------------------

def key_pictures(metadata: Any, frames: int) -> list[int] | None:
    """Key (intra) pictures of a cell from its codec metadata: a GFVC codec lists them; a
    conventional anchor gives its structure (low-delay: picture 0 only; intra: every picture).
    None when the codec says nothing about them."""
    if not isinstance(metadata, dict):
        return None
    keys = metadata.get("key_pictures")
    if isinstance(keys, list) and all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
        return sorted(k for k in set(keys) if 0 <= k < frames)
    structure = metadata.get("structure")
    if structure == "intra":
        return list(range(frames))
    if isinstance(structure, str) and structure.startswith("lowdelay"):
        return [0] if frames > 0 else []
    return None


def _series(rec: dict[str, Any], frames: int) -> dict[str, list[float]]:
    out = {}
    metrics = rec.get("metrics") or {}
    visual = rec.get("visual") if isinstance(rec.get("visual"), dict) else {}
    for name in SERIES_METRICS:
        m = metrics.get(name)
        values = m.get("per_picture") if isinstance(m, dict) else None
        if values is None and name == "psnr_y":
            values = visual.get("psnr_y")
        if isinstance(values, list) and len(values) == frames:
            out[name] = [float(v) for v in values]
    return out


def _picture_bytes(store, digest: str, rec: dict[str, Any]) -> tuple[dict[int, bytes], str]:
    """{index: PNG bytes} of the pictures a record names and that are there as recorded, and a
    note for the report when some are not."""
    from ..files import read_input_bytes

    visual = rec.get("visual")
    if not isinstance(visual, dict) or visual.get("format") != VISUAL_FORMAT \
            or not isinstance(visual.get("pictures"), dict):
        return {}, "pictures not recorded (cell computed before gfvc stored them)"
    out, bad = {}, 0
    for key, sha in visual["pictures"].items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(sha, str)):
            bad += 1
            continue
        try:
            data = read_input_bytes(store.picture_path(digest, int(key)), "picture", 64 << 20)
        except OSError:
            bad += 1
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            bad += 1
            continue
        out[int(key)] = data
    return out, (f"{bad} picture file(s) missing or not the recorded ones" if bad else "")


def _original_pictures(seq, indices: list[int]) -> tuple[dict[int, bytes], str]:
    from ..errors import GfvcError
    from ..io import read_sequence

    out = {}
    try:
        for i in indices:
            out[i] = thumbnail_png(read_sequence(seq.path, num_frames=1, start=i)[0])
    except (OSError, ValueError, GfvcError) as e:
        return {}, f"original pictures not readable: {e}"
    return out, ""


def sequence_views(plan, records: list[dict[str, Any] | None], run_dir: Path) -> list:
    """One gfvc.evaluation.html.SequenceView per sequence with finished cells, in plan order."""
    from ..evaluation.html import CodecView, SequenceView, choose_rate_points
    from .store import RunStore

    store = RunStore(run_dir)
    cfg = plan.config
    anchors = list(cfg.bdrate_anchors)
    labels = [c.spec.label for c in plan.codecs]
    tests = list(cfg.bdrate_tests) if cfg.bdrate_tests is not None else [c for c in labels if c not in anchors]
    labels = [c for c in labels if c in anchors] + [c for c in labels if c not in anchors]  # anchors first
    views = []
    for seq in plan.sequences:
        cells = [(t, r) for t, r in zip(plan.tasks, records) if t.sequence == seq.name and r is not None]
        if not cells:
            continue
        points: dict[str, list[tuple[Any, float]]] = {}
        for t, r in cells:
            points.setdefault(t.codec_label, []).append((t.rate_point, float(r["kbps"])))
        target, chosen = choose_rate_points(points, tests)
        indices = picture_indices(seq.frames)
        original, note = _original_pictures(seq, indices)
        codecs = []
        for label in labels:
            if label not in chosen:
                continue
            task, rec = next((t, r) for t, r in cells if t.codec_label == label and t.rate_point == chosen[label])
            pictures, pnote = _picture_bytes(store, task.digest, rec)
            role = "anchor" if label in anchors else "test" if label in tests else ""
            codecs.append(CodecView(codec=label, role=role, rate_point=task.rate_point, kbps=float(rec["kbps"]),
                                    series=_series(rec, seq.frames),
                                    key_pictures=key_pictures(rec.get("codec_metadata"), seq.frames),
                                    pictures=pictures, note=pnote, rate_points=len(points[label])))
        views.append(SequenceView(name=seq.name, frames=seq.frames, target_kbps=target, picture_indices=indices,
                                  original=original, codecs=codecs, note=note))
    return views
