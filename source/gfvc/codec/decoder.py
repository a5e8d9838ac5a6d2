"""The GFVC decoder: reads one Annex-B file and nothing else (besides the model it names).

Mirror of gfvc.codec.encoder. The stream is split into base-layer pictures with their SEI
messages (gfvc.codec.stream.read_stream); the base layer is decoded once, in-process; then,
in stream order:
- a picture whose GFV message has gfv_base_picture_flag = 1 is a key picture: it is output as
  decoded and becomes the reference (its parameters come from that message, no analysis);
- every other GFV message describes one generated picture, output in stream order; with
  gfv_drive_picture_fusion_flag = 1 the base picture of its access unit drives the synthesis
  (HDAC);
- generated pictures are synthesised in batches of ``synthesis_batch`` targets from the same
  reference, padded to that size (the encoder does the same, so both run identical shapes);
- a gfvc_prediction_modes message (in the key picture's access unit) makes some of them the
  reference warped along the model's dense motion field instead (mode 1), computed in the same
  batches; a picture it does not cover is the generated one;
- gfvc_picture_hash messages are checked against the output pictures they cover. When a stream
  carries hashes, every output picture must be covered: a stream cut short loses its last
  hashes and is reported as truncated instead of being output as if complete.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ..baselayer.decoders import decode_stream
from ..bitstream import (PREDICTION_MODE_WARPED_REFERENCE, EntropyCodedParameters, GfvMessage, ModelIdentity,
                         PictureHash, PredictionModes, ReferenceSelection, Residual, picture_md5)
from ..errors import GfvcError
from .encoder import stack_params, synthesise
from .model_source import ModelKey, find_model
from .pictures import OUTPUT_ROUNDING, from_base_layer, key_format_name, to_model, to_uint8
from .prediction import decoded_predictions
from .residual import ResidualCoding, ResidualError, residual_family
from .stream import ParsedStream, rate_breakdown, read_stream


class DecoderError(GfvcError):
    """The stream cannot be decoded (not a gfvc stream, inconsistent, truncated, hash mismatch)."""


@dataclass
class DecodedSequence:
    pictures: np.ndarray                     # (N, H, W, 3) uint8, output order
    key_pictures: List[int]
    rate: Dict[str, int]
    hash_checked: int = 0                    # output pictures covered by a verified hash
    timings: Dict[str, float] = field(default_factory=dict)
    model: Optional[ModelKey] = None
    codec: str = ""
    delay: int = 0                           # structural delay in pictures (multi-reference streams)
    decode_order: List[int] = field(default_factory=list)   # output indices in decoding order (when reordered)

    @property
    def md5_per_picture(self) -> List[str]:
        return [picture_md5([p]).hex() for p in self.pictures]


def detect_codec(stream: bytes) -> str:
    """'hevc' or 'vvc' from the first NAL unit header (both codecs reserve bits the other sets)."""
    from ..bitstream.seidump import detect_codec as _detect

    from pathlib import Path

    return _detect(Path(""), stream)


@dataclass
class OpenedStream:
    """A parsed stream with its model and decoded base pictures (what both decoding paths start from)."""

    bitstream: bytes
    codec: str
    parsed: ParsedStream
    identity: ModelIdentity
    model: object
    coder: object
    rounding: str
    base_rgb: np.ndarray
    t_base: float


def gfv_messages(pic) -> List[Tuple[int, GfvMessage]]:
    """(byte offset, GFV message) of an access unit's face parameters in stream order: its GFV
    messages and the pictures of its entropy-coded parameter runs (which stand in for GFV messages)."""
    gfv = []
    for m in pic.messages:
        if isinstance(m.payload, GfvMessage):
            gfv.append((m.offset, m.payload))
        elif isinstance(m.payload, EntropyCodedParameters):
            gfv.extend((m.offset, g) for g in m.payload.pictures)
    return gfv


def check_gfv_message(offset: int, msg: GfvMessage, gfv: List, pic, identity: ModelIdentity) -> GfvMessage:
    """A GFV message (at byte ``offset``; one of its access unit's (offset, message) pairs ``gfv``),
    checked: its gfv_id is the stream's, and a base message is the first of an IRAP picture's."""
    if msg.gfv_id != identity.mi_gfv_id:
        raise DecoderError(f"GFV message with gfv_id {msg.gfv_id} at byte {offset}: the stream's model "
                           f"identity is for gfv_id {identity.mi_gfv_id}")
    if msg.gfv_base_picture_flag:
        if msg is not gfv[0][1]:
            raise DecoderError(f"base GFV message at byte {offset} is not the first of its access unit")
        if not pic.irap:
            raise DecoderError(f"base GFV message at byte {offset} belongs to a picture that is not "
                               "an IRAP picture")
    return msg


class _Pending:
    """Generated pictures waiting for synthesis from the current reference."""

    def __init__(self) -> None:
        self.params: List[Dict[str, torch.Tensor]] = []
        self.drive: List[Optional[np.ndarray]] = []
        self.slots: List[int] = []
        self.cnts: List[int] = []
        self.residuals: Dict[int, Residual] = {}     # gfv_cnt -> its residual message (this segment)
        self.modes: Dict[int, int] = {}              # gfv_cnt -> pm_mode_idc (this segment; absent: 0)


def record_prediction_modes(model, identity: ModelIdentity, offset: int, message: PredictionModes,
                            modes: Dict[int, int]) -> None:
    """Add a gfvc_prediction_modes message's modes to ``modes`` (gfv_cnt -> pm_mode_idc), checked."""
    if message.pm_gfv_id != identity.mi_gfv_id:
        raise DecoderError(f"prediction-modes message at byte {offset} has gfv_id {message.pm_gfv_id}, the "
                           f"stream's model identity {identity.mi_gfv_id}")
    for i, mode in enumerate(message.pm_mode_idc):
        cnt = message.pm_first_gfv_cnt + i
        if cnt in modes:
            raise DecoderError(f"prediction-modes message at byte {offset}: a second mode for gfv_cnt {cnt}")
        if mode == PREDICTION_MODE_WARPED_REFERENCE and not getattr(model, "has_warped_reference", False):
            raise DecoderError(f"prediction-modes message at byte {offset}: the stream's {identity.mi_codec_family} "
                               "model has no dense motion field to warp a reference with")
        modes[cnt] = mode


def unused_modes_error(modes: Dict[int, int]) -> DecoderError:
    cnts = sorted(modes)
    return DecoderError(f"a prediction-modes message names gfv_cnt {cnts[0]}"
                        f"{'' if len(cnts) == 1 else f'..{cnts[-1]}'}, for which its key picture has no "
                        "generated picture")


class GfvcDecoder:
    def __init__(self, model_config=None, checkpoint=None, allow_model_mismatch: bool = False,
                 synthesis_batch: Optional[int] = None, base_decoder: str = "pyav", device: str = "cpu", model=None,
                 model_key: Optional[ModelKey] = None):
        self.model_config, self.checkpoint = model_config, checkpoint
        self.allow_model_mismatch = allow_model_mismatch
        self.synthesis_batch = synthesis_batch
        self.base_decoder = base_decoder
        self.device = device
        self._model, self._model_key = model, model_key

    def open_stream(self, bitstream: bytes, codec: Optional[str] = None) -> "OpenedStream":
        """Parse the stream, find the model it names and decode its base layer once."""
        from ..coding.face_parameters import get_parameter_coder

        if not bitstream:
            raise DecoderError("the stream is empty")
        codec = codec or detect_codec(bitstream)
        parsed = read_stream(bitstream, codec)
        identity = self._identity(parsed)
        if self._model is None:
            self._model, self._model_key = find_model(identity, self.model_config, self.checkpoint,
                                                      self.allow_model_mismatch, self.device)
        elif self._model_key is not None and self._model_key.family != identity.mi_codec_family:
            raise DecoderError(f"the stream needs a {identity.mi_codec_family} model, not {self._model_key.family}")
        family = identity.mi_codec_family
        t0 = time.perf_counter()
        try:
            base = decode_stream(bitstream, codec, self.base_decoder, expected_frames=len(parsed.pictures))
        except GfvcError as exc:
            raise DecoderError(f"base layer: {exc}") from None
        base_rgb = from_base_layer(base.pictures, key_format_name(identity.mi_key_picture_format_idc))
        return OpenedStream(bitstream, codec, parsed, identity, self._model, get_parameter_coder(family),
                            OUTPUT_ROUNDING[int(identity.mi_output_rounding_flag)], base_rgb,
                            time.perf_counter() - t0)

    def decode(self, bitstream: bytes, codec: Optional[str] = None) -> DecodedSequence:
        t_start = time.perf_counter()
        opened = self.open_stream(bitstream, codec)
        if any(isinstance(m.payload, ReferenceSelection) for p in opened.parsed.pictures for m in p.messages):
            from .multi_reference import decode_multi_reference

            return decode_multi_reference(self, opened, t_start)
        codec, parsed, identity, model = opened.codec, opened.parsed, opened.identity, opened.model
        coder, rounding, base_rgb, t_base = opened.coder, opened.rounding, opened.base_rgb, opened.t_base
        family = identity.mi_codec_family

        outputs: List[Optional[np.ndarray]] = []
        keys: List[int] = []
        key_base_pictures: List[int] = []
        hashes: List[PictureHash] = []
        pending = _Pending()
        prepared = None
        expected_cnt = None
        # the encoder's batch, from the stream (an explicit one only for experiments: the output
        # may then differ from the encoder's in the last bit and fail the picture hash)
        batch = self.synthesis_batch or identity.mi_synthesis_batch_minus1 + 1
        residual = ResidualCoding(model, family, rounding) if residual_family(family) else None

        def flush() -> None:
            if not pending.params:
                return
            for lo in range(0, len(pending.params), batch):
                params = pending.params[lo:lo + batch]
                drives = pending.drive[lo:lo + batch]
                drive = None
                if any(d is not None for d in drives):
                    if any(d is None for d in drives):
                        raise DecoderError("a batch mixes pictures with and without drive pictures")
                    drive = to_model(np.stack(drives))
                modes = [pending.modes.pop(cnt, 0) for cnt in pending.cnts[lo:lo + batch]]
                predictions = decoded_predictions(
                    modes, lambda: synthesise(model, prepared, params, batch, drive),
                    lambda: model.warp_references_prepared([prepared], stack_params(params), synthesis_batch=batch))
                if residual is None:
                    out = to_uint8(predictions, rounding)
                else:
                    try:
                        out = [residual.decode_picture(predictions[i:i + 1], p, pending.residuals.get(cnt))
                               for i, (p, cnt) in enumerate(zip(params, pending.cnts[lo:lo + batch]))]
                    except ResidualError as exc:
                        raise DecoderError(str(exc)) from None
                for slot, pic in zip(pending.slots[lo:lo + batch], out):
                    outputs[slot] = pic
            pending.params.clear()
            pending.drive.clear()
            pending.slots.clear()
            pending.cnts.clear()
            pending.residuals.clear()

        for pic in parsed.pictures:
            gfv = gfv_messages(pic)
            hashes.extend(m.payload for m in pic.messages if isinstance(m.payload, PictureHash))
            res_msgs = [(m.offset, m.payload) for m in pic.messages if isinstance(m.payload, Residual)]
            pm_msgs = [(m.offset, m.payload) for m in pic.messages if isinstance(m.payload, PredictionModes)]
            if res_msgs and residual is None:
                raise DecoderError(f"residual message at byte {res_msgs[0][0]}: the stream's family {family} "
                                   "codes no residual")
            if not gfv:
                if pm_msgs:
                    raise DecoderError(f"prediction-modes message at byte {pm_msgs[0][0]} is in an access unit "
                                       "without GFV messages")
                flush()
                outputs.append(base_rgb[pic.index])    # a picture without GFV: output as decoded
                continue
            for offset, msg in gfv:
                check_gfv_message(offset, msg, gfv, pic, identity)
                if msg.gfv_base_picture_flag:
                    flush()
                    if pending.modes:
                        raise unused_modes_error(pending.modes)
                    keys.append(len(outputs))
                    key_base_pictures.append(pic.index)
                    key = base_rgb[pic.index]
                    outputs.append(key)
                    ref_params = coder.from_message(msg)
                    with torch.no_grad():
                        prepared = model.prepare_reference(to_model(key[None]), ref_params)
                    expected_cnt = 1
                    if residual is not None:
                        residual.start_segment()
                    continue
                if prepared is None:
                    raise DecoderError(f"GFV message at byte {offset} comes before any base picture message")
                if msg.gfv_cnt != expected_cnt:
                    raise DecoderError(f"GFV message at byte {offset} has gfv_cnt {msg.gfv_cnt}, expected "
                                       f"{expected_cnt} (a message is missing or repeated)")
                expected_cnt += 1
                pending.params.append(coder.from_message(msg))
                pending.drive.append(base_rgb[pic.index] if msg.gfv_drive_picture_fusion_flag else None)
                pending.slots.append(len(outputs))
                pending.cnts.append(msg.gfv_cnt)
                outputs.append(None)
            for offset, res in res_msgs:
                if res.res_gfv_id != identity.mi_gfv_id or res.res_gfv_cnt not in pending.cnts:
                    raise DecoderError(f"residual message at byte {offset} (gfv_id {res.res_gfv_id}, gfv_cnt "
                                       f"{res.res_gfv_cnt}) follows no generated picture of its key picture")
                if res.res_gfv_cnt in pending.residuals:
                    raise DecoderError(f"residual message at byte {offset}: a second residual for gfv_cnt "
                                       f"{res.res_gfv_cnt}")
                pending.residuals[res.res_gfv_cnt] = res
            for offset, pm in pm_msgs:
                if prepared is None:
                    raise DecoderError(f"prediction-modes message at byte {offset} comes before any base picture message")
                record_prediction_modes(model, identity, offset, pm, pending.modes)
        flush()
        if pending.modes:
            raise unused_modes_error(pending.modes)
        pictures = np.stack(outputs)
        checked = self._check_hashes(hashes, pictures)
        rate = rate_breakdown(bitstream, codec, key_base_pictures, parsed)
        timings = {"base_layer": t_base, "total": time.perf_counter() - t_start}
        return DecodedSequence(pictures, keys, rate, checked, timings, self._model_key, codec)

    @staticmethod
    def _identity(parsed: ParsedStream) -> ModelIdentity:
        for pic in parsed.pictures:
            for m in pic.messages:
                if isinstance(m.payload, ModelIdentity):
                    return m.payload
        raise DecoderError("the stream has no gfvc_model_identity message: not a gfvc stream (or its first "
                           "access unit is missing)")

    @staticmethod
    def _check_hashes(hashes: List[PictureHash], pictures: np.ndarray) -> int:
        if not hashes:
            return 0
        covered = np.zeros(len(pictures), dtype=bool)
        for h in hashes:
            lo, hi = h.gph_first_output_idx, h.gph_first_output_idx + h.gph_num_pictures_minus1 + 1
            if hi > len(pictures):
                raise DecoderError(f"picture hash covers output pictures {lo}..{hi - 1}, but the stream yields only "
                                   f"{len(pictures)}: the stream is truncated")
            if h.gph_sample_format != 0:
                raise DecoderError(f"picture hash sample format {h.gph_sample_format} is not supported")
            got = picture_md5(pictures[lo:hi])
            if got != h.gph_md5:
                raise DecoderError(f"picture hash mismatch for output pictures {lo}..{hi - 1}: decoded "
                                   f"{got.hex()}, the stream says {h.gph_md5.hex()}")
            covered[lo:hi] = True
        if not covered.all():
            missing = np.flatnonzero(~covered)
            raise DecoderError(f"output pictures {missing[0]}..{missing[-1]} are not covered by the stream's picture "
                               "hashes: the stream is truncated")
        return int(covered.sum())
