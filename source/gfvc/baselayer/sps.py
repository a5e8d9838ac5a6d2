"""What a decoder will output, read from the stream's first sequence parameter set.

Only the SPS syntax up to the bit depth is read (H.265 7.3.2.2.1, H.266 7.3.2.4): picture size,
conformance window, chroma format, bit depth. That is enough to know the size and sample
format of every output picture without trusting the caller or a decoder's raw output file,
whose size alone cannot tell 128x128 pictures from 256x256 ones.

Output size = coded size minus the conformance window (SubWidthC x left/right offsets,
SubHeightC x top/bottom offsets), which is what HM, VTM, libde265 and FFmpeg write.
Not handled (``read_sequence_info`` returns None): VVC streams with subpictures or with
reference picture resampling that may change the size inside the sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

from gfvc.bitstream import NalUnit

from .annexb import split_nal_units
from .errors import BaseLayerError

_SPS_TYPE = {"hevc": 33, "vvc": 15}
_MAX_UE_BITS = 32


class _Bits:
    """MSB-first reader over an RBSP; running out of bits is a BaseLayerError."""

    def __init__(self, data: bytes):
        self.value = int.from_bytes(data, "big")
        self.size = 8 * len(data)
        self.pos = 0

    def u(self, n: int) -> int:
        if self.pos + n > self.size:
            raise BaseLayerError("the sequence parameter set ends early")
        self.pos += n
        return (self.value >> (self.size - self.pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > _MAX_UE_BITS:
                raise BaseLayerError("the sequence parameter set holds an Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def align(self) -> None:
        self.pos = (self.pos + 7) // 8 * 8


@dataclass(frozen=True)
class SequenceInfo:
    codec: str
    width: int  # output width (after the conformance window)
    height: int
    chroma_format_idc: int  # 0: 4:0:0, 1: 4:2:0, 2: 4:2:2, 3: 4:4:4
    bit_depth: int  # luma bit depth
    bit_depth_chroma: int

    @property
    def chroma_format(self) -> str:
        return {0: "400", 1: "420", 2: "422", 3: "444"}[self.chroma_format_idc]


def _crop(width: int, height: int, chroma: int, offsets: tuple[int, int, int, int]) -> tuple[int, int]:
    sub_w = 2 if chroma in (1, 2) else 1
    sub_h = 2 if chroma == 1 else 1
    left, right, top, bottom = offsets
    w, h = width - sub_w * (left + right), height - sub_h * (top + bottom)
    if w <= 0 or h <= 0:
        raise BaseLayerError(f"the sequence parameter set's conformance window leaves no picture ({w}x{h})")
    return w, h


def _hevc_profile_tier_level(r: _Bits, max_sub_layers_minus1: int) -> None:
    r.u(88)  # general profile space .. general_inbld/reserved flag
    r.u(8)  # general_level_idc
    flags = [(r.u(1), r.u(1)) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.u(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in flags:
        if profile_present:
            r.u(88)
        if level_present:
            r.u(8)


def _hevc(rbsp: bytes) -> SequenceInfo:
    r = _Bits(rbsp)
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    r.u(1)  # sps_temporal_id_nesting_flag
    _hevc_profile_tier_level(r, max_sub_layers_minus1)
    r.ue()  # sps_seq_parameter_set_id
    chroma = r.ue()
    if chroma > 3:
        raise BaseLayerError(f"the sequence parameter set has chroma_format_idc {chroma} (0..3 allowed)")
    if chroma == 3 and r.u(1):  # separate_colour_plane_flag: planes coded as monochrome pictures
        chroma_for_crop = 0
    else:
        chroma_for_crop = chroma
    width, height = r.ue(), r.ue()
    offsets = tuple(r.ue() for _ in range(4)) if r.u(1) else (0, 0, 0, 0)
    w, h = _crop(width, height, chroma_for_crop, offsets)
    return SequenceInfo("hevc", w, h, chroma, 8 + r.ue(), 8 + r.ue())


def _vvc_profile_tier_level(r: _Bits, max_sublayers_minus1: int) -> None:
    r.u(8)  # general_profile_idc, general_tier_flag
    r.u(8)  # general_level_idc
    r.u(2)  # ptl_frame_only_constraint_flag, ptl_multilayer_enabled_flag
    if r.u(1):  # gci_present_flag: 71 constraint bits, gci_num_additional_bits, the additional bits
        r.u(71)
        r.u(r.u(8))
    r.align()  # gci_alignment_zero_bit
    present = [r.u(1) for _ in range(max_sublayers_minus1)]
    r.align()  # ptl_reserved_zero_bit
    for flag in present:
        if flag:
            r.u(8)  # sublayer_level_idc
    num_sub_profiles = r.u(8)
    r.u(32 * num_sub_profiles)


def _vvc(rbsp: bytes) -> SequenceInfo | None:
    r = _Bits(rbsp)
    r.u(8)  # sps_seq_parameter_set_id, sps_video_parameter_set_id
    max_sublayers_minus1 = r.u(3)
    chroma = r.u(2)
    r.u(2)  # sps_log2_ctu_size_minus5
    if r.u(1):  # sps_ptl_dpb_hrd_params_present_flag
        _vvc_profile_tier_level(r, max_sublayers_minus1)
    r.u(1)  # sps_gdr_enabled_flag
    if r.u(1) and r.u(1):  # sps_ref_pic_resampling_enabled_flag, sps_res_change_in_clvs_allowed_flag
        return None  # the picture size may change inside the sequence (read from each PPS)
    width, height = r.ue(), r.ue()
    offsets = tuple(r.ue() for _ in range(4)) if r.u(1) else (0, 0, 0, 0)
    if r.u(1):  # sps_subpic_info_present_flag
        return None
    w, h = _crop(width, height, chroma, offsets)
    depth = 8 + r.ue()
    return SequenceInfo("vvc", w, h, chroma, depth, depth)


def read_sequence_info(data: bytes | list[NalUnit], codec: str) -> SequenceInfo | None:
    """The output picture format announced by the stream's first SPS (None: a case not handled above).

    A stream without an SPS, or an SPS that ends early, is a BaseLayerError.
    """
    units = split_nal_units(data, codec) if isinstance(data, (bytes, bytearray)) else data
    sps = next((n for n in units if n.nal_unit_type == _SPS_TYPE[codec]), None)
    if sps is None:
        raise BaseLayerError(f"the {codec.upper()} stream holds no sequence parameter set")
    try:
        return (_hevc if codec == "hevc" else _vvc)(sps.rbsp)
    except BaseLayerError as e:
        raise BaseLayerError(f"{codec.upper()} stream at byte {sps.offset}: {e}") from None
