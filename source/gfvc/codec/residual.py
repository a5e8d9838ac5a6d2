"""Predictive coding on the GFVC loop: the residual of each generated picture (RDAC, RDAC+).

After the animation X^_t of a generated picture t (the family's synthesis, batched as for every
family), the encoder chooses one of three modes by rate-distortion cost and writes one
gfvc_residual message (doc/sei_payloads.md 2) right after the picture's GFV message:

* 0 skip: no residual data. The residual is predicted from the segment's last decoded residual
  R^_c (picture c), warped to t with the keypoint flow O_{c -> t} (as the public RDAC encoder's
  skip does); when the segment has no decoded residual yet, the output is the animation alone;
* 1 spatial: R_t = X_t - X^_t is coded on its own (RDAC: ``sdc``; RDAC+: the conditional spatial
  coder, condition X^_t);
* 2 temporal: the residual is coded against W(R^_c), the last decoded residual warped to t:
  RDAC codes (R_t - W(R^_c)) / 2 with ``tdc`` and reconstructs W(R^_c) + 2 D^ (the public
  training's temporal residual, not its inference loop); RDAC+ codes R_t - W(R^_c) at half
  resolution, conditioned on (W(R^_c) || X^_t). Only when R^_c exists and, with a prediction
  window w > 0, fewer than w residuals were coded since the last spatial one.

Output picture: RDAC clamp(X^ + R^, 0, 1); RDAC+ refine(clamp(X^ + R^, 0, 1)) (the refinement
applied last); the animation X^ alone when there is no residual. The residual state (R^_c, the
8-bit output picture of c and its decoded keypoints, the count since the last spatial residual)
changes only on a coded residual and is reset at every key picture, in the encoder and the
decoder alike. Every decoded residual is obtained by decoding the coded strings (the encoder runs
the decoder's function), so the encoder's state equals the decoder's.

Rate-distortion cost of each mode: J = D + lambda * R, D = MSE of the 8-bit output picture
against the original on [0, 255], R = bits of the picture's gfvc_residual payload per pixel
(8 x payload bytes / (H W)). Ties go to skip, then spatial. With ``skip_messages`` off, a skipped
picture carries no message (a picture without one decodes as a skip) and costs 0 bits in the
decision.

Entropy coding (B9 of the reference analysis): the rANS tables of y are chosen from the decoded
hyper-latent by the hyper-synthesis run in float64 on the CPU, with the means rounded to 1/256
(gfvc.models.rdac_plus.ConditionalResidualCoder.entropy_parameters), for RDAC as for RDAC+, so
another process or device picks the same tables. RDAC keeps the public coder's quirk of coding z
without the hyper gain (its decoder applies the inverse hyper gain); its latents therefore decode
with the reference's networks, but its y bytes are not the reference's (the means are rounded).
``res_rate_level`` is the coder's ``rate_idx`` (no ``q_value`` interpolation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..bitstream import Residual, ResidualLatent
from ..bitstream.payloads.residual import RESIDUAL_MODE_SKIP, RESIDUAL_MODE_SPATIAL, RESIDUAL_MODE_TEMPORAL
from ..bitstream.sei import SeiContext, write_sei_payload
from ..errors import GfvcError
from .pictures import to_model, to_uint8

RESIDUAL_FAMILIES = ("rdac", "rdac_plus")
MODE_NAMES = {RESIDUAL_MODE_SKIP: "skip", RESIDUAL_MODE_SPATIAL: "spatial", RESIDUAL_MODE_TEMPORAL: "temporal"}
MODES = {name: mode for mode, name in MODE_NAMES.items()}
#: the prediction window of each family when the settings give none (0: unlimited)
DEFAULT_PREDICTION_WINDOW = {"rdac": 0, "rdac_plus": 8}


class ResidualError(GfvcError):
    """A residual message that cannot be decoded (wrong mode, shapes, rate level or bytes)."""


@dataclass
class ResidualState:
    """The last decoded residual of the segment and what its warp needs."""

    res_hat: Optional[torch.Tensor] = None       # (1, 3, H, W)
    picture: Optional[torch.Tensor] = None       # its 8-bit output picture as model input (1, 3, H, W)
    kp: Optional[Dict[str, torch.Tensor]] = None  # its decoded keypoints
    since_spatial: int = 0                       # residuals coded since (and with) the last spatial one


@dataclass
class Candidate:
    mode: int
    res_hat: Optional[torch.Tensor]
    picture: np.ndarray                          # (H, W, 3) uint8 output
    payload: Residual
    bits: int


def _entropy_parameters(coder, z_hat: torch.Tensor, rate_idx: int):
    # the one reproducible choice of tables (float64 CPU hyper-synthesis, means on a 1/256 grid);
    # an RDAC coder has the same h_s / gains / gaussian_conditional layout as RDAC+'s
    from ..models.rdac_plus import ConditionalResidualCoder

    return ConditionalResidualCoder.entropy_parameters(coder, z_hat, rate_idx)


def _rdac_compress(coder, x: torch.Tensor, rate_idx: int) -> Tuple[List[bytes], Tuple[int, int]]:
    y = coder.compute_interpolated_gain(coder.g_a(x), rate_idx, 0.0)
    z = coder.h_a(y)        # no hyper gain on z, as the public RDAC encoder
    z_string = coder.entropy_bottleneck.compress(z)[0]
    shape = (int(z.shape[-2]), int(z.shape[-1]))
    z_hat = coder.entropy_bottleneck.decompress([z_string], shape)
    indexes, means = _entropy_parameters(coder, z_hat, rate_idx)
    y_string = coder.gaussian_conditional.compress(y.cpu().float(), indexes, means=means)[0]
    return [y_string, z_string], shape


def _rdac_decompress(coder, strings: Sequence[bytes], shape: Sequence[int], rate_idx: int) -> torch.Tensor:
    z_hat = coder.entropy_bottleneck.decompress([bytes(strings[1])], tuple(shape))
    indexes, means = _entropy_parameters(coder, z_hat, rate_idx)
    y_hat = coder.gaussian_conditional.decompress([bytes(strings[0])], indexes, means=means)
    device = coder.g_s.out.deconv.weight.device
    y_hat = coder.compute_inverse_interpolated_gain(y_hat.to(device), rate_idx, 0.0)
    return coder.g_s(y_hat)


class ResidualCoding:
    """The residual part of the codec loop for one model; encoder and decoder share it."""

    def __init__(self, model, family: str, rounding: str, rate_level: int = 0, rd_lambda: float = 0.0,
                 prediction_window: Optional[int] = None, modes: Sequence[str] = ("skip", "spatial", "temporal"),
                 skip_messages: bool = True):
        if family not in RESIDUAL_FAMILIES:
            raise ValueError(f"family {family!r} codes no residual")
        self.model, self.family, self.rounding = model, family, rounding
        if not getattr(model.generator.sdc, "variable_bitrate", False):
            raise ResidualError(f"{family}: the codec needs residual coders with rate levels (variable_bitrate)")
        self.plus = family == "rdac_plus"
        self.rate_level = int(rate_level)
        self.rd_lambda = float(rd_lambda)
        self.window = DEFAULT_PREDICTION_WINDOW[family] if prediction_window is None else int(prediction_window)
        self.modes = [MODES[m] for m in modes]
        self.skip_messages = bool(skip_messages)
        self.state = ResidualState()
        self.check_rate_level(self.rate_level)

    # ------------------------------------------------------------------ model specifics
    def coder(self, mode: int):
        return self.model.generator.sdc if mode == RESIDUAL_MODE_SPATIAL else self.model.generator.tdc

    @property
    def levels(self) -> int:
        return int(self.model.generator.sdc.levels)

    def check_rate_level(self, level: int) -> None:
        # RDAC's last level takes no interpolation either: every level 0..levels-1 is valid
        if not 0 <= level < self.levels:
            raise ResidualError(f"residual rate level {level} outside 0..{self.levels - 1} (the model has "
                                f"{self.levels} rate levels)")

    def warp(self, kp_cur: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """W(R^_c): the last decoded residual warped to the current picture."""
        s = self.state
        if self.plus:
            return self.model.generator.deform_residual(s.res_hat, s.picture, s.kp, dict(kp_cur))
        return self.model.generator.deform_residual({"prev_rec": s.picture, "kp_prev": dict(s.kp),
                                                      "kp_cur": dict(kp_cur), "res_hat_prev": s.res_hat})

    def output(self, prediction: torch.Tensor, res_hat: Optional[torch.Tensor]) -> np.ndarray:
        if res_hat is None:
            picture = prediction
        elif self.plus:
            picture = self.model.reconstruct(prediction, res_hat)
        else:
            picture = self.model.add_residual(prediction, res_hat)
        return to_uint8(picture, self.rounding)[0]

    def _input_size(self, mode: int, prediction: torch.Tensor) -> Tuple[int, int]:
        h, w = prediction.shape[-2:]
        return (h // 2, w // 2) if self.plus and mode == RESIDUAL_MODE_TEMPORAL else (h, w)

    def latent_shapes(self, mode: int, prediction: torch.Tensor) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
        """The shapes of y and z for a picture of this size (what the payload must say)."""
        coder = self.coder(mode)
        h, w = self._input_size(mode, prediction)
        f = coder.picture_multiple
        return (coder.M, 4 * h // f, 4 * w // f), (coder.N, h // f, w // f)

    def _compress(self, mode: int, residual: torch.Tensor, prediction: torch.Tensor,
                  warped: Optional[torch.Tensor]):
        r = self.rate_level
        if self.plus:
            if mode == RESIDUAL_MODE_SPATIAL:
                return self.model.spatial_compress(residual, prediction, r)
            s = self.state
            return self.model.temporal_compress(residual, s.res_hat, s.picture, s.kp, self._kp_cur, prediction, r)
        target = residual if mode == RESIDUAL_MODE_SPATIAL else self.model.temporal_residual(residual, warped)
        strings, shape = _rdac_compress(self.coder(mode), target, r)
        return strings, shape, self._rdac_decoded(mode, strings, shape, warped, r)

    def _rdac_decoded(self, mode, strings, shape, warped, rate_level):
        decoded = _rdac_decompress(self.coder(mode), strings, shape, rate_level)
        return decoded if mode == RESIDUAL_MODE_SPATIAL else self.model.residual_from_temporal(warped, decoded)

    def _decompress(self, mode: int, strings, shape, prediction: torch.Tensor, warped: Optional[torch.Tensor],
                    kp_cur, rate_level: int) -> torch.Tensor:
        if self.plus:
            if mode == RESIDUAL_MODE_SPATIAL:
                return self.model.spatial_decompress(strings, shape, prediction, rate_level)
            s = self.state
            return self.model.temporal_decompress(strings, shape, s.res_hat, s.picture, s.kp, dict(kp_cur),
                                                  prediction, rate_level)
        return self._rdac_decoded(mode, strings, shape, warped, rate_level)

    # ------------------------------------------------------------------ state
    def start_segment(self) -> None:
        self.state = ResidualState()

    def _update(self, mode: int, res_hat: Optional[torch.Tensor], picture: np.ndarray,
                kp: Mapping[str, torch.Tensor]) -> None:
        if mode == RESIDUAL_MODE_SKIP:
            return
        since = 1 if mode == RESIDUAL_MODE_SPATIAL else self.state.since_spatial + 1
        self.state = ResidualState(res_hat, to_model(picture[None]), dict(kp), since)

    def temporal_allowed(self) -> bool:
        return self.state.res_hat is not None and (self.window == 0 or self.state.since_spatial < self.window)

    # ------------------------------------------------------------------ encoder
    def encode_picture(self, prediction: torch.Tensor, original: np.ndarray, kp: Mapping[str, torch.Tensor],
                       gfv_id: int, gfv_cnt: int) -> Tuple[np.ndarray, Optional[Residual], int]:
        """(output picture, payload or None when residual coding is off, chosen mode) of one
        generated picture; updates the state as the decoder will."""
        with torch.no_grad():
            prediction = prediction[None] if prediction.dim() == 3 else prediction
            self._kp_cur = dict(kp)
            warped = self.warp(kp) if self.state.res_hat is not None else None
            skip = Residual(gfv_id, gfv_cnt, RESIDUAL_MODE_SKIP, 0, [])
            if not self.modes:
                return self.output(prediction, warped), None, RESIDUAL_MODE_SKIP
            candidates = []
            if RESIDUAL_MODE_SKIP in self.modes:
                candidates.append(Candidate(RESIDUAL_MODE_SKIP, warped, self.output(prediction, warped), skip,
                                            payload_bits(skip) if self.skip_messages else 0))
            residual = to_model(original[None]) - prediction
            for mode in (RESIDUAL_MODE_SPATIAL, RESIDUAL_MODE_TEMPORAL):
                if mode not in self.modes or (mode == RESIDUAL_MODE_TEMPORAL and not self.temporal_allowed()):
                    continue
                strings, shape, res_hat = self._compress(mode, residual, prediction, warped)
                payload = self._payload(mode, prediction, strings, shape, gfv_id, gfv_cnt)
                candidates.append(Candidate(mode, res_hat, self.output(prediction, res_hat), payload,
                                            payload_bits(payload)))
            if not candidates:     # e.g. modes [temporal] with no residual to predict from: spatial
                strings, shape, res_hat = self._compress(RESIDUAL_MODE_SPATIAL, residual, prediction, warped)
                payload = self._payload(RESIDUAL_MODE_SPATIAL, prediction, strings, shape, gfv_id, gfv_cnt)
                candidates.append(Candidate(RESIDUAL_MODE_SPATIAL, res_hat, self.output(prediction, res_hat),
                                            payload, payload_bits(payload)))
            h, w = original.shape[:2]
            original64 = original.astype(np.float64)
            best = min(candidates, key=lambda c: float(np.mean((c.picture.astype(np.float64) - original64) ** 2))
                       + self.rd_lambda * c.bits / (h * w))
            self._update(best.mode, best.res_hat, best.picture, kp)
            if best.mode == RESIDUAL_MODE_SKIP and not self.skip_messages:
                return best.picture, None, best.mode
            return best.picture, best.payload, best.mode

    def _payload(self, mode, prediction, strings, shape, gfv_id: int, gfv_cnt: int) -> Residual:
        y_shape, z_shape = self.latent_shapes(mode, prediction)
        if tuple(shape) != z_shape[1:]:
            raise ResidualError(f"the coder's hyper-latent is {tuple(shape)}, expected {z_shape[1:]}")
        return Residual(gfv_id, gfv_cnt, mode, self.rate_level,
                        [ResidualLatent(y_shape, bytes(strings[0])), ResidualLatent(z_shape, bytes(strings[1]))])

    # ------------------------------------------------------------------ decoder
    def decode_picture(self, prediction: torch.Tensor, kp: Mapping[str, torch.Tensor],
                       message: Optional[Residual]) -> np.ndarray:
        """The output picture of one generated picture from its residual message (None: skip)."""
        with torch.no_grad():
            prediction = prediction[None] if prediction.dim() == 3 else prediction
            mode = RESIDUAL_MODE_SKIP if message is None else message.res_coding_mode
            cnt = "?" if message is None else message.res_gfv_cnt
            if mode == RESIDUAL_MODE_TEMPORAL and self.state.res_hat is None:
                raise ResidualError(f"residual of gfv_cnt {cnt} is temporal, but no residual was decoded since "
                                    "the key picture")
            warped = self.warp(kp) if self.state.res_hat is not None else None
            if mode == RESIDUAL_MODE_SKIP:
                return self.output(prediction, warped)
            self.check_rate_level(message.res_rate_level)
            y_shape, z_shape = self.latent_shapes(mode, prediction)
            got = [tuple(lat.shape) for lat in message.res_latents]
            if got != [y_shape, z_shape]:
                raise ResidualError(f"residual of gfv_cnt {cnt}: latent shapes {got}, the model codes "
                                    f"{[y_shape, z_shape]} at this picture size")
            strings = [lat.data for lat in message.res_latents]
            try:
                res_hat = self._decompress(mode, strings, z_shape[1:], prediction, warped, kp,
                                           message.res_rate_level)
            except (GfvcError, ValueError, RuntimeError) as exc:
                raise ResidualError(f"residual of gfv_cnt {cnt} does not decode: {exc}") from None
            picture = self.output(prediction, res_hat)
            self._update(mode, res_hat, picture, kp)
            return picture


def payload_bits(payload: Residual) -> int:
    """Bits of the gfvc_residual payload (what the rate breakdown's ``residual`` line counts)."""
    return 8 * len(write_sei_payload(payload, SeiContext())[1])


def residual_coding(model, settings) -> Optional[ResidualCoding]:
    """The residual part of the loop for GfvcSettings ``settings`` (None for families without one)."""
    if settings.family not in RESIDUAL_FAMILIES:
        return None
    r = settings.residual
    return ResidualCoding(model, settings.family, settings.output_rounding, r.rate_level, r.rd_lambda,
                          r.prediction_window, r.modes, r.skip_messages)


def residual_family(family: str) -> bool:
    return family in RESIDUAL_FAMILIES
