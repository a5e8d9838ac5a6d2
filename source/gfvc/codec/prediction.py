"""The encoder's choice of what a generated picture outputs, and its search of the face parameters.

Two encoder tools, shared by the single- and multi-reference loops (encoder.py, multi_reference.py);
the decoder only applies what the stream says (doc/codec.md, "Prediction modes and parameter search"):

* **Parameter search.** The public software sends the face parameters its analysis network
  detects. They are only an estimate: the encoder knows the original picture, so it can move them
  to the parameters whose picture is closest to it, as a block-based encoder searches for its
  motion vectors instead of sending a motion estimator's guess. ``search_parameters`` takes
  ``iterations`` Adam steps on the distortion between the original and the reference picture(s)
  warped along the model's dense motion field (differentiable in the keypoints, and cheap: the
  dense-motion network runs at a quarter of the picture size; the generator is not run). The
  decoder is unchanged: it receives parameters as always, and the generator uses the same dense
  motion field, so the generated picture follows the better motion too.
* **Prediction mode.** Per generated picture, the output is the generator's picture (mode 0) or
  the warped reference itself (mode 1), whichever is closer to the original. A small generator
  blurs detail that a warp of the decoded key picture keeps (FSIM punishes the blur); where the
  motion is a deformation of the key picture (a still background, a moved photo) the warp is the
  better picture. The modes travel in one gfvc_prediction_modes message per key picture.

The distortion is L1 + (1 - SSIM) on pictures in [0, 1] (11x11 Gaussian SSIM window), the
training fallback's distance: one number per picture, no weights file needed.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..bitstream import PREDICTION_MODE_GENERATED, PREDICTION_MODE_WARPED_REFERENCE, PredictionModes
from ..metrics.ssim import gaussian_window, ssim_and_cs
from ..models.base import nearest_reference
from .pictures import to_model, to_uint8

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
MODE_BY_NAME = {"generated": PREDICTION_MODE_GENERATED, "warped_reference": PREDICTION_MODE_WARPED_REFERENCE}


def picture_distance(pictures: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """(B,) L1 + (1 - SSIM) of (B, 3, H, W) pictures in [0, 1] against the originals."""
    window = gaussian_window(SSIM_WINDOW, SSIM_SIGMA, pictures.device, pictures.dtype)
    ssim, _ = ssim_and_cs(pictures * 255.0, originals * 255.0, window)
    return (pictures - originals).abs().mean(dim=(1, 2, 3)) + 1.0 - ssim.mean(dim=1)


def search_scale(pictures: torch.Tensor) -> torch.Tensor:
    """The search compares pictures at half size (2x2 means): a third less time per step than at
    full size (the warp's gradient and SSIM at full size cost as much as the dense-motion network),
    and the dense motion field itself has a quarter of the picture's resolution."""
    if min(pictures.shape[-2:]) < 4 * SSIM_WINDOW:
        return pictures
    return torch.nn.functional.avg_pool2d(pictures, 2)


def search_starts(detected: Mapping[str, torch.Tensor], references: Sequence[Mapping[str, torch.Tensor]],
                  key_originals: Sequence[Mapping[str, torch.Tensor]], ref_weights: Optional[torch.Tensor] = None
                  ) -> List[Dict[str, torch.Tensor]]:
    """Starting points for :func:`search_parameters` besides the ``detected`` parameters (B targets),
    as a block encoder tries the zero vector and predicted vectors before it searches:

    * the motion the detector sees between the originals, applied to the reference's parameters:
      ``reference + detected(target) - detected(original of the reference)``. The reference's
      parameters are analysed on the *decoded* key picture; at a low key quality the detector
      places them differently than on an original, and a target detected on its original then
      moves the face even where nothing moved (measured: at key QP 52 the searched warp of the
      picture after the key was further from the original than the key picture itself);
    * the reference's own parameters: no motion, the reference picture unchanged.

    ``references``/``key_originals``: per reference (1, ...) its parameters and the parameters
    detected on its original picture; ``ref_weights`` (B, R): each target uses its nearest
    reference (``gfvc.models.base.nearest_reference``), the one the warped prediction warps."""
    nearest = nearest_reference(ref_weights, detected["value"].shape[0])
    ref = {k: torch.cat([r[k] for r in references])[nearest] for k in detected if k in references[0]}
    original = torch.cat([o["value"] for o in key_originals])[nearest]
    moved = dict(detected)
    moved["value"] = (ref["value"] + detected["value"] - original).clamp(-1.0, 1.0)
    still = {**detected, **ref}
    return [moved, still]


def search_parameters(model, prepared_list: Sequence, params: Mapping[str, torch.Tensor], originals: torch.Tensor,
                      iterations: int, step: float, ref_weights: Optional[torch.Tensor] = None,
                      starts: Sequence[Mapping[str, torch.Tensor]] = ()) -> Dict[str, torch.Tensor]:
    """The face parameters of B targets after ``iterations`` Adam steps that lower the distortion
    between ``originals`` (B, 3, H, W) in [0, 1] and the reference(s) warped towards the parameters.
    Each picture's parameters move on their own (the loss is a sum over pictures). Keypoint
    positions stay in the picture (-1..1). Each picture starts from the closest of ``params`` and
    ``starts`` (:func:`search_starts`) and ends with the closest parameters the search visited, so
    the search never returns a picture further from its original than its start."""
    if iterations <= 0:
        return dict(params)
    target = search_scale(originals)

    def distance(p):
        return picture_distance(search_scale(model.warp_references(prepared_list, p, ref_weights)), target)

    best: Dict[str, torch.Tensor] = {}
    best_cost: Optional[torch.Tensor] = None

    def keep(candidate, cost):
        nonlocal best, best_cost
        if best_cost is None:
            best, best_cost = {k: v.detach().clone() for k, v in candidate.items()}, cost.detach()
            return
        closer = cost < best_cost
        best = {k: torch.where(closer.view((-1,) + (1,) * (v.dim() - 1)), candidate[k].detach(), v)
                if v.is_floating_point() else v for k, v in best.items()}
        best_cost = torch.where(closer, cost.detach(), best_cost)

    with torch.no_grad():
        for candidate in [params, *starts]:
            keep(candidate, distance(candidate))
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in best.items() if v.is_floating_point()}
    optimiser = torch.optim.Adam(list(leaves.values()), lr=step)
    with torch.enable_grad():
        for i in range(iterations):
            current = {**best, **leaves}
            cost = distance(current)
            if i:                       # the first cost is the start's, already kept
                keep(current, cost)
            # gradients of the parameters only (not of the model's weights)
            grads = torch.autograd.grad(cost.sum(), list(leaves.values()))
            for leaf, grad in zip(leaves.values(), grads):
                leaf.grad = grad
            optimiser.step()
            with torch.no_grad():
                if "value" in leaves:
                    leaves["value"].clamp_(-1.0, 1.0)
    with torch.no_grad():
        final = {**best, **leaves}
        keep(final, distance(final))
    return best


def choose_modes(generated: torch.Tensor, warped: torch.Tensor, originals: np.ndarray, allowed: Sequence[str],
                 rounding: str) -> Tuple[torch.Tensor, List[int]]:
    """(chosen pictures (B, 3, H, W), pm_mode_idc per picture): per picture, the allowed output
    whose 8-bit picture is closer to the original (the generated one on a tie)."""
    target = to_model(originals)
    candidates = {"generated": generated, "warped_reference": warped}
    best, best_cost = None, None
    for name in ("generated", "warped_reference"):
        if name not in allowed:
            continue
        picture = torch.from_numpy(to_uint8(candidates[name], rounding)).permute(0, 3, 1, 2).float() / 255.0
        cost = picture_distance(picture, target)
        mode = torch.full_like(cost, MODE_BY_NAME[name], dtype=torch.int64)
        if best is None:
            best, best_cost = mode, cost
        else:
            better = cost < best_cost
            best = torch.where(better, mode, best)
            best_cost = torch.where(better, cost, best_cost)
    modes = [int(m) for m in best]
    return apply_modes(generated, warped, modes), modes


def apply_modes(generated: torch.Tensor, warped: Optional[torch.Tensor], modes: Sequence[int]) -> torch.Tensor:
    """The output pictures of a batch given its pm_mode_idc values (decoder and encoder alike)."""
    if warped is None or not any(m == PREDICTION_MODE_WARPED_REFERENCE for m in modes):
        return generated
    pick = torch.tensor([m == PREDICTION_MODE_WARPED_REFERENCE for m in modes]).view(-1, 1, 1, 1)
    return torch.where(pick, warped, generated)


def decoded_predictions(modes: Sequence[int], generate, warp) -> torch.Tensor:
    """The output pictures of a batch with the stream's pm_mode_idc values, computing only what
    they use: ``generate()`` and ``warp()`` give the batch's generated and warped pictures. A batch
    of warped pictures only never runs the generator (the encoder needed both to choose)."""
    warped = warp() if any(m == PREDICTION_MODE_WARPED_REFERENCE for m in modes) else None
    if warped is not None and all(m == PREDICTION_MODE_WARPED_REFERENCE for m in modes):
        return warped
    return apply_modes(generate(), warped, modes)


def modes_message(gfv_id: int, modes: Sequence[int]) -> Optional[PredictionModes]:
    """The gfvc_prediction_modes message of a key picture's generated pictures (gfv_cnt 1, 2, ...),
    or None when every picture is generated (a picture without a message decodes as generated)."""
    if not any(m != PREDICTION_MODE_GENERATED for m in modes):
        return None
    return PredictionModes(gfv_id, 1, [int(m) for m in modes])
