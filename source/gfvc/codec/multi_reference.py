"""Multi-reference coding (MRDAC): the encoder and decoder paths of streams with a reference buffer.

The encoder follows a reference plan (gfvc.codec.reference_buffer) and reuses the pieces of the
single-reference loop (gfvc.codec.encoder): key pictures coded intra at the key QP by the real
base-layer encoder and decoded by the real decoder, their parameters analysed on the DECODED
picture and sent in a base GFV message, generated pictures' parameters predicted through one
message writer, the stream assembled by the same stream writer. Per access unit (one key
picture, in decoding order) the suffix SEI holds, in this order: the key picture's base GFV
message, one gfvc_reference_selection message (insertion of the key picture with its display
position, evictions, and for each generated picture of the unit its refIds and quantised
aggregation weights), then one GFV message per generated picture (gfv_cnt 1, 2, ...).

The decoder follows those messages only: it keeps the buffer {refId: prepared reference}
(features and keypoints computed once, when the reference is inserted), rejects an eviction or
a reference that is not in the buffer (:class:`ReferenceBufferError`), synthesises each
generated picture from the listed references with the weights exactly as reconstructed, and
outputs the pictures in display order: each inserted key picture's display index is the
previous one's plus rs_insert_display_delta; the generated pictures take the remaining display
indices in decoding order (doc/codec.md, Multi-reference coding).
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..bitstream import (PREDICTION_MODE_GENERATED, GeneratedPictureReferences,
                         PictureHash, PredictionModes, ReferenceSelection, picture_md5)
from .decoder import (DecodedSequence, DecoderError, GfvcDecoder, OpenedStream, check_gfv_message, gfv_messages,
                      record_prediction_modes, unused_modes_error)
from .encoder import EncodedSequence, GfvcEncoder, analyse, stack_params
from .pictures import to_model, to_uint8
from .prediction import choose_modes, decoded_predictions, modes_message, search_parameters, search_starts
from .reference_buffer import make_plan, pose_keys, structural_delay, uniform_keys
from .stream import PictureSei, pack, rate_breakdown


class ReferenceBufferError(DecoderError):
    """A reference-selection message evicts or uses a reference that is not in the buffer."""


def temporal_weights(ref_display: Sequence[int], target: int) -> List[float]:
    """The model's aggregation weights (MrdacGenerator.compute_ref_weights, d_max = 0 guarded)."""
    from ..models.mrdac import MrdacGenerator

    idx = torch.tensor([list(ref_display) + [target]], dtype=torch.float64)
    return [float(w) for w in MrdacGenerator.compute_ref_weights(idx)[0]]


def reference_groups(ref_ids: List[List[int]]):
    """(first, end) of each run of consecutive pictures with the same reference list."""
    i = 0
    while i < len(ref_ids):
        j = i
        while j < len(ref_ids) and ref_ids[j] == ref_ids[i]:
            j += 1
        yield i, j
        i = j


def synthesise_generated(model, buffer: Dict[int, object], ref_ids: List[List[int]], weights: List[List[float]],
                         params: List[Dict[str, torch.Tensor]], batch: int, rounding: str,
                         modes: Optional[List[int]] = None, originals: Optional[np.ndarray] = None,
                         allowed: Sequence[str] = ("generated",)) -> Tuple[List[np.ndarray], List[int]]:
    """(8-bit output pictures, pm_mode_idc) of one access unit's generated pictures. Consecutive
    pictures with the same reference list are synthesised together in calls of exactly ``batch``
    targets (the last padded), the same grouping in encoder and decoder. The decoder gives the
    stream's ``modes`` (None: all generated); the encoder gives the ``originals`` and the
    ``allowed`` prediction modes, and the modes are chosen (gfvc.codec.prediction)."""
    out: List[np.ndarray] = []
    chosen: List[int] = []
    for i, j in reference_groups(ref_ids):
        refs = [buffer[r] for r in ref_ids[i]]
        w = torch.tensor(weights[i:j], dtype=torch.float32)
        targets = stack_params(params[i:j])
        def generate():
            with torch.no_grad():
                return model.synthesise_multi(refs, targets, w, synthesis_batch=batch)

        def warp():
            return model.warp_references_prepared(refs, targets, w, synthesis_batch=batch)

        if originals is not None and "warped_reference" in allowed:
            pics, group_modes = choose_modes(generate(), warp(), originals[i:j], allowed, rounding)
        else:
            group_modes = [PREDICTION_MODE_GENERATED] * (j - i) if modes is None else list(modes[i:j])
            pics = decoded_predictions(group_modes, generate, warp)
        out.extend(to_uint8(pics, rounding))
        chosen.extend(group_modes)
    return out, chosen


def selection_message(message: ReferenceSelection) -> ReferenceSelection:
    """The reference-selection message as it is written (a seam for tests that craft bad streams)."""
    return message


def key_positions(enc: GfvcEncoder, frames: np.ndarray) -> List[int]:
    r = enc.settings.reference
    if r.selection == "uniform":
        return uniform_keys(len(frames), r.interval)
    kps = []
    for lo in range(0, len(frames), enc.settings.synthesis_batch):
        values = analyse(enc.model, enc.settings.family, to_model(frames[lo:lo + enc.settings.synthesis_batch]),
                         False)["value"]
        kps.extend(v.numpy() for v in values)
    return pose_keys(kps, r.interval)


def encode_multi_reference(enc: GfvcEncoder, frames: np.ndarray, fps: float) -> EncodedSequence:
    s, r = enc.settings, enc.settings.reference
    n = len(frames)
    batch = s.synthesis_batch
    t_start = time.perf_counter()
    timings = {"base_layer": 0.0}
    plan = make_plan(n, key_positions(enc, frames), r)
    writer, identity = enc.start_messages()
    buffer: Dict[int, object] = {}           # refId -> PreparedReference, as the decoder keeps it
    recon: List[np.ndarray] = [None] * n     # display order
    segments, key_base_pictures, commands = [], [], []
    previous_key = 0
    all_modes: List[int] = []
    key_originals: Dict[int, Dict[str, torch.Tensor]] = {}   # refId -> parameters detected on its original
    for unit_index, unit in enumerate(plan.units):
        t0 = time.perf_counter()
        base, decoded = enc.code_key_picture(frames[unit.key], fps)
        timings["base_layer"] += time.perf_counter() - t0
        commands.append(base.command)
        key_rgb = decoded[0]
        recon[unit.key] = key_rgb
        base_msg, buffer[unit.ref_id] = enc.key_message(writer, key_rgb)
        if s.prediction.search_iterations:     # the search's starting points (prediction.search_starts)
            key_originals[unit.ref_id] = analyse(enc.model, s.family, to_model(frames[unit.key:unit.key + 1]), False)
        for rid in unit.evict_ids:
            del buffer[rid]
            key_originals.pop(rid, None)
        generated = [GeneratedPictureReferences(i + 1, r.weight_log2_denom, [plan.ref_ids[k] for k in g.refs],
                                                temporal_weights(g.refs, g.display))
                     for i, g in enumerate(unit.generated)]
        rs = writer.write(selection_message(ReferenceSelection(
            s.gfv_id, unit.ref_id, list(unit.evict_ids), generated, unit.key - previous_key)))
        previous_key = unit.key
        described = rs.reconstructed.rs_generated_pictures
        written = []
        order = [g.display for g in unit.generated]
        unit_refs = [[plan.ref_ids[k] for k in g.refs] for g in unit.generated]
        unit_weights = [g.rs_weight for g in described]   # the weights as a decoder reconstructs them
        targets = []
        for lo in range(0, len(order), batch):
            found = analyse(enc.model, s.family, to_model(frames[order[lo:lo + batch]]), False)
            targets.extend({name: v[i:i + 1] for name, v in found.items()} for i in range(len(order[lo:lo + batch])))
        if s.prediction.search_iterations:
            targets = search_unit(enc, buffer, key_originals, unit_refs, unit_weights, targets, frames[order])
        if s.parameter_payload == "entropy_coded" and targets:
            run = enc.write_parameter_run(writer, targets)
            written = [run]
            params = [enc.coder.from_message(m) for m in run.reconstructed.pictures]
        else:
            for one in targets:
                written.append(writer.write(enc.coder.to_message(one, gfv_id=s.gfv_id, gfv_cnt=len(written) + 1,
                                                                 base=False, predicted=True)))
            params = [enc.coder.from_message(m.reconstructed) for m in written]
        pictures, modes = synthesise_generated(enc.model, buffer, unit_refs, unit_weights, params, batch,
                                               s.output_rounding, originals=frames[order],
                                               allowed=s.prediction.modes)
        for t, pic in zip(order, pictures):
            recon[t] = pic
        all_modes.extend(modes)
        pm = modes_message(s.gfv_id, modes)
        selection = [rs] if pm is None else [[rs, writer.write(pm)]]
        suffix = pack([base_msg] + selection + written, s.messages_per_nal)
        if s.picture_hash == "picture":
            suffix.append([writer.write(PictureHash(t, 0, 0, picture_md5([recon[t]]))) for t in [unit.key] + order])
        segments.append((base.bitstream, [PictureSei(suffix=suffix)]))
        key_base_pictures.append(unit_index)
    bitstream, rate = enc.finish_stream(writer, identity, segments, recon, key_base_pictures)
    timings["total"] = time.perf_counter() - t_start
    return EncodedSequence(bitstream, enc.backend.codec, np.stack(recon), list(plan.keys), rate, timings,
                           enc.model_key, commands, plan.delay, plan.decode_order, all_modes)


def search_unit(enc: GfvcEncoder, buffer: Dict[int, object], key_originals: Dict[int, Dict[str, torch.Tensor]],
                ref_ids: List[List[int]], weights: List[List[float]], targets: List[Dict[str, torch.Tensor]],
                originals: np.ndarray) -> List[Dict[str, torch.Tensor]]:
    """The encoder's parameter search (gfvc.codec.prediction) for an access unit's generated
    pictures, each against its own references and weights, ``synthesis_batch`` pictures at a time;
    ``key_originals``: per refId the parameters detected on the reference's original picture."""
    s = enc.settings
    out: List[Dict[str, torch.Tensor]] = []
    for i, j in reference_groups(ref_ids):
        refs = [buffer[r] for r in ref_ids[i]]
        for lo in range(i, j, s.synthesis_batch):
            hi = min(j, lo + s.synthesis_batch)
            detected = stack_params(targets[lo:hi])
            ref_weights = torch.tensor(weights[lo:hi], dtype=torch.float32)
            starts = search_starts(detected, [p.params for p in refs], [key_originals[r] for r in ref_ids[i]],
                                   ref_weights)
            found = search_parameters(enc.model, refs, detected, to_model(originals[lo:hi]),
                                      s.prediction.search_iterations, s.prediction.search_step, ref_weights, starts)
            out.extend({name: v[k:k + 1] for name, v in found.items()} for k in range(hi - lo))
    return out


def decode_multi_reference(dec: GfvcDecoder, opened: OpenedStream, t_start: float) -> DecodedSequence:
    parsed, identity, model, coder = opened.parsed, opened.identity, opened.model, opened.coder
    if not hasattr(model, "synthesise_multi"):
        raise DecoderError(f"the stream has reference-selection messages, but {identity.mi_codec_family} is a "
                           "single-reference model")
    # the encoder's batch, from the stream (an explicit one only for experiments)
    batch = dec.synthesis_batch or identity.mi_synthesis_batch_minus1 + 1
    buffer: Dict[int, object] = {}
    decoded: List[np.ndarray] = []           # decoding order
    key_display: Dict[int, int] = {}         # decoding position -> display index
    hashes: List[PictureHash] = []
    last_display = None
    for pic in parsed.pictures:
        hashes.extend(m.payload for m in pic.messages if isinstance(m.payload, PictureHash))
        gfv = gfv_messages(pic)
        for offset, msg in gfv:
            check_gfv_message(offset, msg, gfv, pic, identity)
        rss = [m for m in pic.messages if isinstance(m.payload, ReferenceSelection)
               and m.payload.rs_gfv_id == identity.mi_gfv_id]
        if len(rss) != 1:
            raise DecoderError(f"access unit {pic.index} has {len(rss)} reference-selection messages for gfv_id "
                               f"{identity.mi_gfv_id}: a multi-reference stream has exactly one per access unit")
        where, rs = rss[0].offset, rss[0].payload
        base = gfv[0][1] if gfv and gfv[0][1].gfv_base_picture_flag else None
        if base is None or rs.rs_insert_ref_id is None:
            raise DecoderError(f"access unit {pic.index}: a multi-reference access unit codes a key picture with a "
                               "base GFV message that its reference-selection message inserts")
        display = rs.rs_insert_display_delta + (0 if last_display is None else last_display)
        if last_display is not None and rs.rs_insert_display_delta == 0:
            raise DecoderError(f"reference-selection message at byte {where}: rs_insert_display_delta 0 repeats "
                               f"display index {display}")
        last_display = display
        key = opened.base_rgb[pic.index]
        key_display[len(decoded)] = display
        decoded.append(key)
        with torch.no_grad():
            buffer[rs.rs_insert_ref_id] = model.prepare_reference(to_model(key[None]), coder.from_message(base))
        for rid in rs.rs_evict_ref_id:
            if rid not in buffer:
                raise ReferenceBufferError(f"reference-selection message at byte {where} evicts refId {rid}, which "
                                           f"is not in the reference buffer (it holds {sorted(buffer)})")
            del buffer[rid]
        gens = [msg for _, msg in gfv if msg is not base]
        counts = [m.gfv_cnt for m in gens]
        if counts != list(range(1, len(gens) + 1)):
            raise DecoderError(f"access unit {pic.index}: generated pictures' gfv_cnt {counts} do not count up from 1 "
                               "(a message is missing or repeated)")
        listed = [g.rs_gfv_cnt for g in rs.rs_generated_pictures]
        if listed != counts:
            raise DecoderError(f"reference-selection message at byte {where} describes generated pictures with "
                               f"gfv_cnt {listed}, its access unit has GFV messages with gfv_cnt {counts}")
        for g in rs.rs_generated_pictures:
            for rid in g.rs_ref_id:
                if rid not in buffer:
                    raise ReferenceBufferError(f"reference-selection message at byte {where}: generated picture "
                                               f"gfv_cnt {g.rs_gfv_cnt} uses refId {rid}, which is not in the "
                                               f"reference buffer (it holds {sorted(buffer)})")
        modes: Dict[int, int] = {}
        for m in pic.messages:
            if isinstance(m.payload, PredictionModes):
                record_prediction_modes(model, identity, m.offset, m.payload, modes)
        unit_modes = [modes.pop(cnt, PREDICTION_MODE_GENERATED) for cnt in counts]
        if modes:
            raise unused_modes_error(modes)
        params = [coder.from_message(m) for m in gens]
        pictures, _ = synthesise_generated(model, buffer, [g.rs_ref_id for g in rs.rs_generated_pictures],
                                           [g.rs_weight for g in rs.rs_generated_pictures], params,
                                           batch, opened.rounding, modes=unit_modes)
        decoded.extend(pictures)
    n = len(decoded)
    beyond = [d for d in key_display.values() if d >= n]
    if beyond:
        raise DecoderError(f"key picture display index {beyond[0]} is beyond the {n} pictures of the stream "
                           "(the stream is truncated or inconsistent)")
    free = iter(sorted(set(range(n)) - set(key_display.values())))
    order = [key_display[p] if p in key_display else next(free) for p in range(n)]
    pictures = np.empty((n,) + decoded[0].shape, dtype=np.uint8)
    for p, d in enumerate(order):
        pictures[d] = decoded[p]
    checked = GfvcDecoder._check_hashes(hashes, pictures)
    rate = rate_breakdown(opened.bitstream, opened.codec, [p.index for p in parsed.pictures], parsed)
    timings = {"base_layer": opened.t_base, "total": time.perf_counter() - t_start}
    return DecodedSequence(pictures, sorted(key_display.values()), rate, checked, timings, dec._model_key,
                           opened.codec, structural_delay(order), order)
