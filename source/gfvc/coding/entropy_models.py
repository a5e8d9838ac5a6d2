"""Learned entropy models with CompressAI 1.2.4's parameter layout and coding behaviour.

``EntropyBottleneck`` (the factorised prior of Ballé et al. 2018) and ``GaussianConditional``
(the conditional Gaussian of the hyperprior models) keep CompressAI's state_dict names, order,
shapes and dtypes, so the official RDAC/MRDAC checkpoints load with ``strict=True`` into these
classes. Their integer CDF tables (``_quantized_cdf``, ``_offset``, ``_cdf_length`` and the
GaussianConditional ``scale_table``) are buffers that published checkpoints hold EMPTY: build
them after loading with ``update(force=True)`` (or ``update_entropy_models(module)``).

Numerics follow CompressAI so that the reference's byte strings are reproduced: the tables are
computed from float32 arithmetic, always on the CPU (whatever device the module lives on), and
quantised with ``rans.pmf_to_quantized_cdf``; the Gaussian tables of the default scale table are
not computed but taken from ``default_gaussian_tables`` (identical on every machine). The tables
are derived data: ``state_dict()`` reports them empty, the published layout. Coding itself is
integer-only (``rans``).
"""
from __future__ import annotations

import copy
import hashlib
import math
from typing import Iterable, Sequence

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

from . import default_gaussian_tables, rans
from .errors import EntropyCodingError, EntropyTablesError

DEFAULT_TAIL_MASS = 1e-9

#: GaussianConditional CDF tables by (scale table bytes, tail mass, precision)
_GAUSSIAN_TABLES: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def default_scale_table() -> torch.Tensor:
    """CompressAI's scale table: exp(linspace(log 0.11, log 256, 64)) in float32, bit-exact as
    torch computes it (stored in default_gaussian_tables so that no libm can change it)."""
    return torch.from_numpy(default_gaussian_tables.scale_table().copy())


def _default_gaussian_key() -> tuple:
    return (default_gaussian_tables.scale_table().tobytes(), DEFAULT_TAIL_MASS, rans.PRECISION)


class LowerBound(nn.Module):
    """max(x, bound), with the bound as a buffer named ``bound`` (CompressAI layout).

    In training, the gradient passes where x >= bound or where it pushes x upwards.
    """

    def __init__(self, bound: float):
        super().__init__()
        self.register_buffer("bound", torch.Tensor([float(bound)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() or not x.requires_grad:
            return torch.max(x, self.bound)
        return _LowerBoundFunction.apply(x, self.bound)


class _LowerBoundFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad_output):
        x, bound = ctx.saved_tensors
        pass_through = (x >= bound) | (grad_output < 0)
        return pass_through.type(grad_output.dtype) * grad_output, None


class EntropyModel(nn.Module):
    """Shared part: likelihood bound, quantisation, the CDF buffers and string coding."""

    def __init__(self, likelihood_bound: float = 1e-9, entropy_coder_precision: int = 16):
        super().__init__()
        if entropy_coder_precision != rans.PRECISION:
            raise ValueError(f"only {rans.PRECISION}-bit CDFs are supported, got {entropy_coder_precision}")
        self.entropy_coder_precision = int(entropy_coder_precision)
        self.use_likelihood_bound = likelihood_bound > 0
        if self.use_likelihood_bound:
            self.likelihood_lower_bound = LowerBound(likelihood_bound)
        self.register_buffer("_offset", torch.IntTensor())
        self.register_buffer("_quantized_cdf", torch.IntTensor())
        self.register_buffer("_cdf_length", torch.IntTensor())
        self._tables: rans.CdfTables | None = None

    # --- quantisation ---------------------------------------------------------------------
    def quantize(self, inputs: torch.Tensor, mode: str, means: torch.Tensor | None = None) -> torch.Tensor:
        """``noise``: add U(-0.5, 0.5) (training proxy); ``dequantize``: round around the means
        and add them back; ``symbols``: round(inputs - means) as int32."""
        if mode not in ("noise", "dequantize", "symbols"):
            raise ValueError(f'invalid quantisation mode "{mode}"')
        if mode == "noise":
            return inputs + torch.empty_like(inputs).uniform_(-0.5, 0.5)
        outputs = inputs.clone()
        if means is not None:
            outputs -= means
        outputs = torch.round(outputs)
        if mode == "dequantize":
            if means is not None:
                outputs += means
            return outputs
        return outputs.int()

    @staticmethod
    def dequantize(inputs: torch.Tensor, means: torch.Tensor | None = None,
                   dtype: torch.dtype = torch.float) -> torch.Tensor:
        if means is not None:
            outputs = inputs.type_as(means)
            outputs += means
            return outputs
        return inputs.type(dtype)

    #: buffers derived from the other entries by update(); saved empty, resized when loaded
    derived_buffers: tuple[str, ...] = ("_offset", "_quantized_cdf", "_cdf_length")

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        # Always the published layout (CompressAI's freshly built modules): the tables are derived
        # data, rebuilt by update() after loading. So a checkpoint saved after update() has the
        # shapes of the official files and loads into fresh and updated modules alike.
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for name in self.derived_buffers:
            buffer = getattr(self, name)
            destination[prefix + name] = buffer.new_empty(0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.derived_buffers:
            incoming = state_dict.get(prefix + name)
            buffer = getattr(self, name)
            if isinstance(incoming, torch.Tensor) and incoming.shape != buffer.shape:
                setattr(self, name, buffer.new_empty(incoming.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._tables = None          # loaded buffers replace whatever was cached

    # --- tables ----------------------------------------------------------------------------
    def reset_tables(self) -> None:
        """Empty the CDF buffers (the state of a fresh module and of a published checkpoint)."""
        self._set_tables(torch.IntTensor(), torch.IntTensor(), torch.IntTensor())

    @property
    def tables_ready(self) -> bool:
        return self._offset.numel() > 0

    def _set_tables(self, quantized_cdf: torch.Tensor, cdf_length: torch.Tensor, offset: torch.Tensor) -> None:
        device = self._quantized_cdf.device
        self._quantized_cdf = quantized_cdf.to(device=device, dtype=torch.int32)
        self._cdf_length = cdf_length.to(device=device, dtype=torch.int32)
        self._offset = offset.to(device=device, dtype=torch.int32)
        self._tables = None

    def coding_tables(self) -> rans.CdfTables:
        """The integer tables as the rANS coder wants them (cached until the next update)."""
        if not self.tables_ready:
            raise EntropyTablesError(
                f"{type(self).__name__} has no CDF tables: call update(force=True) after loading")
        if self._tables is None:
            self._tables = rans.CdfTables(self._quantized_cdf.cpu().numpy(),
                                          self._cdf_length.cpu().numpy(),
                                          self._offset.cpu().numpy())
        return self._tables

    def tables_sha256(self) -> str:
        """Fingerprint of the integer tables: equal fingerprints = identical coding behaviour."""
        digest = hashlib.sha256()
        for buffer in (self._quantized_cdf, self._cdf_length, self._offset):
            digest.update(np.ascontiguousarray(buffer.cpu().numpy().astype("<i4")).tobytes())
        return digest.hexdigest()

    def _pmf_to_cdf(self, pmf: torch.Tensor, tail_mass: torch.Tensor, pmf_length: torch.Tensor,
                    max_length: int) -> torch.Tensor:
        """One quantised CDF row per PMF row: PMF entries up to its length, then the tail mass."""
        cdf = torch.zeros((len(pmf_length), max_length + 2), dtype=torch.int32)
        for i, row in enumerate(pmf):
            probabilities = torch.cat((row[: int(pmf_length[i])], tail_mass[i]), dim=0)
            quantized = rans.pmf_to_quantized_cdf(probabilities.numpy(), self.entropy_coder_precision)
            cdf[i, : len(quantized)] = torch.tensor(quantized, dtype=torch.int32)
        return cdf

    # --- strings -----------------------------------------------------------------------------
    def compress(self, inputs: torch.Tensor, indexes: torch.Tensor,
                 means: torch.Tensor | None = None) -> list[bytes]:
        """One rANS string per batch item: round(inputs - means) coded with CDF ``indexes``."""
        if inputs.dim() < 2:
            raise EntropyCodingError(f"inputs must have at least 2 dimensions, got {tuple(inputs.shape)}")
        if inputs.size() != indexes.size():
            raise EntropyCodingError(
                f"inputs {tuple(inputs.shape)} and indexes {tuple(indexes.shape)} differ in shape")
        tables = self.coding_tables()
        symbols = self.quantize(inputs, "symbols", means)
        return [rans.encode_with_indexes(symbols[i].reshape(-1).cpu().numpy(),
                                         indexes[i].reshape(-1).cpu().numpy(), tables)
                for i in range(symbols.size(0))]

    def decompress(self, strings: Sequence[bytes], indexes: torch.Tensor, dtype: torch.dtype = torch.float,
                   means: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(strings, (tuple, list)):
            raise EntropyCodingError(f"strings must be a list of byte strings, got {type(strings).__name__}")
        if len(strings) != indexes.size(0):
            raise EntropyCodingError(f"{len(strings)} strings for a batch of {indexes.size(0)}")
        if indexes.dim() < 2:
            raise EntropyCodingError(f"indexes must have at least 2 dimensions, got {tuple(indexes.shape)}")
        if means is not None and means.size()[:2] != indexes.size()[:2]:
            raise EntropyCodingError(
                f"means {tuple(means.shape)} do not fit indexes {tuple(indexes.shape)}")
        tables = self.coding_tables()
        outputs = torch.empty(indexes.size(), dtype=torch.int32)
        for i, string in enumerate(strings):
            values = rans.decode_with_indexes(string, indexes[i].reshape(-1).cpu().numpy(), tables)
            outputs[i] = torch.tensor(values, dtype=torch.int32).reshape(outputs[i].size())
        device = means.device if means is not None else indexes.device
        return self.dequantize(outputs.to(device), means, dtype)


class EntropyBottleneck(EntropyModel):
    """Factorised, non-parametric density per channel (Ballé et al. 2018, appendix 6.1).

    State_dict: ``_matrix{i}``, ``_bias{i}``, ``_factor{i}`` (i < len(filters)), ``_matrix{K}``,
    ``_bias{K}``, ``quantiles`` (C, 1, 3), then buffers ``_offset``, ``_quantized_cdf``,
    ``_cdf_length``, ``target`` (3,), then ``likelihood_lower_bound.bound``.
    """

    def __init__(self, channels: int, *, tail_mass: float = DEFAULT_TAIL_MASS, init_scale: float = 10,
                 filters: tuple[int, ...] = (3, 3, 3, 3), likelihood_bound: float = 1e-9,
                 entropy_coder_precision: int = 16):
        super().__init__(likelihood_bound=likelihood_bound, entropy_coder_precision=entropy_coder_precision)
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.init_scale = float(init_scale)
        self.tail_mass = float(tail_mass)

        widths = (1,) + self.filters + (1,)
        scale = self.init_scale ** (1 / (len(self.filters) + 1))
        for i in range(len(self.filters) + 1):
            init = math.log(math.expm1(1 / scale / widths[i + 1]))
            matrix = torch.Tensor(channels, widths[i + 1], widths[i]).fill_(init)
            self.register_parameter(f"_matrix{i:d}", nn.Parameter(matrix))
            bias = torch.Tensor(channels, widths[i + 1], 1).uniform_(-0.5, 0.5)
            self.register_parameter(f"_bias{i:d}", nn.Parameter(bias))
            if i < len(self.filters):
                factor = torch.zeros(channels, widths[i + 1], 1)
                self.register_parameter(f"_factor{i:d}", nn.Parameter(factor))

        self.quantiles = nn.Parameter(
            torch.Tensor([-self.init_scale, 0, self.init_scale]).repeat(channels, 1, 1))
        target = math.log(2 / self.tail_mass - 1)
        self.register_buffer("target", torch.Tensor([-target, 0, target]))

    def _medians(self) -> torch.Tensor:
        return self.quantiles[:, :, 1:2]

    def _logits_cumulative(self, inputs: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
        logits = inputs
        for i in range(len(self.filters) + 1):
            matrix = getattr(self, f"_matrix{i:d}")
            if stop_gradient:
                matrix = matrix.detach()
            logits = torch.matmul(F.softplus(matrix), logits)
            bias = getattr(self, f"_bias{i:d}")
            if stop_gradient:
                bias = bias.detach()
            logits = logits + bias
            if i < len(self.filters):
                factor = getattr(self, f"_factor{i:d}")
                if stop_gradient:
                    factor = factor.detach()
                logits = logits + torch.tanh(factor) * torch.tanh(logits)
        return logits

    def _likelihood(self, inputs: torch.Tensor) -> torch.Tensor:
        lower = self._logits_cumulative(inputs - 0.5, stop_gradient=False)
        upper = self._logits_cumulative(inputs + 0.5, stop_gradient=False)
        # Evaluate the difference of sigmoids on the side where it does not cancel.
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def loss(self) -> torch.Tensor:
        """Auxiliary loss that moves ``quantiles`` to the tail-mass quantiles (training)."""
        logits = self._logits_cumulative(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self.target).sum()

    def forward(self, x: torch.Tensor, training: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantised x, likelihoods). Eval mode rounds around the per-channel medians."""
        if training is None:
            training = self.training
        # (B, C, ...) -> (C, B, ...) -> (C, 1, B * ...)
        perm = [1, 0] + list(range(2, x.dim()))
        values = x.permute(*perm).contiguous()
        shape = values.size()
        values = values.reshape(values.size(0), 1, -1)
        outputs = self.quantize(values, "noise" if training else "dequantize", self._medians())
        likelihood = self._likelihood(outputs)
        if self.use_likelihood_bound:
            likelihood = self.likelihood_lower_bound(likelihood)
        outputs = outputs.reshape(shape).permute(*perm).contiguous()
        likelihood = likelihood.reshape(shape).permute(*perm).contiguous()
        return outputs, likelihood

    @torch.no_grad()
    def update(self, force: bool = False) -> bool:
        """Build the CDF tables from the learned density (no-op if present unless forced)."""
        if self.tables_ready and not force:
            return False
        # Computed on the CPU in float32 whatever the module's device: same tables everywhere.
        quantiles = self.quantiles.detach().float().cpu()
        medians = quantiles[:, 0, 1]
        minima = torch.clamp(torch.ceil(medians - quantiles[:, 0, 0]).int(), min=0)
        maxima = torch.clamp(torch.ceil(quantiles[:, 0, 2] - medians).int(), min=0)
        pmf_start = medians - minima
        pmf_length = maxima + minima + 1
        max_length = int(pmf_length.max().item())
        samples = torch.arange(max_length)[None, :] + pmf_start[:, None, None]

        cpu_copy = _cpu_float_copy(self)
        lower = cpu_copy._logits_cumulative(samples - 0.5, stop_gradient=True)
        upper = cpu_copy._logits_cumulative(samples + 0.5, stop_gradient=True)
        sign = -torch.sign(lower + upper)
        pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))[:, 0, :]
        tail_mass = torch.sigmoid(lower[:, 0, :1]) + torch.sigmoid(-upper[:, 0, -1:])

        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, max_length)
        self._set_tables(quantized_cdf, pmf_length + 2, -minima)
        return True

    def _channel_indexes(self, size: Sequence[int]) -> torch.Tensor:
        view = [1] * len(size)
        view[1] = -1
        return torch.arange(size[1]).view(*view).int().repeat(size[0], 1, *size[2:])

    def _expanded_medians(self, batch: int, spatial_dims: int) -> torch.Tensor:
        medians = self._medians().detach().reshape(-1, *([1] * spatial_dims))
        return medians.expand(batch, *([-1] * (spatial_dims + 1)))

    def compress(self, x: torch.Tensor) -> list[bytes]:
        if x.dim() < 3 or x.size(1) != self.channels:
            raise EntropyCodingError(
                f"EntropyBottleneck({self.channels}) cannot code a tensor of shape {tuple(x.shape)}")
        indexes = self._channel_indexes(x.size())
        medians = self._expanded_medians(x.size(0), x.dim() - 2)
        return super().compress(x, indexes.to(x.device), medians)

    def decompress(self, strings: Sequence[bytes], size: Iterable[int]) -> torch.Tensor:
        size = tuple(int(s) for s in size)
        if len(size) < 1 or any(s <= 0 for s in size):
            raise EntropyCodingError(f"invalid latent size {size}")
        output_size = (len(strings), self.channels, *size)
        indexes = self._channel_indexes(output_size)
        medians = self._expanded_medians(len(strings), len(size))
        return super().decompress(strings, indexes, medians.dtype, medians)


def _cpu_float_copy(module: EntropyBottleneck) -> EntropyBottleneck:
    """The module itself when it already lives on the CPU in float32, else a CPU float copy."""
    if module.quantiles.device.type == "cpu" and module.quantiles.dtype == torch.float32:
        return module
    return copy.deepcopy(module).cpu().float()


class GaussianConditional(EntropyModel):
    """Gaussian with per-element scale (and mean) given by a hyper-decoder.

    State_dict: buffers ``_offset``, ``_quantized_cdf``, ``_cdf_length``, ``scale_table``,
    ``scale_bound``, then ``likelihood_lower_bound.bound``, ``lower_bound_scale.bound``.
    One CDF per entry of ``scale_table``; ``build_indexes`` picks, per element, the smallest
    table scale >= the predicted scale.
    """

    def __init__(self, scale_table: Sequence[float] | None = None, *, scale_bound: float = 0.11,
                 tail_mass: float = DEFAULT_TAIL_MASS, likelihood_bound: float = 1e-9,
                 entropy_coder_precision: int = 16):
        super().__init__(likelihood_bound=likelihood_bound, entropy_coder_precision=entropy_coder_precision)
        if scale_table is not None and not isinstance(scale_table, (list, tuple)):
            raise ValueError(f'invalid type for scale_table "{type(scale_table).__name__}"')
        if scale_table is not None and (list(scale_table) != sorted(scale_table) or min(scale_table) <= 0):
            raise ValueError(f'invalid scale_table "{scale_table}": must be positive and sorted')
        self.tail_mass = float(tail_mass)
        if scale_bound is None and scale_table:
            scale_bound = scale_table[0]
        if scale_bound is None or scale_bound <= 0:
            raise ValueError(f"invalid scale_bound {scale_bound}")
        self.register_buffer("scale_table", self._prepare_scale_table(scale_table) if scale_table
                             else torch.Tensor())
        if not scale_table:     # then the table is set by update_scale_table(): derived as well
            self.derived_buffers = EntropyModel.derived_buffers + ("scale_table",)
        self.register_buffer("scale_bound", torch.Tensor([float(scale_bound)]))
        self.lower_bound_scale = LowerBound(scale_bound)

    @staticmethod
    def _prepare_scale_table(scale_table) -> torch.Tensor:
        return torch.Tensor(tuple(float(s) for s in scale_table))

    @staticmethod
    def _standardized_cumulative(inputs: torch.Tensor) -> torch.Tensor:
        # Phi(x) = erfc(-x / sqrt(2)) / 2, accurate in the lower tail.
        return 0.5 * torch.erfc(-(2 ** -0.5) * inputs)

    @staticmethod
    def _standardized_quantile(quantile: float) -> float:
        return float(scipy.special.ndtri(quantile))

    def update_scale_table(self, scale_table: Sequence[float] | torch.Tensor | None = None,
                           force: bool = False) -> bool:
        """Set the scale table (default: ``default_scale_table()``) and build its CDFs."""
        if self.tables_ready and not force:
            return False
        if scale_table is None:
            scale_table = default_scale_table()
        device = self.scale_table.device
        self.scale_table = self._prepare_scale_table(scale_table).to(device)
        self.update()
        return True

    @torch.no_grad()
    def update(self) -> None:
        """Build one CDF per scale of ``scale_table`` (float32 on the CPU, as CompressAI)."""
        scale_table = self.scale_table.detach().float().cpu()
        if scale_table.numel() == 0:
            raise EntropyTablesError("GaussianConditional has an empty scale_table: use update_scale_table()")
        # The tables depend on the scale table only (no learned weights): build each set once.
        # The shipped tables serve CompressAI's defaults identically on every machine.
        key = (scale_table.numpy().tobytes(), self.tail_mass, self.entropy_coder_precision)
        if key not in _GAUSSIAN_TABLES:
            if key == _default_gaussian_key():
                _GAUSSIAN_TABLES[key] = tuple(torch.from_numpy(t) for t in default_gaussian_tables.tables())
            else:
                _GAUSSIAN_TABLES[key] = self._gaussian_tables(scale_table)
        self._set_tables(*(t.clone() for t in _GAUSSIAN_TABLES[key]))

    def _gaussian_tables(self, scale_table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Compute the tables as CompressAI does (float32 erfc: the last bits depend on the CPU)."""
        multiplier = -self._standardized_quantile(self.tail_mass / 2)
        pmf_center = torch.ceil(scale_table * multiplier).int()
        pmf_length = 2 * pmf_center + 1
        max_length = int(torch.max(pmf_length).item())
        samples = torch.abs(torch.arange(max_length).int() - pmf_center[:, None]).float()
        samples_scale = scale_table.unsqueeze(1).float()
        upper = self._standardized_cumulative((0.5 - samples) / samples_scale)
        lower = self._standardized_cumulative((-0.5 - samples) / samples_scale)
        pmf = upper - lower
        tail_mass = 2 * lower[:, :1]
        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, max_length)
        return quantized_cdf, pmf_length + 2, -pmf_center

    def _likelihood(self, inputs: torch.Tensor, scales: torch.Tensor,
                    means: torch.Tensor | None = None) -> torch.Tensor:
        values = inputs - means if means is not None else inputs
        scales = self.lower_bound_scale(scales)
        values = torch.abs(values)
        upper = self._standardized_cumulative((0.5 - values) / scales)
        lower = self._standardized_cumulative((-0.5 - values) / scales)
        return upper - lower

    def forward(self, inputs: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None,
                training: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantised inputs, likelihoods). Eval mode rounds around the means."""
        if training is None:
            training = self.training
        outputs = self.quantize(inputs, "noise" if training else "dequantize", means)
        likelihood = self._likelihood(outputs, scales, means)
        if self.use_likelihood_bound:
            likelihood = self.likelihood_lower_bound(likelihood)
        return outputs, likelihood

    def build_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """Index of the CDF per element: the first table scale >= max(scale, scale_bound)."""
        if self.scale_table.numel() == 0:
            raise EntropyTablesError("GaussianConditional has no scale table: call update_scale_table()")
        scales = self.lower_bound_scale(scales)
        indexes = scales.new_full(scales.size(), len(self.scale_table) - 1).int()
        for s in self.scale_table[:-1]:
            indexes -= (scales <= s).int()
        return indexes


def update_entropy_models(module: nn.Module, scale_table: Sequence[float] | None = None,
                          force: bool = False) -> bool:
    """Build the tables of every entropy model inside ``module`` (CompressAI's
    ``CompressionModel.update``): EntropyBottlenecks from their densities, GaussianConditionals
    from ``scale_table`` (default ``default_scale_table()``). Returns whether anything changed."""
    if scale_table is None:
        scale_table = default_scale_table()
    updated = False
    for child in module.modules():
        if isinstance(child, EntropyBottleneck):
            updated |= child.update(force=force)
        elif isinstance(child, GaussianConditional):
            updated |= child.update_scale_table(scale_table, force=force)
    return updated
