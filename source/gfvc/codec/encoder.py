"""The GFVC encoder: one loop for every family, containing the decoder (closed loop).

Per segment (a key picture and the generated pictures that follow it):
1. the base layer codes the segment's pictures with the real HEVC/VVC encoder and the encoder
   decodes that stream with the real decoder (never its own reconstruction):
   - ``sei_only``: the key picture alone, as an intra picture at the key QP;
   - ``per_picture``: the key picture followed by copies of it (near-free skip pictures), one
     access unit per output picture, low-delay at the key QP;
   - HDAC: the segment's own pictures, low-delay at the BL QP, its first picture (the key
     picture) at the key QP; the decoded BL pictures drive the generator;
2. the key picture's face parameters are analysed on the DECODED key picture, quantised and
   sent in its base GFV SEI (so the decoder runs no analysis network);
3. each generated picture's parameters are analysed on the original picture (optionally moved
   towards the original by the encoder's parameter search, gfvc.codec.prediction), written as a GFV
   message predicted from the previous message's reconstruction; the reconstruction (what the
   decoder parses) drives the synthesis, in batches of ``synthesis_batch`` targets, always
   padded to that size so that encoder and decoder run identical tensor shapes;
4. optionally, each picture outputs the generated picture or the reference warped along the
   model's dense motion field, whichever is closer to the original (gfvc_prediction_modes, sent
   in the key picture's access unit);
5. optionally, when the windowed PSNR of the generated pictures falls below the refresh
   threshold, the segment ends and the current picture becomes a new key picture.
The family-specific parts are the parameter coder (gfvc.coding.face_parameters) and the
synthesis side information (HDAC's drive pictures), nothing else.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..baselayer import get_backend
from ..bitstream import PREDICTION_MODE_GENERATED, EntropyCodedParameters, PictureHash, picture_md5
from ..errors import GfvcError
from .model_source import ModelKey, identity_of, load_model
from .pictures import KEY_FORMATS, from_base_layer, to_base_layer, to_model, to_uint8
from .prediction import choose_modes, modes_message, search_parameters, search_starts
from .residual import residual_coding
from .settings import GfvcSettings
from .stream import MessageWriter, PictureSei, StreamWriter, WrittenMessage, pack, rate_breakdown


class EncoderError(GfvcError):
    """The encoder cannot code the input as asked."""


@dataclass
class EncodedSequence:
    bitstream: bytes
    codec: str                              # 'hevc' or 'vvc'
    reconstruction: np.ndarray              # (N, H, W, 3) uint8, output order: what a decoder outputs
    key_pictures: List[int]                 # output indices of the key pictures
    rate: Dict[str, int]                    # rate breakdown, sums to len(bitstream)
    timings: Dict[str, float] = field(default_factory=dict)
    model: Optional[ModelKey] = None
    base_layer_commands: List[str] = field(default_factory=list)
    delay: int = 0                          # structural delay in pictures (multi-reference coding)
    decode_order: List[int] = field(default_factory=list)   # output indices in decoding order (when reordered)
    prediction_modes: List[int] = field(default_factory=list)  # pm_mode_idc of the generated pictures, coding order

    @property
    def md5_per_picture(self) -> List[str]:
        return [picture_md5([p]).hex() for p in self.reconstruction]


def lowdelay_structure(backend) -> str:
    return "lowdelay_P" if "lowdelay_P" in backend.structures else "lowdelay_B"


def analyse(model, family: str, pictures: torch.Tensor, reference: bool) -> Dict[str, torch.Tensor]:
    """Face parameters of pictures; FV2V's costly canonical keypoints only for references."""
    with torch.no_grad():
        if family == "fv2v":
            return model.analyse(pictures, canonical_keypoints=reference)
        return model.analyse(pictures)


def stack_params(params: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    return {k: torch.cat([p[k] for p in params], dim=0) for k in params[0]}


def synthesise(model, prepared, params: List[Dict[str, torch.Tensor]], batch: int,
               drive: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Generated pictures of ``len(params)`` targets, computed in calls of exactly ``batch``
    targets (the last one padded), the shapes the decoder uses too."""
    side: Dict[str, Any] = {} if drive is None else {"base_layer": drive}
    with torch.no_grad():
        return model.synthesise_prepared(prepared, stack_params(params), synthesis_batch=batch, **side)


def base_layer_backend(settings: GfvcSettings):
    """The base-layer codec of a GFVC codec's settings (the built-in ones take a preset and decoder)."""
    if settings.backend in ("x265", "vvenc"):
        opts = {} if settings.preset is None else {"preset": settings.preset}
        return get_backend(settings.backend, decoder=settings.base_decoder, **opts)
    return get_backend(settings.backend)


def code_base_layer(backend, pictures: np.ndarray, key_format: str, qp: int, structure: str, fps: float,
                    intra_qp: Optional[int] = None):
    """(base-layer encoding, decoded RGB pictures) of RGB ``pictures`` in the key-picture format."""
    enc = backend.encode(to_base_layer(pictures, key_format), qp, structure, fps, intra_qp=intra_qp)
    h, w = pictures.shape[1:3]
    dec = backend.decode(enc.bitstream, w, h, expected_frames=len(pictures))
    return enc, from_base_layer(dec.pictures, key_format)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


class GfvcEncoder:
    def __init__(self, settings: GfvcSettings, model=None, model_key: Optional[ModelKey] = None,
                 device: str = "cpu"):
        from ..coding.face_parameters import get_parameter_coder

        self.settings = settings
        if model is None:
            if not settings.model_config or not settings.checkpoint:
                raise EncoderError(f"{settings.family}: the codec needs model_config and checkpoint")
            model, model_key = load_model(settings.family, settings.model_config, settings.checkpoint, device)
        self.model, self.model_key = model, model_key
        kw = {} if settings.precision is None else {"precision": settings.precision}
        self.coder = get_parameter_coder(settings.family, **kw)
        self.backend = base_layer_backend(settings)
        self.residual = residual_coding(self.model, settings)

    # ------------------------------------------------------------------ base layer
    def _code_base(self, pictures: np.ndarray, qp: int, structure: str, fps: float,
                   intra_qp: Optional[int] = None):
        return code_base_layer(self.backend, pictures, self.settings.key_format, qp, structure, fps, intra_qp)

    # ------------------------------------------------------------------ one segment
    def _generate(self, frames: np.ndarray, k: int, end: int, key_rgb: np.ndarray,
                  drive_rgb: Optional[np.ndarray], writer: MessageWriter, allow_refresh: bool):
        """Messages and reconstructions of pictures k..end-1 (k = key picture); stops early on a
        refresh. Returns (messages, pictures, reconstructed parameters of the generated pictures,
        refresh_at or None, pm_mode_idc of the generated pictures)."""
        s = self.settings
        batch = s.synthesis_batch
        base_msg, prepared = self.key_message(writer, key_rgb)
        if self.residual is not None:
            self.residual.start_segment()
        messages: List[Any] = [base_msg]      # generated pictures with a residual: [GFV, residual]
        pictures: List[np.ndarray] = [key_rgb]
        recon_params: List[Dict[str, torch.Tensor]] = []
        modes: List[int] = []
        window: deque = deque(maxlen=s.refresh.window)
        t = k + 1
        # the search's starting points need the parameters detected on the key picture's original
        key_original = (analyse(self.model, s.family, to_model(frames[k:k + 1]), False)
                        if s.prediction.search_iterations else None)
        while t < end:
            stop = min(t + batch, end)
            targets = analyse(self.model, s.family, to_model(frames[t:stop]), False)
            if s.prediction.search_iterations:
                targets = search_parameters(self.model, [prepared], targets, to_model(frames[t:stop]),
                                            s.prediction.search_iterations, s.prediction.search_step,
                                            starts=search_starts(targets, [prepared.params], [key_original]))
            snapshots, written = [], []
            for i in range(stop - t):
                snapshots.append(writer.snapshot())
                one = {name: v[i:i + 1] for name, v in targets.items()}
                written.append(writer.write(self.coder.to_message(
                    one, gfv_id=s.gfv_id, gfv_cnt=t + i - k, base=False, predicted=True,
                    drive_picture_fusion=drive_rgb is not None)))
            params = [self.coder.from_message(m.reconstructed) for m in written]
            drive = None if drive_rgb is None else to_model(drive_rgb[t - k - 1:stop - k - 1])
            predictions = synthesise(self.model, prepared, params, batch, drive)
            batch_modes = [PREDICTION_MODE_GENERATED] * (stop - t)
            if "warped_reference" in s.prediction.modes:
                warped = self.model.warp_references_prepared([prepared], stack_params(params), synthesis_batch=batch)
                predictions, batch_modes = choose_modes(predictions, warped, frames[t:stop], s.prediction.modes,
                                                        s.output_rounding)
            if self.residual is None:
                out, residuals = to_uint8(predictions, s.output_rounding), [None] * (stop - t)
            else:
                out, residuals = self._code_residuals(writer, predictions, frames[t:stop], params, t - k)
            for i in range(stop - t):
                if allow_refresh and s.refresh.threshold > 0:
                    window.append(psnr(out[i], frames[t + i]))
                    if len(window) == window.maxlen and float(np.mean(window)) < s.refresh.threshold:
                        writer.restore(snapshots[i])
                        return messages, pictures, recon_params, t + i, modes
                messages.append(written[i] if residuals[i] is None else [written[i], residuals[i]])
                pictures.append(out[i])
                recon_params.append(params[i])
                modes.append(batch_modes[i])
            t = stop
        return messages, pictures, recon_params, None, modes

    def _code_residuals(self, writer: MessageWriter, predictions: torch.Tensor, originals: np.ndarray,
                        params: List[Dict[str, torch.Tensor]], first_cnt: int):
        """Output pictures and gfvc_residual messages (None when residual coding is off) of a batch
        of generated pictures, in order (gfv_cnt first_cnt, first_cnt + 1, ...)."""
        out, messages = [], []
        for i, original in enumerate(originals):
            picture, payload, _ = self.residual.encode_picture(predictions[i:i + 1], original, params[i],
                                                              self.settings.gfv_id, first_cnt + i)
            out.append(picture)
            messages.append(None if payload is None else writer.write(payload))
        return np.stack(out), messages

    # ------------------------------------------------------------------ the sequence
    def start_messages(self):
        """(MessageWriter, the model-identity message written first)."""
        s = self.settings
        writer = MessageWriter()
        return writer, writer.write(identity_of(self.model_key, s.gfv_id, s.output_rounding == "round",
                                                KEY_FORMATS[s.key_format][0], s.synthesis_batch))

    def code_key_picture(self, frame: np.ndarray, fps: float):
        """(base-layer encoding, decoded RGB (1, H, W, 3)) of one key picture: intra at the key QP."""
        s = self.settings
        return self._code_base(frame[None], s.key_qp, "intra", fps)

    def key_message(self, writer: MessageWriter, key_rgb: np.ndarray):
        """(base GFV message, PreparedReference) of a decoded key picture (H, W, 3): parameters
        analysed on the decoded picture, quantised; the reference prepared from the reconstruction."""
        s = self.settings
        ref = to_model(key_rgb[None])
        base_msg = writer.write(self.coder.to_message(analyse(self.model, s.family, ref, True), gfv_id=s.gfv_id,
                                                      gfv_cnt=0, base=True))
        ref_params = self.coder.from_message(base_msg.reconstructed)
        with torch.no_grad():
            prepared = self.model.prepare_reference(ref, ref_params)
        return base_msg, prepared

    def encode(self, frames: np.ndarray, fps: float = 25.0) -> EncodedSequence:
        s = self.settings
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
            raise EncoderError(f"expected (N, H, W, 3) uint8 RGB frames, got {frames.dtype} {frames.shape}")
        if s.is_multi_reference:
            from .multi_reference import encode_multi_reference

            return encode_multi_reference(self, frames, fps)
        n = len(frames)
        t_start = time.perf_counter()
        timings = {"base_layer": 0.0}
        writer, identity = self.start_messages()
        segments: List[tuple] = []            # (base stream, [PictureSei])
        recon: List[np.ndarray] = []
        keys: List[int] = []
        key_base_pictures: List[int] = []
        commands: List[str] = []
        base_pictures = 0
        all_modes: List[int] = []
        k = 0
        lowdelay = lowdelay_structure(self.backend)
        while k < n:
            end = n if s.key_period == 0 else min(n, (k // s.key_period + 1) * s.key_period)
            t0 = time.perf_counter()
            drive = None
            if s.is_hdac:
                enc, decoded = self._code_base(frames[k:end], s.bl_qp, lowdelay, fps, intra_qp=s.key_qp)
                drive = decoded[1:]
            elif s.carriage == "per_picture":
                enc, decoded = self._code_base(np.repeat(frames[k:k + 1], end - k, axis=0), s.key_qp, lowdelay, fps)
            else:
                enc, decoded = self.code_key_picture(frames[k], fps)
            timings["base_layer"] += time.perf_counter() - t0
            snapshot = writer.snapshot()
            while True:
                msgs, pics, params, refresh_at, modes = self._generate(frames, k, end, decoded[0], drive, writer,
                                                                       allow_refresh=not s.is_hdac)
                if refresh_at is None or s.carriage != "per_picture":
                    break
                # the segment is shorter than coded: code it again with its real length, and
                # generate again if its key picture does not decode identically
                t0 = time.perf_counter()
                enc, decoded2 = self._code_base(np.repeat(frames[k:k + 1], refresh_at - k, axis=0), s.key_qp,
                                                lowdelay, fps)
                timings["base_layer"] += time.perf_counter() - t0
                end = refresh_at
                if np.array_equal(decoded2[0], decoded[0]):
                    break
                decoded = decoded2
                writer.restore(snapshot)
            if refresh_at is not None:
                end = refresh_at
            if s.parameter_payload == "entropy_coded" and len(msgs) > 1:
                residuals = [m[1] for m in msgs[1:] if isinstance(m, list)]
                msgs = self._entropy_coded_run(writer, snapshot, msgs[0], params) + residuals
            msgs = self._with_prediction_modes(writer, msgs, modes)
            all_modes.extend(modes)
            commands.append(enc.command)
            keys.append(len(recon))
            key_base_pictures.append(base_pictures)
            if s.carriage == "per_picture":
                sei = [PictureSei(suffix=[m if isinstance(m, list) else [m]]) for m in msgs]
            else:
                sei = [PictureSei(suffix=pack(msgs, s.messages_per_nal))]
            if s.picture_hash == "picture":
                self._add_picture_hashes(writer, sei, pics, len(recon), s.carriage)
            base_pictures += len(sei)
            segments.append((enc.bitstream, sei))
            recon.extend(pics)
            k = end
        bitstream, rate = self.finish_stream(writer, identity, segments, recon, key_base_pictures)
        timings["total"] = time.perf_counter() - t_start
        return EncodedSequence(bitstream, self.backend.codec, np.stack(recon), keys, rate, timings,
                               self.model_key, commands, prediction_modes=all_modes)

    def _with_prediction_modes(self, writer: MessageWriter, msgs: List[Any], modes: List[int]) -> List[Any]:
        """The segment's messages with its gfvc_prediction_modes message (when a picture is not
        generated) beside the base GFV message, in the key picture's access unit: the decoder knows
        every picture's mode before it synthesises any of them."""
        pm = modes_message(self.settings.gfv_id, modes)
        if pm is None:
            return msgs
        written = writer.write(pm)
        return [[msgs[0], written]] + msgs[1:]

    def finish_stream(self, writer: MessageWriter, identity: WrittenMessage, segments: List[tuple],
                      recon: List[np.ndarray], key_base_pictures: List[int]):
        """(bitstream, rate breakdown) of the segments [(base stream, [PictureSei])], with the model
        identity and (``picture_hash`` sequence) the hash of ``recon`` (output order) in the first AU."""
        s = self.settings
        if s.picture_hash == "sequence":
            # at the very start of the stream, beside the model identity: a stream cut short
            # anywhere after it still says how many output pictures it must yield
            h = writer.write(PictureHash(0, len(recon) - 1, 0, picture_md5(recon)))
            segments[0][1][0].prefix.insert(0, [identity, h])
        else:
            segments[0][1][0].prefix.insert(0, [identity])
        stream = StreamWriter(self.backend.codec)
        for base, sei in segments:
            stream.add_segment(base, sei)
        bitstream = stream.getvalue()
        return bitstream, rate_breakdown(bitstream, self.backend.codec, key_base_pictures)

    def _entropy_coded_run(self, writer: MessageWriter, before_segment, base_msg: WrittenMessage,
                           params: List[Dict[str, torch.Tensor]]) -> List[WrittenMessage]:
        """The segment's generated pictures as one gfvc_entropy_coded_parameters payload instead of
        one GFV message each. Same quantisation and prediction, so the same reconstruction (checked)."""
        s = self.settings
        writer.restore(before_segment)
        base = writer.write(self.coder.to_message(self.coder.from_message(base_msg.reconstructed), gfv_id=s.gfv_id,
                                                  gfv_cnt=0, base=True))
        run = self.write_parameter_run(writer, params)
        for want, got in zip(params, run.reconstructed.pictures):
            have = self.coder.from_message(got)
            if any(not torch.equal(want[k], have[k]) for k in want):
                raise EncoderError("the entropy-coded parameters do not reconstruct like the GFV messages")
        return [base, run]

    def write_parameter_run(self, writer: MessageWriter, params: List[Dict[str, torch.Tensor]]) -> WrittenMessage:
        """One gfvc_entropy_coded_parameters message for the generated pictures gfv_cnt 1, 2, ... of
        the key picture whose base message was written last: the same quantisation and prediction as
        their GFV messages would have (doc/sei_payloads.md section 5), fewer bits."""
        s = self.settings
        pictures = [self.coder.to_message(p, gfv_id=s.gfv_id, gfv_cnt=i + 1, base=False, predicted=False,
                                          drive_picture_fusion=False) for i, p in enumerate(params)]
        return writer.write(EntropyCodedParameters(ecp_gfv_id=s.gfv_id, ecp_first_gfv_cnt=1, pictures=pictures))

    @staticmethod
    def _add_picture_hashes(writer: MessageWriter, sei: List[PictureSei], pics: List[np.ndarray],
                            first_output: int, carriage: str) -> None:
        # written after the segment's GFV messages: hashes carry no prediction state, so their
        # place in the stream does not change any other message
        hashes = [writer.write(PictureHash(first_output + i, 0, 0, picture_md5([p]))) for i, p in enumerate(pics)]
        if carriage == "per_picture":
            for pic_sei, h in zip(sei, hashes):
                pic_sei.suffix[-1].append(h)
        else:
            sei[0].suffix.append(hashes)
