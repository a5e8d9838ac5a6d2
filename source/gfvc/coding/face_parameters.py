"""Face parameters <-> GFV SEI messages (payloadType 223), one small coder per model family.

A :class:`FaceParameterCoder` maps one picture's face parameters, as ``FaceModel.analyse`` returns
them for batch 1, onto a :class:`~gfvc.bitstream.GfvMessage` (``to_message``) and a parsed message
back onto parameters (``from_message``). The mapping (doc/coding.md, "Face parameters in GFV SEI"):

========================  ====================================================================
family                    GFV elements
========================  ====================================================================
DAC, HDAC, MRDAC, RDAC    ``value`` (1,K,2) -> K coordinates (x, y)
FOMM                      ``value`` -> coordinates; ``jacobian`` (1,K,2,2) -> matrix type 0
                          (one 2x2 matrix per keypoint)
CFTE                      ``feature`` (1,1,H,W) -> matrix type 2 (width W, height H)
FV2V                      ``exp`` (1,3K) -> K 3-D coordinates (x, y, z); ``rot_mat`` (1,3,3) ->
                          type 4 (3x3); ``t`` (1,3) -> type 5 (1 wide, 3 high); base messages
                          also ``kp_canonical`` (1,K,3) -> type 7 (one K-high, 3-wide matrix)
========================  ====================================================================

Values are quantised to the grid ``q / 2^P`` with round-half-to-even of ``x * 2^P`` in float64
(the reference's ``np.round``), so the reconstruction error is at most ``2^-(P+1)`` per value; the
message holds values on that grid, which the GFV writer codes exactly (HM's truncating
quantiser is never left to round). Default P equals the reference quantisation steps:
FOMM/DAC/HDAC/MRDAC/RDAC 6 (Qstep 64), CFTE 2 (Qstep 4), FV2V 8 (Qstep 256).

Prediction is on reconstructed values only: :func:`encode_parameters` writes a message with the
encoder's prediction state, parses the bytes back with a second state that mirrors the decoder's,
and returns the parsed message and ``from_message`` of it, which is exactly what a decoder gets.
"""
from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..bitstream import GfvMatrixSet, GfvMessage, GfvPredictionState, SeiContext
from ..bitstream.gfv import generative_face_video
from ..bitstream.syntax import SyntaxReader, SyntaxWriter
from ..errors import GfvcError

#: largest |q| (value in units of 2^-P) accepted, so that every difference fits ue(v)
MAX_QUANTISED_MAGNITUDE = 1 << 30
MIN_PRECISION, MAX_PRECISION = 1, 32

MATRIX_TYPE_JACOBIAN = 0
MATRIX_TYPE_FEATURE = 2
MATRIX_TYPE_ROTATION = 4
MATRIX_TYPE_TRANSLATION = 5
MATRIX_TYPE_CANONICAL_KEYPOINTS = 7

#: gfv_coordinate_z_max_value written for 3-D coordinates: z is in the same normalised unit as
#: x and y (FV2V's keypoint space, nominally [-1, 1]); informative, nothing is scaled by it
Z_MAX_VALUE = 1


class FaceParameterError(GfvcError, ValueError):
    """Face parameters that cannot be coded, or a GFV message that does not fit a family."""


# -- quantisation -----------------------------------------------------------------------
def quantise(values: torch.Tensor, precision: int, what: str) -> List[int]:
    """Integers round_half_even(x * 2^P) of a tensor (float64), with range and finiteness checks."""
    x = values.detach().to("cpu", torch.float64).reshape(-1)
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise FaceParameterError(f"{what}[{i}] = {float(x[i])} is not a finite number")
    scaled = torch.round(torch.ldexp(x, torch.tensor(precision, dtype=torch.float64)))
    big = scaled.abs() > MAX_QUANTISED_MAGNITUDE
    if bool(big.any()):
        i = int(big.nonzero()[0])
        raise FaceParameterError(
            f"{what}[{i}] = {float(x[i])} is outside the codable range "
            f"+-{math.ldexp(MAX_QUANTISED_MAGNITUDE, -precision):g} at precision {precision}")
    return [int(v) for v in scaled.tolist()]


def grid_value(q: int, precision: int) -> float:
    """The float q / 2^P, the value a GFV message holds for the integer q."""
    return math.ldexp(q, -precision)


def coordinate_value(q: int, precision: int) -> float:
    """A float that the GFV coordinate quantiser (HM: C truncation of x*2^P + 0.5) maps to q.

    For q >= 0 that is q / 2^P; for q < 0, (q - 0.5) / 2^P, since truncation toward zero of
    q - 0.5 + 0.5 gives q, whereas of q + 0.5 it would give q + 1.
    """
    return math.ldexp(q, -precision) if q >= 0 else math.ldexp(2 * q - 1, -precision - 1)


def _values(msg_values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(list(msg_values), dtype=torch.float64).to(torch.float32)


# -- the coder interface ------------------------------------------------------------------
class FaceParameterCoder(ABC):
    """Maps one family's face parameters to GFV SEI messages and back. Stateless: the
    prediction state lives in the caller's :class:`GfvPredictionState` (see encode_parameters)."""

    family: ClassVar[str]
    default_precision: ClassVar[int] = 6

    def __init__(self, precision: Optional[int] = None, **options: Any):
        if options:
            raise FaceParameterError(f"{self.family} parameter coder: unknown option(s) {sorted(options)}")
        p = self.default_precision if precision is None else precision
        if isinstance(p, bool) or not isinstance(p, int) or not MIN_PRECISION <= p <= MAX_PRECISION:
            raise FaceParameterError(f"{self.family} parameter coder: precision must be an integer "
                                     f"{MIN_PRECISION}..{MAX_PRECISION}, not {p!r}")
        self.precision = p

    def settings(self) -> dict:
        """Everything that changes the bits (JSON-able)."""
        return {"family": self.family, "precision": self.precision,
                "rounding": "half_even", "z_max_value": Z_MAX_VALUE}

    # -- parameters -> message --------------------------------------------------------------
    def to_message(self, params: Mapping[str, torch.Tensor], *, gfv_id: int = 0, gfv_cnt: int,
                   base: bool, predicted: bool = True,
                   drive_picture_fusion: bool = False) -> GfvMessage:
        """The GFV message of one picture's parameters (batch 1, as analyse() returns them).

        ``base``: the key picture's base message (gfv_cnt 0, gfv_base_picture_flag 1, absolute
        values, everything the decoder needs about the reference). Otherwise the coordinates and
        matrices are predicted (gfv_kps_pred_flag / gfv_matrix_pred_flag) when ``predicted``.
        """
        if base and gfv_cnt != 0:
            raise FaceParameterError(f"a base GFV message needs gfv_cnt 0, not {gfv_cnt}")
        if base and drive_picture_fusion:
            raise FaceParameterError("gfv_drive_picture_fusion_flag is not sent in a base message")
        for name, value in (("gfv_id", gfv_id), ("gfv_cnt", gfv_cnt)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FaceParameterError(f"{name} must be a non-negative integer, not {value!r}")
        msg = GfvMessage(gfv_id=gfv_id, gfv_cnt=gfv_cnt, gfv_base_picture_flag=bool(base),
                         gfv_drive_picture_fusion_flag=bool(drive_picture_fusion))
        self._fill(msg, self._checked(params, base), base)
        if not base and predicted:
            msg.gfv_kps_pred_flag = msg.gfv_coordinate_present_flag
            msg.gfv_matrix_pred_flag = msg.gfv_matrix_present_flag
        return msg

    # -- message -> parameters --------------------------------------------------------------
    def from_message(self, msg: GfvMessage) -> Dict[str, torch.Tensor]:
        """The reconstructed parameters (float32, leading dim 1) of a parsed message (or of the
        reconstruction write_sei_payload returns), with the keys and shapes analyse() gives (FV2V:
        see Fv2vParameterCoder). Not for the writer's input message, whose negative coordinates
        are offset for HM's quantiser (coordinate_value)."""
        if not isinstance(msg, GfvMessage):
            raise FaceParameterError(f"expected a GfvMessage, got {type(msg).__name__}")
        return self._read(msg)

    # -- per family -------------------------------------------------------------------------
    @abstractmethod
    def _expected(self, base: bool) -> Dict[str, Optional[Tuple[Optional[int], ...]]]:
        """key -> shape (None entries: any size) that to_message needs."""

    @abstractmethod
    def _fill(self, msg: GfvMessage, params: Mapping[str, torch.Tensor], base: bool) -> None:
        ...

    @abstractmethod
    def _read(self, msg: GfvMessage) -> Dict[str, torch.Tensor]:
        ...

    # -- helpers ----------------------------------------------------------------------------
    def _checked(self, params: Mapping[str, Any], base: bool) -> Dict[str, torch.Tensor]:
        if not isinstance(params, Mapping):
            raise FaceParameterError(f"{self.family} parameters must be a mapping of tensors, "
                                     f"not {type(params).__name__}")
        out = {}
        for key, shape in self._expected(base).items():
            if key not in params:
                raise FaceParameterError(f"{self.family} parameters lack {key!r} "
                                         f"(given: {sorted(params)})")
            value = params[key]
            if not isinstance(value, torch.Tensor):
                raise FaceParameterError(f"{self.family} parameter {key!r} is a "
                                         f"{type(value).__name__}, not a tensor")
            if value.dim() != len(shape) or any(s is not None and s != v
                                                 for s, v in zip(shape, value.shape)):
                want = "x".join("N" if s is None else str(s) for s in shape)
                raise FaceParameterError(f"{self.family} parameter {key!r} has shape "
                                         f"{tuple(value.shape)}, expected {want} (batch 1)")
            if value.numel() == 0:
                raise FaceParameterError(f"{self.family} parameter {key!r} is empty "
                                         f"(shape {tuple(value.shape)})")
            out[key] = value
        return out

    def _coordinates(self, msg: GfvMessage, axes: Sequence[List[int]]) -> None:
        p = self.precision
        msg.gfv_coordinate_present_flag = True
        msg.gfv_coordinate_precision_factor_minus1 = p - 1
        msg.gfv_coordinate_x = [coordinate_value(q, p) for q in axes[0]]
        msg.gfv_coordinate_y = [coordinate_value(q, p) for q in axes[1]]
        if len(axes) == 3:
            msg.gfv_coordinate_z_present_flag = True
            msg.gfv_coordinate_z_max_value_minus1 = Z_MAX_VALUE - 1
            msg.gfv_coordinate_z = [coordinate_value(q, p) for q in axes[2]]

    def _matrix_values(self, tensor: torch.Tensor, what: str, count: int, height: int,
                       width: int) -> List[List[List[float]]]:
        q = quantise(tensor, self.precision, what)
        it = iter(grid_value(v, self.precision) for v in q)
        return [[[next(it) for _ in range(width)] for _ in range(height)] for _ in range(count)]

    def _start_matrices(self, msg: GfvMessage) -> None:
        msg.gfv_matrix_present_flag = True
        msg.gfv_matrix_element_precision_factor_minus1 = self.precision - 1

    def _need(self, msg: GfvMessage, coordinates: bool, z: bool,
              matrix_types: Optional[Sequence[Sequence[int]]]) -> None:
        """Checks that a message has this family's layout (matrix_types: allowed type lists)."""
        problems = []
        if bool(msg.gfv_coordinate_present_flag) != coordinates:
            problems.append("keypoint coordinates" + (" missing" if coordinates else " present"))
        elif coordinates and bool(msg.gfv_coordinate_z_present_flag) != z:
            problems.append("z coordinates" + (" missing" if z else " present"))
        types = [ms.gfv_matrix_type_idx for ms in msg.gfv_matrix_sets] \
            if msg.gfv_matrix_present_flag else []
        if matrix_types is None:
            if types:
                problems.append(f"matrix types {types} present")
        elif list(types) not in [list(t) for t in matrix_types]:
            problems.append(f"matrix types {types}, expected "
                            + " or ".join(str(list(t)) for t in matrix_types))
        if problems:
            raise FaceParameterError(f"GFV message (gfv_id {msg.gfv_id}, gfv_cnt {msg.gfv_cnt}) "
                                     f"does not fit the {self.family} parameters: "
                                     + "; ".join(problems))

    @staticmethod
    def _matrix_set(msg: GfvMessage, type_idx: int) -> GfvMatrixSet:
        return next(ms for ms in msg.gfv_matrix_sets if ms.gfv_matrix_type_idx == type_idx)


class KeypointParameterCoder(FaceParameterCoder):
    """DAC, HDAC, MRDAC, RDAC: ``value`` (1,K,2) as K coordinates."""

    def _expected(self, base):
        return {"value": (1, None, 2)}

    def _fill(self, msg, params, base):
        q = quantise(params["value"][0], self.precision, f"{self.family} keypoint value")
        self._coordinates(msg, (q[0::2], q[1::2]))

    def _read(self, msg):
        self._need(msg, coordinates=True, z=False, matrix_types=None)
        return {"value": self._keypoints(msg)}

    @staticmethod
    def _keypoints(msg: GfvMessage) -> torch.Tensor:
        xy = torch.stack([_values(msg.gfv_coordinate_x), _values(msg.gfv_coordinate_y)], dim=-1)
        return xy[None]


class DacParameterCoder(KeypointParameterCoder):
    family = "dac"


class HdacParameterCoder(KeypointParameterCoder):
    family = "hdac"


class MrdacParameterCoder(KeypointParameterCoder):
    family = "mrdac"


class RdacParameterCoder(KeypointParameterCoder):
    family = "rdac"


class RdacPlusParameterCoder(KeypointParameterCoder):
    family = "rdac_plus"


class FommParameterCoder(KeypointParameterCoder):
    """FOMM: ``value`` as coordinates, ``jacobian`` (1,K,2,2) as matrix type 0 (per keypoint)."""

    family = "fomm"

    def _expected(self, base):
        return {"value": (1, None, 2), "jacobian": (1, None, 2, 2)}

    def _fill(self, msg, params, base):
        k = params["value"].shape[1]
        if params["jacobian"].shape[1] != k:
            raise FaceParameterError(f"fomm parameters: {params['jacobian'].shape[1]} jacobians "
                                     f"for {k} keypoints")
        super()._fill(msg, params, base)
        self._start_matrices(msg)
        msg.gfv_matrix_sets = [GfvMatrixSet(
            gfv_matrix_type_idx=MATRIX_TYPE_JACOBIAN, gfv_num_matrices_equal_to_num_kps_flag=True,
            matrices=self._matrix_values(params["jacobian"], "fomm jacobian", k, 2, 2))]

    def _read(self, msg):
        self._need(msg, coordinates=True, z=False, matrix_types=[[MATRIX_TYPE_JACOBIAN]])
        out = {"value": self._keypoints(msg)}
        jac = self._matrix_set(msg, MATRIX_TYPE_JACOBIAN).matrices
        if len(jac) != msg.num_kps:
            raise FaceParameterError(f"fomm GFV message: {len(jac)} jacobians for {msg.num_kps} "
                                     f"keypoints")
        out["jacobian"] = torch.tensor(jac, dtype=torch.float64).to(torch.float32)[None]
        return out


class CfteParameterCoder(FaceParameterCoder):
    """CFTE: the compact feature ``feature`` (1,1,H,W) as one matrix of type 2 (H high, W wide)."""

    family = "cfte"
    default_precision = 2

    def _expected(self, base):
        return {"feature": (1, 1, None, None)}

    def _fill(self, msg, params, base):
        feature = params["feature"]
        h, w = feature.shape[2], feature.shape[3]
        self._start_matrices(msg)
        msg.gfv_matrix_sets = [GfvMatrixSet(
            gfv_matrix_type_idx=MATRIX_TYPE_FEATURE, gfv_matrix_width_minus1=w - 1,
            gfv_matrix_height_minus1=h - 1,
            matrices=self._matrix_values(feature, "cfte feature", 1, h, w))]

    def _read(self, msg):
        self._need(msg, coordinates=False, z=False, matrix_types=[[MATRIX_TYPE_FEATURE]])
        feature = self._matrix_set(msg, MATRIX_TYPE_FEATURE).matrices[0]
        return {"feature": torch.tensor(feature, dtype=torch.float64).to(torch.float32)[None, None]}


class Fv2vParameterCoder(FaceParameterCoder):
    """FV2V: ``exp`` (1,3K) as K 3-D coordinates, ``rot_mat`` (1,3,3) as type 4, ``t`` (1,3) as
    type 5 (3x1); the base message also carries ``kp_canonical`` (1,K,3) as type 7 (K x 3), so
    the decoder never runs the canonical keypoint detector. ``from_message`` gives rot_mat, t,
    exp, and kp_canonical for a base message (yaw/pitch/roll are not sent: synthesis uses
    rot_mat). The first message after a base one cannot predict its matrices (the base has one
    more type); encode_parameters turns that prediction off by itself."""

    family = "fv2v"
    default_precision = 8

    def _expected(self, base):
        shapes = {"rot_mat": (1, 3, 3), "t": (1, 3), "exp": (1, None)}
        if base:
            shapes["kp_canonical"] = (1, None, 3)
        return shapes

    def _fill(self, msg, params, base):
        n = params["exp"].shape[1]
        if n % 3 or n == 0:
            raise FaceParameterError(f"fv2v parameter 'exp' holds {n} values, not 3 per keypoint")
        k = n // 3
        q = quantise(params["exp"][0], self.precision, "fv2v exp")
        self._coordinates(msg, (q[0::3], q[1::3], q[2::3]))
        self._start_matrices(msg)
        sets = [GfvMatrixSet(gfv_matrix_type_idx=MATRIX_TYPE_ROTATION,
                             matrices=self._matrix_values(params["rot_mat"], "fv2v rot_mat", 1, 3, 3)),
                GfvMatrixSet(gfv_matrix_type_idx=MATRIX_TYPE_TRANSLATION,
                             matrices=self._matrix_values(params["t"], "fv2v t", 1, 3, 1))]
        if base:
            kp = params["kp_canonical"]
            if kp.shape[1] != k:
                raise FaceParameterError(f"fv2v parameters: {kp.shape[1]} canonical keypoints but "
                                         f"'exp' has {k}")
            sets.append(GfvMatrixSet(gfv_matrix_type_idx=MATRIX_TYPE_CANONICAL_KEYPOINTS,
                                     gfv_num_matrices_minus1=0, gfv_matrix_width_minus1=2,
                                     gfv_matrix_height_minus1=k - 1,
                                     matrices=self._matrix_values(kp, "fv2v kp_canonical", 1, k, 3)))
        msg.gfv_matrix_sets = sets

    def _read(self, msg):
        pose = [MATRIX_TYPE_ROTATION, MATRIX_TYPE_TRANSLATION]
        allowed = [pose + [MATRIX_TYPE_CANONICAL_KEYPOINTS]] if msg.gfv_base_picture_flag else [pose]
        self._need(msg, coordinates=True, z=True, matrix_types=allowed)
        exp = torch.stack([_values(msg.gfv_coordinate_x), _values(msg.gfv_coordinate_y),
                           _values(msg.gfv_coordinate_z)], dim=-1).reshape(1, -1)
        rot = self._matrix_set(msg, MATRIX_TYPE_ROTATION).matrices[0]
        t = self._matrix_set(msg, MATRIX_TYPE_TRANSLATION).matrices[0]
        out = {"rot_mat": torch.tensor(rot, dtype=torch.float64).to(torch.float32)[None],
               "t": torch.tensor([row[0] for row in t], dtype=torch.float64).to(torch.float32)[None],
               "exp": exp}
        if msg.gfv_base_picture_flag:
            kp = self._matrix_set(msg, MATRIX_TYPE_CANONICAL_KEYPOINTS).matrices[0]
            if len(kp) != msg.num_kps:
                raise FaceParameterError(f"fv2v base GFV message: {len(kp)} canonical keypoints "
                                         f"for {msg.num_kps} expression keypoints")
            out["kp_canonical"] = torch.tensor(kp, dtype=torch.float64).to(torch.float32)[None]
        return out


PARAMETER_CODERS: Dict[str, type] = {cls.family: cls for cls in (
    FommParameterCoder, CfteParameterCoder, Fv2vParameterCoder, DacParameterCoder,
    HdacParameterCoder, MrdacParameterCoder, RdacParameterCoder, RdacPlusParameterCoder)}


def get_parameter_coder(family: str, **options: Any) -> FaceParameterCoder:
    """The parameter coder of a family (``precision=`` overrides the default P)."""
    key = str(family).lower()
    if key not in PARAMETER_CODERS:
        raise FaceParameterError(f"no GFV parameter coder for family {family!r} "
                                 f"(known: {', '.join(sorted(PARAMETER_CODERS))})")
    return PARAMETER_CODERS[key](**options)


# -- closed-loop coding of one message -------------------------------------------------------
State = Union[GfvPredictionState, SeiContext]


def _gfv_state(state: State) -> GfvPredictionState:
    if isinstance(state, SeiContext):
        return state.gfv
    if isinstance(state, GfvPredictionState):
        return state
    raise FaceParameterError(f"expected a GfvPredictionState or SeiContext, got {type(state).__name__}")


def fit_prediction(msg: GfvMessage, state: State) -> GfvMessage:
    """Turns off gfv_kps_pred_flag / gfv_matrix_pred_flag where the reference held by ``state``
    cannot serve as predictor (none yet, or another keypoint count, precision or matrix layout),
    so such a message is coded absolutely instead of failing. Returns ``msg`` (changed in place)."""
    if msg.gfv_base_picture_flag or not (msg.gfv_kps_pred_flag or msg.gfv_matrix_pred_flag):
        return msg
    ref = _gfv_state(state).reference(msg.gfv_id, msg.gfv_cnt)
    kp = ref.keypoints if ref is not None else None
    if msg.gfv_kps_pred_flag and (
            kp is None or kp.precision_minus1 != msg.gfv_coordinate_precision_factor_minus1
            or kp.z_present != msg.gfv_coordinate_z_present_flag
            or kp.z_max_minus1 != msg.gfv_coordinate_z_max_value_minus1
            or len(kp.q[0]) != msg.num_kps):
        msg.gfv_kps_pred_flag = False
    mat = ref.matrices if ref is not None else None
    if msg.gfv_matrix_pred_flag and (
            mat is None or mat.precision_minus1 != msg.gfv_matrix_element_precision_factor_minus1
            or mat.sets != tuple(ms.shape_key() for ms in msg.gfv_matrix_sets)):
        msg.gfv_matrix_pred_flag = False
    return msg


def write_gfv_payload(msg: GfvMessage, state: State) -> bytes:
    """The payload bytes of one GFV message (as sei_payload: ends with a 1 bit then 0 bits to
    the byte boundary). ``msg`` is not changed; ``state`` advances only when writing succeeded
    (the GFV syntax updates it once, after the whole message)."""
    writer = SyntaxWriter()
    generative_face_video(writer, copy.deepcopy(msg), _gfv_state(state))
    writer.align_with_one()
    return writer.getvalue()


def parse_gfv_payload(data: bytes, state: State) -> GfvMessage:
    """The parsed (reconstructed) GFV message of payload bytes, advancing ``state``."""
    reader = SyntaxReader(bytes(data))
    msg = generative_face_video(reader, GfvMessage(), _gfv_state(state))
    reader.payload_extension_bits("generative_face_video")
    return msg


@dataclass
class CodedParameters:
    """Result of :func:`encode_parameters`."""

    payload: bytes                      # GFV payload bytes (sei_message payload, payloadType 223)
    message: GfvMessage                 # the message as a decoder parses it
    params: Dict[str, torch.Tensor]     # from_message(message): what the decoder reconstructs


def encode_parameters(coder: FaceParameterCoder, params: Mapping[str, torch.Tensor],
                      state_writer: State, state_reader: State, *, gfv_id: int = 0, gfv_cnt: int,
                      base: bool, predicted: bool = True,
                      drive_picture_fusion: bool = False) -> CodedParameters:
    """Codes one picture's parameters in closed loop.

    Builds the message (``coder.to_message``), turns prediction off where the reference cannot
    serve (:func:`fit_prediction`), writes it with ``state_writer`` and parses the bytes back with
    ``state_reader``, which must have seen exactly the same messages before (it mirrors the
    decoder). Both states advance by this message. The returned parameters are the decoder's
    reconstruction, the only values later pictures may be predicted from or synthesised with.
    Pack the payload with ``gfvc.bitstream.sei_message_bytes(223, payload)``.
    """
    msg = coder.to_message(params, gfv_id=gfv_id, gfv_cnt=gfv_cnt, base=base, predicted=predicted,
                           drive_picture_fusion=drive_picture_fusion)
    fit_prediction(msg, state_writer)
    payload = write_gfv_payload(msg, state_writer)
    parsed = parse_gfv_payload(payload, state_reader)
    return CodedParameters(payload, parsed, coder.from_message(parsed))


# -- runs of pictures in one entropy-coded payload --------------------------------------------
@dataclass
class CodedParameterRun:
    """Result of :func:`encode_parameter_run`."""

    payload: bytes                      # user_data_unregistered payload bytes (UUID included)
    messages: List[GfvMessage]          # per picture, as a decoder reconstructs them
    params: List[Dict[str, torch.Tensor]]


def _sei_context(state: State) -> SeiContext:
    if isinstance(state, SeiContext):
        return state
    context = SeiContext()
    context.gfv = _gfv_state(state)          # shared: updates reach the caller's state
    return context


def encode_parameter_run(coder: FaceParameterCoder, params: Sequence[Mapping[str, torch.Tensor]],
                         state_writer: State, state_reader: State, *, gfv_id: int = 0,
                         first_gfv_cnt: int, drive_picture_fusion: bool = False) -> CodedParameterRun:
    """Codes the parameters of consecutive generated pictures (gfv_cnt = first_gfv_cnt + i) in one
    ``gfvc_entropy_coded_parameters`` payload (doc/sei_payloads.md section 5) instead of one GFV
    message each, closed loop like :func:`encode_parameters`: written with ``state_writer``, parsed
    back with ``state_reader``; both then hold the last picture's reconstruction. Pack the payload
    with ``sei_message_bytes(5, payload)``."""
    from ..bitstream import EntropyCodedParameters
    from ..bitstream.sei import PAYLOAD_TYPE_USER_DATA_UNREGISTERED, parse_sei_payload, write_sei_payload
    if not params:
        raise FaceParameterError("a run of coded parameters needs at least one picture")
    messages = [coder.to_message(p, gfv_id=gfv_id, gfv_cnt=first_gfv_cnt + i, base=False,
                                 predicted=False, drive_picture_fusion=drive_picture_fusion)
                for i, p in enumerate(params)]
    run = EntropyCodedParameters(ecp_gfv_id=gfv_id, ecp_first_gfv_cnt=first_gfv_cnt, pictures=messages)
    _, payload, _, _ = write_sei_payload(run, _sei_context(state_writer))
    _, parsed, _, _ = parse_sei_payload(PAYLOAD_TYPE_USER_DATA_UNREGISTERED, payload,
                                        _sei_context(state_reader))
    return CodedParameterRun(payload, parsed.pictures, [coder.from_message(m) for m in parsed.pictures])
