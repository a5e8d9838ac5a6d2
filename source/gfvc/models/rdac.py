"""RDAC: predictive coding with animation-based models and residual coding (Konuko et al.), as
published in the GFVC software (source/GFVC/RDAC: GeneratorRDAC, ResidualCoder, KPD; loader
load_rdac_checkpoints).

The generator is DAC's (:class:`gfvc.models.dac.DacGenerator`) plus two learned residual coders
with the same architecture: ``sdc`` (spatial difference coder: the residual target - animation of
the first inter picture after a key picture) and ``tdc`` (temporal difference coder: half the
difference between the current residual and the previous decoded residual warped to the
current picture, :meth:`GeneratorRDAC.deform_residual`). Each coder is a mean-scale hyperprior
(Minnen et al. 2018) with learned per-channel gain vectors for variable rate (``rate_idx`` picks
a level, ``q_value`` in [0, 1] interpolates towards the next one), entropy-coded with the
CompressAI-compatible rANS coder of :mod:`gfvc.coding` (the byte strings equal the reference's).

RDAC+ (``rdac_plus``) is NOT this network driven differently: its paper (conditional residual
coders, a motion-compensated temporal residual at half resolution, a refinement network) is
built as its own family in :mod:`gfvc.models.rdac_plus`, which imports this module's pieces.

Reference behaviours reproduced on purpose (they change numbers, not just style):
* ``ResidualCoder.forward`` reports ``total_bpp`` divided by B * C * H of the input (the reference
  unpacks ``B, H, W, _ = x.shape`` on an NCHW tensor);
* ``rans_compress`` does NOT apply the hyper gain to ``z`` before coding it but does apply the
  inverse hyper gain to the decoded ``z`` (training's ``forward`` applies both).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gfvc.coding.entropy_models import EntropyBottleneck, GaussianConditional, update_entropy_models
from gfvc.coding.errors import EntropyCodingError

from .base import ModelConfigError
from .dac import DacGenerator, make_dac_kp_detector
from .fomm import KeypointFaceModel
from .registry import register_family

LIKELIHOOD_FLOOR = 2.0 ** -16    # the reference clamps likelihoods to [2^-16, 1] when estimating bits


class ConvBlock(nn.Module):
    """Strided convolution (padding k//2), optionally followed by ReLU; weights under ``conv``."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 5, stride: int = 2,
                 act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, stride=stride,
                              padding=kernel_size // 2)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x) if self.act else x


class DeconvBlock(nn.Module):
    """Transposed convolution that multiplies the size by ``stride``; weights under ``deconv``."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 5, stride: int = 2,
                 act: bool = True):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_features, out_features, kernel_size=kernel_size, stride=stride,
                                         output_padding=stride - 1, padding=kernel_size // 2)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.deconv(x)
        return F.relu(x) if self.act else x


@dataclass
class ResidualCoding:
    """What ``ResidualCoder.rans_compress`` produces for one picture (batch of one).

    ``y_string``/``z_string``: rANS bytes of the latent and of the hyper-latent; ``latent_shape``:
    spatial size (h, w) of the hyper-latent z (the decoder needs it); ``bits``: 8 * total bytes;
    ``res_hat``: the decoded residual (what the decoder will reconstruct); ``res_latent_hat``: the
    decoded latent after the inverse gain (the reference's skip decision compares against it)."""

    y_string: bytes
    z_string: bytes
    latent_shape: tuple[int, int]
    bits: int
    res_hat: torch.Tensor
    res_latent_hat: torch.Tensor


class ResidualCoder(nn.Module):
    """Mean-scale hyperprior residual coder with variable-rate gains (the reference's ResidualCoder).

    State_dict (reference order): ``gain``, ``inverse_gain`` (levels, M), ``hyper_gain``,
    ``inverse_hyper_gain`` (levels, N), ``g_a.{inp,conv_i,out}.conv``, ``g_s.{inp,deconv_i,out}.deconv``,
    ``h_a.{0,2,4}.conv``, ``h_s.{0,2,4}.deconv``, ``entropy_bottleneck.*``, ``gaussian_conditional.*``.
    With ``num_intermediate_layers = n`` the latent is (M, H / 2^(n+2), W / 2^(n+2)) and the
    hyper-latent (N, H / 2^(n+4), W / 2^(n+4)): pictures must be multiples of 2^(n+4).
    """

    def __init__(self, in_ft: int, out_ft: int, N: int, M: int, scale_factor: float = 1, *,
                 num_intermediate_layers: int, variable_bitrate: bool = False, levels: int = 1,
                 **_unused):
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.num_intermediate_layers = int(num_intermediate_layers)
        self.scale_factor = scale_factor
        self.variable_bitrate = bool(variable_bitrate)
        if self.variable_bitrate:
            self.levels = int(levels)
            if self.levels < 1:
                raise ModelConfigError(f"residual coder levels must be >= 1, got {levels}")
            # Registered first: parameters precede sub-modules in the state_dict.
            self.gain = nn.Parameter(torch.ones(self.levels, self.M))
            self.inverse_gain = nn.Parameter(torch.ones(self.levels, self.M))
            self.hyper_gain = nn.Parameter(torch.ones(self.levels, self.N))
            self.inverse_hyper_gain = nn.Parameter(torch.ones(self.levels, self.N))

        self.g_a = nn.Sequential()
        self.g_a.add_module("inp", ConvBlock(in_ft, N))
        for i in range(self.num_intermediate_layers):
            self.g_a.add_module(f"conv_{i}", ConvBlock(N, N))
        self.g_a.add_module("out", ConvBlock(N, M, act=False))

        self.g_s = nn.Sequential()
        self.g_s.add_module("inp", DeconvBlock(M, N))
        for i in range(self.num_intermediate_layers):
            self.g_s.add_module(f"deconv_{i}", DeconvBlock(N, N))
        self.g_s.add_module("out", DeconvBlock(N, out_ft, act=False))

        self.h_a = nn.Sequential(
            ConvBlock(M, N, stride=1, kernel_size=3, act=False), nn.LeakyReLU(),
            ConvBlock(N, N, act=False), nn.LeakyReLU(),
            ConvBlock(N, N, act=False))
        self.h_s = nn.Sequential(
            DeconvBlock(N, M, act=False), nn.LeakyReLU(),
            DeconvBlock(M, M * 3 // 2, act=False), nn.LeakyReLU(),
            DeconvBlock(M * 3 // 2, M * 2, stride=1, kernel_size=3, act=False))

        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # ------------------------------------------------------------------ tables
    def update(self, scale_table: Sequence[float] | None = None, force: bool = False) -> bool:
        """Build the CDF tables of both entropy models (CompressAI ``CompressionModel.update``)."""
        return update_entropy_models(self, scale_table, force=force)

    def reset_tables(self) -> None:
        """Empty the CDF tables (and the scale table), as a published checkpoint holds them."""
        self.entropy_bottleneck.reset_tables()
        self.gaussian_conditional.reset_tables()
        self.gaussian_conditional.scale_table = torch.Tensor().to(self.gaussian_conditional.scale_bound.device)

    def tables_sha256(self) -> str:
        """Fingerprint of both entropy models' integer tables: equal values = identical coding."""
        digest = hashlib.sha256()
        for model in (self.entropy_bottleneck, self.gaussian_conditional):
            digest.update(model.tables_sha256().encode())
        return digest.hexdigest()

    @property
    def picture_multiple(self) -> int:
        """Picture sizes must be multiples of this (five stride-2 stages for the official config)."""
        return 2 ** (self.num_intermediate_layers + 4)

    # ------------------------------------------------------------------ gains
    def _check_rate(self, rate_idx: int, q_value: float = 0.0) -> None:
        if not self.variable_bitrate:
            return
        if not 0 <= int(rate_idx) < self.levels:
            raise ValueError(f"rate_idx {rate_idx} outside [0, {self.levels - 1}]")
        if not 0.0 <= float(q_value) <= 1.0:
            raise ValueError(f"q_value {q_value} outside [0, 1]")
        if int(rate_idx) == self.levels - 1 and q_value != 0:
            raise ValueError(f"q_value must be 0 at the last rate_idx ({rate_idx}): nothing to interpolate to")

    @staticmethod
    def _per_channel(vector: torch.Tensor) -> torch.Tensor:
        return vector.view(1, -1, 1, 1)

    def _gain_vector(self, table: torch.Tensor, rate_idx: int, q_value: float) -> torch.Tensor:
        """|table[rate_idx]| (1 - q) + |table[rate_idx + 1]| q, the reference's interpolation."""
        gain = torch.abs(table[rate_idx]) * (1 - q_value)
        if rate_idx + 1 < table.shape[0]:
            gain = gain + torch.abs(table[rate_idx + 1]) * q_value
        return gain

    def compute_gain(self, x: torch.Tensor, rate_idx: int, hyper: bool = False) -> torch.Tensor:
        return x * self._per_channel(torch.abs((self.hyper_gain if hyper else self.gain)[rate_idx]))

    def compute_inverse_gain(self, x: torch.Tensor, rate_idx: int, hyper: bool = False) -> torch.Tensor:
        return x * self._per_channel(torch.abs((self.inverse_hyper_gain if hyper else self.inverse_gain)[rate_idx]))

    def compute_interpolated_gain(self, x: torch.Tensor, rate_idx: int, q_value: float,
                                  hyper: bool = False) -> torch.Tensor:
        table = self.hyper_gain if hyper else self.gain
        return x * self._per_channel(self._gain_vector(table, rate_idx, q_value))

    def compute_inverse_interpolated_gain(self, x: torch.Tensor, rate_idx: int, q_value: float,
                                          hyper: bool = False) -> torch.Tensor:
        table = self.inverse_hyper_gain if hyper else self.inverse_gain
        return x * self._per_channel(self._gain_vector(table, rate_idx, q_value))

    # ------------------------------------------------------------------ training-time forward
    @staticmethod
    def estimate_bitrate(likelihood: torch.Tensor) -> torch.Tensor:
        return torch.sum(-torch.log2(torch.clamp(likelihood, LIKELIHOOD_FLOOR, 1.0)))

    def resize(self, frame: torch.Tensor, scale_factor: float) -> torch.Tensor:
        return F.interpolate(frame, scale_factor=(scale_factor, scale_factor), mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor, rate_idx: int = 0):
        """(x_hat clamped to [-1, 1], total_bpp, y_likelihoods); quantisation by the entropy models
        (noise in training, rounding in eval)."""
        self._check_rate(rate_idx)
        if self.scale_factor != 1:
            x = self.resize(x, self.scale_factor)
        normaliser = x.shape[0] * x.shape[1] * x.shape[2]      # reference quirk, see module docstring
        y = self.g_a(x)
        if self.variable_bitrate:
            y = self.compute_gain(y, rate_idx)
        z = self.h_a(y)
        if self.variable_bitrate:
            z = self.compute_gain(z, rate_idx, hyper=True)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.variable_bitrate:
            z_hat = self.compute_inverse_gain(z_hat, rate_idx, hyper=True)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales_hat, means=means_hat)
        if self.variable_bitrate:
            y_hat = self.compute_inverse_gain(y_hat, rate_idx)
        x_hat = self.g_s(y_hat)
        if self.scale_factor != 1:
            x_hat = self.resize(x_hat, 1 // self.scale_factor)
        total_bpp = (self.estimate_bitrate(y_likelihoods) + self.estimate_bitrate(z_likelihoods)) / normaliser
        return x_hat.clamp(-1, 1), total_bpp, y_likelihoods

    # ------------------------------------------------------------------ latent interface
    def _check_residual(self, residual: torch.Tensor) -> None:
        if residual.dim() != 4 or residual.shape[0] != 1:
            raise ValueError(f"residual must be a (1, C, H, W) tensor, got {list(residual.shape)}")
        h, w = residual.shape[-2:]
        if h % self.picture_multiple or w % self.picture_multiple:
            raise ValueError(f"residual size {h}x{w} is not a multiple of {self.picture_multiple}")

    def ae_compress(self, residual: torch.Tensor, rate_idx: int = 0, q_value: float = 0.0, **_unused) -> torch.Tensor:
        """The rounded, gain-scaled latent (for an external entropy coder)."""
        self._check_rate(rate_idx, q_value)
        y = self.g_a(residual)
        if self.variable_bitrate:
            y = torch.round(self.compute_interpolated_gain(y, rate_idx, q_value))
        return y

    def ae_decompress(self, y_hat: torch.Tensor, rate_idx: int = 0, q_value: float = 0.0, **_unused) -> torch.Tensor:
        """Residual from a latent made by ae_compress."""
        self._check_rate(rate_idx, q_value)
        if self.variable_bitrate:
            y_hat = self.compute_inverse_interpolated_gain(y_hat, rate_idx, q_value)
        return self.g_s(y_hat)

    # ------------------------------------------------------------------ bitstream interface
    @staticmethod
    def similarity(prev: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(prev, cur, dim=1, eps=1e-6)

    def rans_compress(self, residual: torch.Tensor, prev_latent: torch.Tensor | None, rate_idx: int = 0,
                      q_value: float = 0.0, use_skip: bool = False, skip_thresh: float = 0.75,
                      **_unused) -> tuple[ResidualCoding | None, bool]:
        """Code one residual picture: returns (coding, False), or (None, True) when ``use_skip`` and
        the latent is more than ``skip_thresh`` cosine-similar to ``prev_latent``."""
        self._check_residual(residual)
        self._check_rate(rate_idx, q_value)
        y = self.g_a(residual)
        if use_skip and prev_latent is not None:
            if torch.mean(self.similarity(prev_latent, y)).item() > skip_thresh:
                return None, True
        if self.variable_bitrate:
            y = self.compute_interpolated_gain(y, rate_idx, q_value)
        z = self.h_a(y)
        # As in the reference: no hyper gain on z here, only the inverse on its reconstruction.
        z_string = self.entropy_bottleneck.compress(z)[0]
        latent_shape = (int(z.shape[-2]), int(z.shape[-1]))
        z_hat = self.entropy_bottleneck.decompress([z_string], latent_shape).to(z.device)
        scales_hat, means_hat = self._gaussian_params(z_hat, rate_idx, q_value)
        indexes = self.gaussian_conditional.build_indexes(scales_hat)
        y_string = self.gaussian_conditional.compress(y, indexes, means=means_hat)[0]
        res_hat, y_hat = self.rans_decompress([[y_string], [z_string]], latent_shape, rate_idx, q_value)
        return ResidualCoding(y_string=y_string, z_string=z_string, latent_shape=latent_shape,
                              bits=8 * (len(y_string) + len(z_string)), res_hat=res_hat,
                              res_latent_hat=y_hat), False

    def _gaussian_params(self, z_hat: torch.Tensor, rate_idx: int, q_value: float):
        if self.variable_bitrate:
            z_hat = self.compute_inverse_interpolated_gain(z_hat, rate_idx, q_value, hyper=True)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        return scales_hat, means_hat

    def rans_decompress(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], rate_idx: int = 0,
                        q_value: float = 0.0, **_unused) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode ``[[y_string], [z_string]]`` with hyper-latent size ``shape``: (residual, latent)."""
        if not isinstance(strings, (list, tuple)) or len(strings) != 2:
            raise EntropyCodingError("strings must be [[y_string], [z_string]]")
        self._check_rate(rate_idx, q_value)
        device = self.h_s[0].deconv.weight.device
        z_hat = self.entropy_bottleneck.decompress(list(strings[1]), shape).to(device)
        scales_hat, means_hat = self._gaussian_params(z_hat, rate_idx, q_value)
        indexes = self.gaussian_conditional.build_indexes(scales_hat)
        y_hat = self.gaussian_conditional.decompress(list(strings[0]), indexes, means=means_hat)
        if self.variable_bitrate:
            y_hat = self.compute_inverse_interpolated_gain(y_hat, rate_idx, q_value)
        return self.g_s(y_hat), y_hat


class GeneratorRDAC(DacGenerator):
    """GeneratorRDAC: DAC's generator followed by ``sdc`` and ``tdc`` (state_dict order of the reference).

    ``residual_coder_params``: residual_features (N; M = 1.5 N), variable_bitrate, levels,
    scale_factor, num_intermediate_layers."""

    def __init__(self, num_channels: int = 3, num_kp: int = 10, block_expansion: int = 64,
                 max_features: int = 1024, num_down_blocks: int = 2, num_bottleneck_blocks: int = 3,
                 estimate_occlusion_map: bool = False, dense_motion_params: Mapping[str, Any] | None = None,
                 residual_coder_params: Mapping[str, Any] | None = None, **kwargs):
        super().__init__(num_channels=num_channels, num_kp=num_kp, block_expansion=block_expansion,
                         max_features=max_features, num_down_blocks=num_down_blocks,
                         num_bottleneck_blocks=num_bottleneck_blocks,
                         estimate_occlusion_map=estimate_occlusion_map, dense_motion_params=dense_motion_params,
                         **kwargs)
        if not residual_coder_params:
            raise ModelConfigError("rdac: generator_params lacks residual_coder_params")
        params = dict(residual_coder_params)
        N = int(params.pop("residual_features"))
        M = int(N * 1.5)
        self.sdc = ResidualCoder(num_channels, num_channels, N, M, **params)
        self.tdc = ResidualCoder(num_channels, num_channels, N, M, **params)

    def update(self, force: bool = False) -> bool:
        """Rebuild the entropy tables of both residual coders (the loader does this after loading)."""
        updated = self.sdc.update(force=force)
        return self.tdc.update(force=force) or updated

    def deform_residual(self, params: Mapping[str, Any]) -> torch.Tensor:
        """Warp the previous decoded residual ``res_hat_prev`` to the current picture with the dense motion
        from ``kp_prev`` (at picture ``prev_rec``) to ``kp_cur``."""
        dense_motion = self.dense_motion_network(params["prev_rec"], kp_target=params["kp_cur"],
                                                 kp_reference=params["kp_prev"])
        return self.deform_input(params["res_hat_prev"], dense_motion["deformation"])


@register_family("rdac")
class RdacModel(KeypointFaceModel):
    """RDAC networks with the FaceModel API.

    analyse: keypoints (``value``). synthesise: the animation, plus the decoded residual when given as
    ``residual=`` (B, 3, H, W): ``clamp(animation + residual, 0, 1)`` as the reference's enhanced
    prediction. The residual coding steps are on ``generator`` (``sdc``/``tdc``.rans_compress /
    rans_decompress, ``deform_residual``) and wrapped by the helpers below."""

    parameter_keys = ("value",)

    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = GeneratorRDAC(**model_params["generator_params"], **common)
        kp_detector = make_dac_kp_detector(common, model_params["kp_detector_params"])
        return {"generator": generator, "kp_detector": kp_detector}

    def after_checkpoint_load(self) -> None:
        self.generator.update(force=True)

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], residual: torch.Tensor | None = None,
                   **side_info) -> torch.Tensor:
        if side_info:
            raise TypeError(f"RDAC takes only residual= as side information, got {sorted(side_info)}")
        self.check_frames(reference, "reference")
        return self.add_residual(self.generator.animate(reference, dict(reference_params), dict(target_params)),
                                 residual)

    side_info_names = ("residual",)

    def _synthesise_batch(self, prepared, target_params: dict, residual: torch.Tensor | None = None) -> torch.Tensor:
        """The animation part from the prepared reference (the residual coders are not involved)."""
        return self.add_residual(self.generator.animate_prepared(prepared.cache, target_params), residual)

    @staticmethod
    def add_residual(prediction: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
        """The reference's enhanced prediction clamp(animation + residual, 0, 1) (the animation alone
        without a residual)."""
        if residual is None:
            return prediction
        if residual.shape != prediction.shape:
            raise ValueError(f"residual shape {list(residual.shape)} differs from the picture's "
                             f"{list(prediction.shape)}")
        return (prediction + residual).clamp(0, 1)

    def coder(self, kind: str) -> ResidualCoder:
        """``"sdc"`` (spatial) or ``"tdc"`` (temporal) residual coder."""
        if kind not in ("sdc", "tdc"):
            raise ValueError(f"residual coder must be 'sdc' or 'tdc', not {kind!r}")
        return getattr(self.generator, kind)

    @staticmethod
    def temporal_residual(residual: torch.Tensor, deformed_prev_res_hat: torch.Tensor) -> torch.Tensor:
        """What tdc codes: (residual - warped previous decoded residual) / 2."""
        return (residual - deformed_prev_res_hat) / 2.0

    @staticmethod
    def residual_from_temporal(deformed_prev_res_hat: torch.Tensor, temporal_res_hat: torch.Tensor) -> torch.Tensor:
        """Decoded residual from the decoded temporal residual (inverse of temporal_residual)."""
        return deformed_prev_res_hat + temporal_res_hat * 2.0
