"""RDAC+: improved predictive coding for animation-based video compression (Konuko & Valenzise,
EUVIP 2024), built from the paper (there is no public code; see doc/models.md, "RDAC+").

The family is DAC's animation (keypoint detector, dense motion, warped reference features, decoder:
the prediction X^_t) followed by two *conditional* hyperprior residual coders and a refinement network:

* spatial coder ``sdc`` (first residual after a reference, or when no decoded residual exists):
  R^ = g_s( Q(g_a(R || X^)) || g_p(X^) );
* temporal coder ``tdc`` on D = R - W(R^_{t-1}) with condition C = (W(R^_{t-1}) || X^), at HALF
  resolution: D^ = up( g_s( Q(g_a(down(D) || down(C))) || g_p(down(C)) ) ); R^_t = W(R^_{t-1}) + D^.
  W warps the previous decoded residual with the flow O_{t-1 -> t} that the dense motion network
  predicts from the (already decoded) keypoints of t-1 and t: no motion vectors are sent;
* ``refinement``: a small U-Net applied last, to the decoded picture clamp(X^ + R^, 0, 1).

Each residual coder is a mean-scale hyperprior (gfvc.coding's EntropyBottleneck for z,
GaussianConditional for y) with learned per-channel gain vectors (``gain``, ``inverse_gain``,
``hyper_gain``, ``inverse_hyper_gain``; one row per rate level). It subclasses RDAC's
:class:`gfvc.models.rdac.ResidualCoder` for the gains, the hyperprior layers and the tables, and
adds the conditioning analysis ``g_p`` (its output joins the latent at the input of ``g_s``).

Bit-reproducible entropy parameters: the table indexes and the means that the rANS coder uses are
computed from the decoded hyper-latent by the hyper-synthesis ``h_s`` run in float64 on the CPU
(whatever device the model is on); the means are then quantised to multiples of 1/256 and the
scales chosen from the scale table in float32. An encoder and a decoder on different devices thus
agree on every CDF index unless a float64 result lies within ~1e-15 of a table boundary. The
encoder's decoded residual is produced by decoding its own strings, so it equals the decoder's.

Checkpoint layout: top-level ``generator`` (DAC generator + ``sdc``, ``tdc``, ``refinement``) and
``kp_detector``, loaded strictly by :mod:`gfvc.models.checkpoint`; the entropy tables are saved
empty and rebuilt after loading (:meth:`RdacPlusModel.after_checkpoint_load`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gfvc.coding.errors import EntropyCodingError

from .base import KeypointFaceModel, ModelConfigError
from .blocks import ConvHead, Hourglass
from .dac import DacGenerator, make_dac_kp_detector
from .rdac import ConvBlock, DeconvBlock, ResidualCoder
from .registry import register_family

#: the means of the Gaussian conditional are quantised to multiples of 1 / MEAN_GRID before coding
MEAN_GRID = 256.0


@dataclass
class CoderOutput:
    """A training/eval-mode forward of one conditional coder: the decoded signal and the
    likelihoods of the latent ``y`` and hyper-latent ``z`` (for the rate term)."""

    x_hat: torch.Tensor
    likelihoods: dict[str, torch.Tensor]

    @property
    def bits(self) -> torch.Tensor:
        """Bit estimate -sum log2(likelihood) of y and z (RDAC's floor at 2^-16)."""
        return sum(ResidualCoder.estimate_bitrate(lik) for lik in self.likelihoods.values())


def check_quantization(quantization: str | None, training: bool) -> bool:
    """Whether to quantise with noise: ``"noise"``, ``"round"`` or None (noise when training)."""
    if quantization is None:
        return training
    if quantization not in ("noise", "round"):
        raise ValueError(f"quantization must be 'noise' or 'round', not {quantization!r}")
    return quantization == "noise"


class ConditionalResidualCoder(ResidualCoder):
    """x^ = g_s( Q(g_a(x || c)) || g_p(c) ) with a mean-scale hyperprior on Q(g_a(x || c)).

    ``in_channels``: channels of x; ``cond_channels``: of the condition c; ``N``: hidden features of
    g_a, g_s, g_p and of the hyper-latent z; ``M``: latent channels; ``P``: channels of g_p's
    output; ``num_intermediate_layers = n``: g_a and g_p downsample by 2^(n+2), h_a by 4 more.
    State_dict: RDAC's ResidualCoder layout (gains, g_a, g_s, h_a, h_s, entropy models) with
    ``g_s.inp`` taking M + P channels, then ``g_p.{inp,conv_i,out}.conv``."""

    def __init__(self, in_channels: int, cond_channels: int, N: int, M: int, P: int, *,
                 num_intermediate_layers: int, levels: int):
        super().__init__(in_channels + cond_channels, in_channels, N, M, scale_factor=1,
                         num_intermediate_layers=num_intermediate_layers, variable_bitrate=True,
                         levels=levels)
        self.in_channels, self.cond_channels, self.P = int(in_channels), int(cond_channels), int(P)
        self.g_s.inp = DeconvBlock(M + P, N)
        self.g_p = nn.Sequential()
        self.g_p.add_module("inp", ConvBlock(cond_channels, N))
        for i in range(self.num_intermediate_layers):
            self.g_p.add_module(f"conv_{i}", ConvBlock(N, N))
        self.g_p.add_module("out", ConvBlock(N, P, act=False))

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, x: torch.Tensor, cond: torch.Tensor, batch_one: bool) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"coder input must be a (B, {self.in_channels}, H, W) tensor, got {list(x.shape)}")
        if cond.dim() != 4 or cond.shape[1] != self.cond_channels or cond.shape[0] != x.shape[0] \
                or cond.shape[2:] != x.shape[2:]:
            raise ValueError(f"condition must be a ({x.shape[0]}, {self.cond_channels}, {x.shape[2]}, "
                             f"{x.shape[3]}) tensor, got {list(cond.shape)}")
        if batch_one and x.shape[0] != 1:
            raise ValueError(f"coding takes one picture at a time, got a batch of {x.shape[0]}")
        h, w = x.shape[-2:]
        if h % self.picture_multiple or w % self.picture_multiple:
            raise ValueError(f"coder input size {h}x{w} is not a multiple of {self.picture_multiple}")

    def _gain(self, x: torch.Tensor, table: torch.Tensor, rate_idx: int) -> torch.Tensor:
        return x * self._per_channel(torch.abs(table[rate_idx]))

    def analysis(self, x: torch.Tensor, cond: torch.Tensor, rate_idx: int) -> torch.Tensor:
        """The gain-scaled latent y = gain * g_a(x || c) (before quantisation)."""
        return self._gain(self.g_a(torch.cat([x, cond], dim=1)), self.gain, rate_idx)

    def synthesis(self, y_hat: torch.Tensor, cond: torch.Tensor, rate_idx: int) -> torch.Tensor:
        """x^ = g_s(inverse_gain * y^ || g_p(c)), clamped to [-1, 1]."""
        y_hat = self._gain(y_hat, self.inverse_gain, rate_idx)
        return self.g_s(torch.cat([y_hat, self.g_p(cond)], dim=1)).clamp(-1, 1)

    # ------------------------------------------------------------------ training / eval forward
    def forward(self, x: torch.Tensor, cond: torch.Tensor, rate_idx: int = 0,
                quantization: str | None = None) -> CoderOutput:
        """``quantization``: ``"noise"`` (additive uniform noise, the training proxy), ``"round"``
        (rounding, as coded) or None: noise in training mode, rounding in eval mode."""
        self._check_inputs(x, cond, batch_one=False)
        self._check_rate(rate_idx)
        noise = check_quantization(quantization, self.training)
        y = self.analysis(x, cond, rate_idx)
        z = self._gain(self.h_a(y), self.hyper_gain, rate_idx)
        z_hat, z_likelihoods = self.entropy_bottleneck(z, training=noise)
        z_hat = self._gain(z_hat, self.inverse_hyper_gain, rate_idx)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales_hat, means=means_hat, training=noise)
        return CoderOutput(self.synthesis(y_hat, cond, rate_idx), {"y": y_likelihoods, "z": z_likelihoods})

    # ------------------------------------------------------------------ bitstream interface
    def entropy_parameters(self, z_hat: torch.Tensor, rate_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(CDF indexes, quantised means) of y from the decoded hyper-latent, on the CPU: h_s runs in
        float64 on the CPU whatever the model's device, the means are rounded to 1/MEAN_GRID."""
        params = {name: p.detach().to("cpu", torch.float64) for name, p in self.h_s.named_parameters()}
        inverse = torch.abs(self.inverse_hyper_gain[rate_idx]).detach().to("cpu", torch.float64)
        z = z_hat.detach().to("cpu", torch.float64) * inverse.view(1, -1, 1, 1)
        with torch.no_grad():
            out = torch.func.functional_call(self.h_s, params, (z,))
        scales, means = out.chunk(2, 1)
        means = (torch.round(means * MEAN_GRID) / MEAN_GRID).float()
        indexes = self.gaussian_conditional.build_indexes(scales.float())
        return indexes, means

    @torch.no_grad()
    def compress(self, x: torch.Tensor, cond: torch.Tensor, rate_idx: int = 0
                 ) -> tuple[list[bytes], tuple[int, int], torch.Tensor]:
        """Code one picture: ([y_string, z_string], hyper-latent size (h, w), x^). x^ is decoded from
        the strings, exactly as :meth:`decompress` does."""
        self._check_inputs(x, cond, batch_one=True)
        self._check_rate(rate_idx)
        y = self.analysis(x, cond, rate_idx)
        z = self._gain(self.h_a(y), self.hyper_gain, rate_idx)
        z_string = self.entropy_bottleneck.compress(z)[0]
        shape = (int(z.shape[-2]), int(z.shape[-1]))
        z_hat = self.entropy_bottleneck.decompress([z_string], shape)
        indexes, means = self.entropy_parameters(z_hat, rate_idx)
        y_string = self.gaussian_conditional.compress(y.cpu().float(), indexes, means=means)[0]
        strings = [y_string, z_string]
        return strings, shape, self.decompress(strings, shape, cond, rate_idx)

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int], cond: torch.Tensor,
                   rate_idx: int = 0) -> torch.Tensor:
        """x^ from ``[y_string, z_string]``, the hyper-latent size and the condition."""
        if not isinstance(strings, (list, tuple)) or len(strings) != 2 \
                or not all(isinstance(s, (bytes, bytearray)) for s in strings):
            raise EntropyCodingError("residual strings must be [y_string, z_string] (two byte strings)")
        self._check_rate(rate_idx)
        expected = tuple(int(size) // self.picture_multiple for size in cond.shape[-2:])
        if tuple(shape) != expected or cond.dim() != 4 or cond.shape[1] != self.cond_channels:
            raise EntropyCodingError(f"hyper-latent size {tuple(shape)} does not fit a condition of shape "
                                     f"{list(cond.shape)} (expected {expected})")
        z_hat = self.entropy_bottleneck.decompress([bytes(strings[1])], shape)
        indexes, means = self.entropy_parameters(z_hat, rate_idx)
        y_hat = self.gaussian_conditional.decompress([bytes(strings[0])], indexes, means=means)
        device = self.g_s.out.deconv.weight.device
        return self.synthesis(y_hat.to(device), cond, rate_idx)

    # RDAC's unconditional entry points do not apply to a conditional coder.
    def rans_compress(self, *args, **kwargs):
        raise TypeError("a conditional coder codes with compress(x, cond, rate_idx)")

    def rans_decompress(self, *args, **kwargs):
        raise TypeError("a conditional coder decodes with decompress(strings, shape, cond, rate_idx)")

    ae_compress = rans_compress
    ae_decompress = rans_decompress


class RefinementNetwork(nn.Module):
    """Small U-Net on the decoded picture: clamp(x + head(hourglass(x)), 0, 1).
    State_dict: ``hourglass.{encoder.down_blocks,decoder.up_blocks}.*``, ``final.conv``."""

    def __init__(self, num_channels: int = 3, block_expansion: int = 16, num_blocks: int = 3,
                 max_features: int = 64):
        super().__init__()
        self.hourglass = Hourglass(block_expansion, num_channels, num_blocks, max_features, up_mode="bilinear")
        self.final = ConvHead(self.hourglass.out_filters, num_channels, kernel_size=(3, 3), padding=(1, 1))
        self.picture_multiple = 2 ** int(num_blocks)

    def forward(self, picture: torch.Tensor) -> torch.Tensor:
        return (picture + self.final(self.hourglass(picture))).clamp(0, 1)


def half(x: torch.Tensor) -> torch.Tensor:
    """Downsampling by 2 of the temporal path (2x2 mean)."""
    return F.avg_pool2d(x, 2)


def double(x: torch.Tensor) -> torch.Tensor:
    """Upsampling by 2 of the decoded temporal residual (bilinear)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class RdacPlusGenerator(DacGenerator):
    """DAC's generator followed by ``sdc``, ``tdc`` (conditional coders) and ``refinement``.

    ``residual_coder_params``: hidden_features (N), latent_features (M), condition_features (P),
    levels, spatial_intermediate_layers, temporal_intermediate_layers (the temporal coder works on
    pictures of half the size). ``refinement_params``: block_expansion, num_blocks, max_features."""

    def __init__(self, num_channels: int = 3, num_kp: int = 10, block_expansion: int = 64,
                 max_features: int = 1024, num_down_blocks: int = 2, num_bottleneck_blocks: int = 3,
                 estimate_occlusion_map: bool = False, dense_motion_params: Mapping[str, Any] | None = None, *,
                 residual_coder_params: Mapping[str, Any], refinement_params: Mapping[str, Any], **kwargs):
        super().__init__(num_channels=num_channels, num_kp=num_kp, block_expansion=block_expansion,
                         max_features=max_features, num_down_blocks=num_down_blocks,
                         num_bottleneck_blocks=num_bottleneck_blocks,
                         estimate_occlusion_map=estimate_occlusion_map, dense_motion_params=dense_motion_params,
                         **kwargs)
        if self.dense_motion_network is None:
            raise ModelConfigError("rdac_plus: generator_params lacks dense_motion_params")
        p = dict(residual_coder_params)
        N, M, P = int(p.pop("hidden_features")), int(p.pop("latent_features")), int(p.pop("condition_features"))
        levels = int(p.pop("levels"))
        spatial_layers = int(p.pop("spatial_intermediate_layers"))
        temporal_layers = int(p.pop("temporal_intermediate_layers"))
        if p:
            raise ModelConfigError(f"rdac_plus: unknown residual_coder_params {sorted(p)}")
        c = num_channels
        self.sdc = ConditionalResidualCoder(c, c, N, M, P, num_intermediate_layers=spatial_layers, levels=levels)
        self.tdc = ConditionalResidualCoder(c, 2 * c, N, M, P, num_intermediate_layers=temporal_layers,
                                            levels=levels)
        self.refinement = RefinementNetwork(c, **refinement_params)

    @property
    def picture_multiple(self) -> int:
        return max(self.sdc.picture_multiple, 2 * self.tdc.picture_multiple, self.refinement.picture_multiple)

    def update(self, force: bool = False) -> bool:
        """Build the entropy tables of both coders."""
        updated = self.sdc.update(force=force)
        return self.tdc.update(force=force) or updated

    def flow(self, prev_picture: torch.Tensor, kp_prev: Mapping, kp_cur: Mapping) -> torch.Tensor:
        """The backward deformation O_{t-1 -> t} (B, h, w, 2) from the keypoints of t-1 and t."""
        dense_motion = self.dense_motion_network(prev_picture, kp_target=dict(kp_cur), kp_reference=dict(kp_prev))
        return dense_motion["deformation"]

    def deform_residual(self, res_hat_prev: torch.Tensor, prev_picture: torch.Tensor, kp_prev: Mapping,
                        kp_cur: Mapping) -> torch.Tensor:
        """W(R^_{t-1}): the previous decoded residual warped to t with O_{t-1 -> t}."""
        return self.deform_input(res_hat_prev, self.flow(prev_picture, kp_prev, kp_cur))


@register_family("rdac_plus")
class RdacPlusModel(KeypointFaceModel):
    """RDAC+ with the FaceModel API plus the residual-coding steps the codec drives.

    All pictures are (1, 3, H, W) in [0, 1], H and W multiples of :attr:`picture_multiple`;
    residuals are in [-1, 1]; ``kp`` are keypoint dicts from :meth:`analyse`; ``strings`` are
    ``[y_string, z_string]`` and ``shape`` the hyper-latent size (h, w) (both must be transmitted).

    * ``animate(reference, kp_ref, kp_target)`` -> X^ (the prediction);
    * ``spatial_compress(R, X^, rate_idx)`` -> (strings, shape, R^);
      ``spatial_decompress(strings, shape, X^, rate_idx)`` -> R^;
    * ``temporal_compress(R, R^_prev, prev_picture, kp_prev, kp_cur, X^, rate_idx)`` -> (strings, shape, R^);
      ``temporal_decompress(strings, shape, R^_prev, prev_picture, kp_prev, kp_cur, X^, rate_idx)`` -> R^
      (``prev_picture``: the decoded picture of t-1, the dense-motion input of the warp);
    * ``reconstruct(X^, R^)`` -> refine(clamp(X^ + R^, 0, 1)), ``refine(picture)`` -> picture.
    The prediction window (a spatial refresh at least every 8 coded residuals) is a codec setting.
    """

    parameter_keys = ("value",)

    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = RdacPlusGenerator(**model_params["generator_params"], **common,
                                      residual_coder_params=model_params["residual_coder_params"],
                                      refinement_params=model_params.get("refinement_params", {}))
        kp_detector = make_dac_kp_detector(common, model_params["kp_detector_params"])
        return {"generator": generator, "kp_detector": kp_detector}

    def after_checkpoint_load(self) -> None:
        self.generator.update(force=True)

    def update(self, force: bool = False) -> bool:
        """Build the entropy tables (needed before coding with freshly built random weights)."""
        return self.generator.update(force=force)

    @property
    def picture_multiple(self) -> int:
        return self.generator.picture_multiple

    @property
    def levels(self) -> int:
        return self.generator.sdc.levels

    # ------------------------------------------------------------------ animation and reconstruction
    def animate(self, reference: torch.Tensor, kp_reference: Mapping, kp_target: Mapping) -> torch.Tensor:
        self.check_frames(reference, "reference")
        return self.generator.animate(reference, dict(kp_reference), dict(kp_target))

    def refine(self, picture: torch.Tensor) -> torch.Tensor:
        return self.generator.refinement(self.check_frames(picture, "picture"))

    def reconstruct(self, prediction: torch.Tensor, residual_hat: torch.Tensor) -> torch.Tensor:
        """The output picture: the refinement network applied last, to clamp(X^ + R^, 0, 1)."""
        if residual_hat.shape != prediction.shape:
            raise ValueError(f"residual shape {list(residual_hat.shape)} differs from the picture's "
                             f"{list(prediction.shape)}")
        return self.refine((prediction + residual_hat).clamp(0, 1))

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], residual: torch.Tensor | None = None,
                   **side_info) -> torch.Tensor:
        """The animation; with ``residual=`` (a decoded residual) the refined reconstruction."""
        if side_info:
            raise TypeError(f"RDAC+ takes only residual= as side information, got {sorted(side_info)}")
        prediction = self.animate(reference, reference_params, target_params)
        return prediction if residual is None else self.reconstruct(prediction, residual)

    # ------------------------------------------------------------------ residual coding
    def spatial_compress(self, residual: torch.Tensor, prediction: torch.Tensor, rate_idx: int = 0):
        return self.generator.sdc.compress(residual, prediction, rate_idx)

    def spatial_decompress(self, strings: Sequence[bytes], shape: Sequence[int], prediction: torch.Tensor,
                           rate_idx: int = 0) -> torch.Tensor:
        return self.generator.sdc.decompress(strings, shape, prediction, rate_idx)

    def temporal_inputs(self, res_hat_prev: torch.Tensor, prev_picture: torch.Tensor, kp_prev: Mapping,
                        kp_cur: Mapping, prediction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(W(R^_{t-1}) at full size, the half-size condition down(W(R^_{t-1}) || X^))."""
        if res_hat_prev.shape != prediction.shape:
            raise ValueError(f"previous residual shape {list(res_hat_prev.shape)} differs from the "
                             f"picture's {list(prediction.shape)}")
        warped = self.generator.deform_residual(res_hat_prev, prev_picture, kp_prev, kp_cur)
        return warped, half(torch.cat([warped, prediction], dim=1))

    @torch.no_grad()
    def temporal_compress(self, residual: torch.Tensor, res_hat_prev: torch.Tensor, prev_picture: torch.Tensor,
                          kp_prev: Mapping, kp_cur: Mapping, prediction: torch.Tensor, rate_idx: int = 0):
        warped, cond = self.temporal_inputs(res_hat_prev, prev_picture, kp_prev, kp_cur, prediction)
        strings, shape, d_hat = self.generator.tdc.compress(half(residual - warped), cond, rate_idx)
        return strings, shape, (warped + double(d_hat)).clamp(-1, 1)

    @torch.no_grad()
    def temporal_decompress(self, strings: Sequence[bytes], shape: Sequence[int], res_hat_prev: torch.Tensor,
                            prev_picture: torch.Tensor, kp_prev: Mapping, kp_cur: Mapping,
                            prediction: torch.Tensor, rate_idx: int = 0) -> torch.Tensor:
        warped, cond = self.temporal_inputs(res_hat_prev, prev_picture, kp_prev, kp_cur, prediction)
        d_hat = self.generator.tdc.decompress(strings, shape, cond, rate_idx)
        return (warped + double(d_hat)).clamp(-1, 1)

    # ------------------------------------------------------------------ training
    def forward(self, reference: torch.Tensor, targets: Sequence[torch.Tensor], rate_idx: int = 0,
                quantization: str | None = None) -> dict:
        """The paper's stage-2 sample: target 0 spatially coded, the next ones temporally coded from
        the previous decoded residual (warped with the keypoint flow). ``quantization``: ``"noise"``,
        ``"round"`` or None (noise in ``train()``, rounding in ``eval()``). Returns lists, one entry per target:
        ``prediction`` X^, ``residual_hat`` R^, ``decoded`` clamp(X^ + R^), ``reconstruction`` (refined),
        ``likelihoods`` {"y", "z"}, ``bits`` (estimate), and ``kp`` (the targets' keypoints)."""
        self.check_frames(reference, "reference")
        if not targets:
            raise ValueError("RDAC+ training forward needs at least one target picture")
        out = {k: [] for k in ("prediction", "residual_hat", "decoded", "reconstruction", "likelihoods",
                               "bits", "kp")}
        kp_ref = self.kp_detector(reference)
        for i, target in enumerate(targets):
            self.check_frames(target, f"target {i}")
            kp_t = self.kp_detector(target)
            prediction = self.generator.animate(reference, kp_ref, kp_t)
            residual = target - prediction
            if i == 0:
                coded = self.generator.sdc(residual, prediction, rate_idx, quantization)
                res_hat = coded.x_hat
            else:
                warped, cond = self.temporal_inputs(out["residual_hat"][-1], out["reconstruction"][-1],
                                                    out["kp"][-1], kp_t, prediction)
                coded = self.generator.tdc(half(residual - warped), cond, rate_idx, quantization)
                res_hat = (warped + double(coded.x_hat)).clamp(-1, 1)
            decoded = (prediction + res_hat).clamp(0, 1)
            for key, value in (("prediction", prediction), ("residual_hat", res_hat), ("decoded", decoded),
                               ("reconstruction", self.generator.refinement(decoded)),
                               ("likelihoods", coded.likelihoods), ("bits", coded.bits), ("kp", kp_t)):
                out[key].append(value)
        return out
