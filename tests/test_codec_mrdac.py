"""Multi-reference coding (MRDAC) end to end: every reference-buffer strategy codes 32 pictures of a
built-in clip (64x64, tiny fixture checkpoint); gfvc-decode in another process reproduces the
encoder's MD5s picture by picture in display order; the reference-selection messages that
gfvc-seidump lists are exactly the buffer operations, reference lists and weights that the
strategy's definition gives (derived here independently, from the definitions in doc/codec.md);
buffer limits and bidir's delay hold; the decoder rejects evictions and references that are not in
the buffer with a named error; the CTC codec ``mrdac`` takes (key QP, interval) rate points;
``dac`` accepts the ``single`` strategy only.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from test_codec_gfvc import _env, assert_decodes_like_the_encoder, decode_cli, encode, md5_lines, seidump

REPO = Path(__file__).resolve().parent.parent
FRAMES = 32
SMALL = 64
CLIP = "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb"
INTERVAL, DELAY, BUFFER, FUTURE = 8, 3, 3, 1
DELAY_LINE = re.compile(r"^Structural delay: (\d+) pictures \(([0-9.]+) s at 25 fps\)$", re.M)


def model_files(fixtures_root: Path):
    case = fixtures_root / "MRDAC" / "tiny"
    return case / "model_params.yaml", case / "checkpoint.pth.tar"


def codec_yaml(tmp: Path, fixtures_root: Path, **reference) -> Path:
    config, ckpt = model_files(fixtures_root)
    ref = {"interval": INTERVAL, "max_delay": DELAY, "max_buffer": BUFFER, "num_future": FUTURE, **reference}
    opts = {"model_config": str(config), "checkpoint": str(ckpt), "backend": "x265", "key_qp": 37, "reference": ref}
    path = tmp / "mrdac.yaml"
    path.write_text(yaml.safe_dump({"codec": "mrdac", "options": opts}))
    return path


@pytest.fixture(scope="module")
def frames32(builtin_dir) -> np.ndarray:
    """The first 32 pictures of a built-in clip at 64x64, for the tiny model."""
    from gfvc.io import read_rgb
    from gfvc.io.resample import resize_frames

    return resize_frames(read_rgb(builtin_dir / CLIP, 256, 256, FRAMES), SMALL, SMALL)


@pytest.fixture(scope="module")
def clip32(tmp_path_factory, frames32) -> Path:
    """frames32 as a JVET-named file, for the apps."""
    from gfvc.io import write_rgb

    path = tmp_path_factory.mktemp("clip32") / f"BUILTIN_FRANCK_001_{SMALL}x{SMALL}_25_8bit_444.rgb"
    write_rgb(path, frames32)
    return path


def selection_messages(stream: Path):
    """The gfvc_reference_selection messages of gfvc-seidump --json, in stream order."""
    out = []
    for m in seidump(stream):
        if m.get("name") == "gfvc_reference_selection":
            e = m["elements"]
            gens = []
            for g in range(e["rs_num_generated_pictures"]):
                r = e[f"rs_num_refs_minus1[{g}]"] + 1
                denom = e[f"rs_weight_log2_denom[{g}]"]
                gens.append((e[f"rs_gfv_cnt[{g}]"], [e[f"rs_ref_id[{g}][{i}]"] for i in range(r)],
                             [e[f"rs_weight[{g}][{i}]"] / 2 ** denom for i in range(r)]))
            out.append({"insert": e["rs_insert_ref_id"] if e["rs_insert_flag"] else None,
                        "delta": e.get("rs_insert_display_delta"),
                        "evict": [e[f"rs_evict_ref_id[{i}]"] for i in range(e["rs_num_evictions"])],
                        "generated": gens})
    return out


# -- the strategies' definitions, written out independently of gfvc.codec.reference_buffer ------
def expected_schedule(strategy: str, n: int, interval: int, buffer: int, delay: int, future: int):
    """[(key display index, [(generated display index, [reference display indices])])] in decoding
    order, and the buffer (set of display indices) after each key picture, for eviction 'oldest'."""
    keys = list(range(0, n, interval))

    def future_of(t):
        later = [k for k in keys if k > t]
        if strategy in ("rp", "rp+rrb"):
            return later[:future]
        if strategy == "bidir":
            return later[:1] if later and later[0] - t <= delay else []
        return []

    units, buffers, decoded = [], [], []

    def decode(k, trigger):
        decoded.append(k)
        units.append((k, []))
        latest = max(x for x in keys if x <= trigger)
        if strategy == "single":
            buffers.append({k})
        elif strategy == "rp":
            buffers.append({x for x in decoded if x >= latest})
        else:                                     # accumulate, keep the newest `buffer`
            buffers.append(set(decoded[-buffer:]))

    for t in range(n):
        if t in keys:
            if t not in decoded:
                decode(t, t)
            continue
        for k in keys:
            if k <= max([t] + future_of(t)) and k not in decoded:
                decode(k, t)
        latest = max(x for x in keys if x <= t)
        if strategy in ("single", "rp"):
            refs = [latest] + future_of(t)
        else:
            refs = sorted(buffers[-1])
        units[-1][1].append((t, refs))
    return units, buffers


def temporal_weights(refs, t):
    d = [abs(r - t) for r in refs]
    if max(d) == 0:
        return [1.0] * len(refs)
    w = [(1 - x / max(d)) + 0.5 for x in d]
    return [x / max(w) for x in w]


def replay(messages, n):
    """Follow the messages as a decoder does: display indices of key pictures, the buffer after
    each message (refId -> display index), and each generated picture's references (display
    indices) and weights, in decoding order."""
    buffer, keys, gens, buffers, evicted = {}, [], [], [], []
    display = 0
    for msg in messages:
        display += msg["delta"]
        keys.append(display)
        buffer[msg["insert"]] = display
        evicted.append([buffer.pop(rid) for rid in msg["evict"]])
        buffers.append(dict(buffer))
        gens.append([(cnt, [buffer[r] for r in refs], weights) for cnt, refs, weights in msg["generated"]])
    free = [d for d in range(n) if d not in keys]
    out, i = [], 0
    for k, unit in zip(keys, gens):
        listed = []
        for cnt, refs, weights in unit:
            listed.append((free[i], refs, weights))
            i += 1
        out.append((k, listed))
    return out, buffers, evicted


def max_wait(decode_order):
    seen, out, wait, avail = -1, -1, 0, {}
    for d in decode_order:
        seen = max(seen, d)
        avail[d] = seen
    for i in range(len(decode_order)):
        out = max(out, avail[i])
        wait = max(wait, out - i)
    return wait


STRATEGIES = ["single", "rrb", "rp", "rp+rrb", "bidir"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_round_trip_and_signalled_plan(tmp_path, fixtures_root, clip32, strategy):
    cfg = codec_yaml(tmp_path, fixtures_root, strategy=strategy)
    stream, recon, enc_out = encode(tmp_path, cfg, clip32, FRAMES)
    enc_md5 = md5_lines(enc_out)
    assert [i for i, _, _ in enc_md5] == list(range(FRAMES))          # display order
    config, ckpt = model_files(fixtures_root)
    dec = assert_decodes_like_the_encoder(tmp_path, stream, recon, enc_md5, config, ckpt, FRAMES)

    units, buffers = expected_schedule(strategy, FRAMES, INTERVAL, BUFFER, DELAY, FUTURE)
    messages = selection_messages(stream)
    got, got_buffers, evicted = replay(messages, FRAMES)
    # key pictures in decoding order with their display positions, and every reference list
    assert [(k, [(t, refs) for t, refs, _ in g]) for k, g in got] == units
    assert [i for i, kind, _ in enc_md5 if kind == "key"] == [k for k, _ in units]
    # buffer operations: one insertion per key picture, evictions exactly what the definition removes
    assert all(m["insert"] is not None for m in messages)
    assert [set(b.values()) for b in got_buffers] == buffers
    before = set()
    for (k, _), after, gone in zip(units, buffers, evicted):
        assert sorted(gone) == sorted((before | {k}) - after)
        before = after
    # weights: the model's temporal weights, quantised to 1/64
    for _, unit in got:
        for t, refs, weights in unit:
            exp = temporal_weights(refs, t)
            assert all(abs(a - b) <= 1 / 128 + 1e-9 for a, b in zip(weights, exp)), (t, refs, weights, exp)
    # structural delay: what the decoder reports is the longest wait in this decoding order
    order = [x for k, g in got for x in [k] + [t for t, _, _ in g]]
    waits = {"single": 0, "rrb": 0, "rp": INTERVAL - 1, "rp+rrb": INTERVAL - 1, "bidir": DELAY}
    assert max_wait(order) == waits[strategy]
    reported = DELAY_LINE.search(dec.stdout)
    assert reported and int(reported.group(1)) == waits[strategy], dec.stdout
    assert float(reported.group(2)) == pytest.approx(waits[strategy] / 25, abs=1e-3)
    assert DELAY_LINE.search(enc_out).group(1) == reported.group(1)


def _code_in_process(fixtures_root, frames, **reference):
    from gfvc.codec.encoder import GfvcEncoder
    from gfvc.codec.face_codecs import codec_settings

    config, ckpt = model_files(fixtures_root)
    ref = {"interval": INTERVAL, "max_delay": DELAY, "max_buffer": BUFFER, "num_future": FUTURE, **reference}
    settings = codec_settings("mrdac", {"model_config": str(config), "checkpoint": str(ckpt), "backend": "x265",
                                        "key_qp": 37, "reference": ref})
    return GfvcEncoder(settings).encode(frames)


def _decoder(fixtures_root):
    from gfvc.codec.decoder import GfvcDecoder

    config, ckpt = model_files(fixtures_root)
    return GfvcDecoder(str(config), str(ckpt))


@pytest.mark.parametrize("strategy,eviction", [("rrb", "oldest"), ("rrb", "least_used"), ("rp+rrb", "least_used"),
                                               ("bidir", "oldest")])
def test_max_buffer_2_never_lists_more_than_2_references(tmp_path, fixtures_root, frames32, strategy, eviction):
    enc = _code_in_process(fixtures_root, frames32, strategy=strategy, eviction=eviction, max_buffer=2, interval=4)
    stream = tmp_path / "b2.bin"
    stream.write_bytes(enc.bitstream)
    messages = selection_messages(stream)
    got, buffers, _ = replay(messages, FRAMES)
    assert len(messages) == FRAMES // 4
    assert max(len(b) for b in buffers) == 2
    assert max(len(refs) for _, g in got for _, refs, _ in g) == 2
    assert all(len(refs) <= 2 for _, g in got for _, refs, _ in g)
    dec = _decoder(fixtures_root).decode(enc.bitstream)
    assert dec.md5_per_picture == enc.md5_per_picture


def test_least_used_eviction_keeps_the_most_used_reference(tmp_path, fixtures_root, frames32):
    # rrb, buffer 2: when picture 8 arrives, 0 served pictures 1..7 and 4 served 5..7: 4 goes
    enc = _code_in_process(fixtures_root, frames32[:12], strategy="rrb", eviction="least_used", max_buffer=2,
                           interval=4)
    stream = tmp_path / "lu.bin"
    stream.write_bytes(enc.bitstream)
    got, buffers, evicted = replay(selection_messages(stream), 12)
    assert evicted == [[], [], [4]]
    assert [sorted(b.values()) for b in buffers] == [[0], [0, 4], [0, 8]]


@pytest.mark.parametrize("bad", ["evict_missing", "unknown_ref"])
def test_decoder_rejects_references_not_in_the_buffer(tmp_path, fixtures_root, frames32, monkeypatch, bad):
    from gfvc.codec import multi_reference
    from gfvc.codec.multi_reference import ReferenceBufferError

    calls = []

    def craft(message):
        calls.append(message)
        if len(calls) == 2:               # the second access unit
            if bad == "evict_missing":
                message.rs_evict_ref_id = message.rs_evict_ref_id + [7]
            else:
                message.rs_generated_pictures[0].rs_ref_id[0] = 9
        return message

    monkeypatch.setattr(multi_reference, "selection_message", craft)
    enc = _code_in_process(fixtures_root, frames32[:16], strategy="rrb")
    monkeypatch.undo()
    with pytest.raises(ReferenceBufferError, match=r"evicts refId 7, which is not in the reference buffer"
                       if bad == "evict_missing" else r"uses refId 9, which is not in the reference buffer"):
        _decoder(fixtures_root).decode(enc.bitstream)
    stream = tmp_path / "bad.bin"
    stream.write_bytes(enc.bitstream)
    config, ckpt = model_files(fixtures_root)
    out = tmp_path / "bad.rgb"
    dec = decode_cli("-b", str(stream), "-o", str(out), "--checkpoint", str(ckpt), "--model-config", str(config))
    assert dec.returncode == 2 and "Traceback" not in dec.stderr
    lines = dec.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(r"refId (7|9), which is not in the reference buffer", lines[0]), lines
    assert not out.exists()


@pytest.mark.parametrize("interval", [4, 8, 10])
def test_bidir_never_waits_more_than_max_delay(interval):
    from gfvc.codec.reference_buffer import ReferenceSettings, make_plan, uniform_keys

    for d in range(0, 12):
        plan = make_plan(40, uniform_keys(40, interval), ReferenceSettings("bidir", max_buffer=3, interval=interval,
                                                                           max_delay=d))
        order = plan.decode_order
        # each generated picture waits for the largest display index decoded up to it
        for pos, t in enumerate(order):
            assert max(order[:pos + 1]) - t <= d
        assert plan.delay == max_wait(order) == min(d, interval - 1)
        for u in plan.units:
            for g in u.generated:
                assert all(r <= g.display or r - g.display <= d for r in g.refs)


def test_bidir_decoder_reports_its_delay(fixtures_root, frames32):
    enc = _code_in_process(fixtures_root, frames32[:20], strategy="bidir", max_delay=2, interval=5)
    dec = _decoder(fixtures_root).decode(enc.bitstream)
    assert dec.md5_per_picture == enc.md5_per_picture
    assert dec.delay == enc.delay == max_wait(dec.decode_order) == 2
    assert dec.decode_order[:5] == [0, 1, 2, 5, 3]


def test_dac_accepts_the_single_strategy_only(tmp_path, fixtures_root, clip32):
    from gfvc.codec.face_codecs import codec_settings
    from gfvc.codec.settings import CodecSettingsError

    assert codec_settings("dac", {"reference": {"strategy": "single"}}).reference.strategy == "single"
    with pytest.raises(CodecSettingsError, match=r"dac is a single-reference model: reference.strategy must be "
                                                 r"'single' \(got 'rrb'"):
        codec_settings("dac", {"reference": {"strategy": "rrb"}})
    with pytest.raises(CodecSettingsError, match=r"max_buffer 1 is too small for rp\+rrb: it needs 3"):
        codec_settings("mrdac", {"reference": {"strategy": "rp+rrb", "num_future": 2, "max_buffer": 1}})
    case = fixtures_root / "DAC" / "tiny"
    cfg = tmp_path / "dac.yaml"
    cfg.write_text(yaml.safe_dump({"codec": "dac", "options": {"model_config": str(case / "model_params.yaml"),
                                                               "checkpoint": str(case / "checkpoint.pth.tar"),
                                                               "backend": "x265"}}))
    run = subprocess.run([sys.executable, "-c", "import sys; from gfvc.codec.apps import encode_main; "
                          "sys.exit(encode_main(sys.argv[1:]))", "-c", str(cfg), "-i", str(clip32), "-b",
                          str(tmp_path / "x.bin"), "--set", "reference.strategy=bidir"],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "single-reference model" in run.stderr and not (tmp_path / "x.bin").exists()


def test_entropy_coded_parameters_round_trip_and_cost_less(tmp_path, fixtures_root, clip32):
    """parameter_payload entropy_coded: one gfvc_entropy_coded_parameters message per access unit
    replaces its GFV messages; a decoder in another process gets the encoder's MD5s, and the
    parameters take fewer bytes than as GFV messages, with the same reference-selection messages."""
    config, ckpt = model_files(fixtures_root)
    size, selections = {}, {}
    for payload in ("gfv", "entropy_coded"):
        folder = tmp_path / payload
        folder.mkdir()
        cfg = codec_yaml(folder, fixtures_root, strategy="bidir")
        opts = yaml.safe_load(cfg.read_text())
        opts["options"]["parameter_payload"] = payload
        cfg.write_text(yaml.safe_dump(opts))
        stream, recon, enc_out = encode(folder, cfg, clip32, FRAMES)
        assert_decodes_like_the_encoder(folder, stream, recon, md5_lines(enc_out), config, ckpt, FRAMES)
        names = [m["name"] for m in seidump(stream)]
        keys = names.count("gfvc_reference_selection")
        runs, gfv = names.count("gfvc_entropy_coded_parameters"), names.count("generative_face_video")
        if payload == "gfv":
            assert runs == 0 and gfv == FRAMES          # a base message per key, one per generated picture
        else:
            assert runs == keys and gfv == keys         # base messages only, one run per access unit
        size[payload], selections[payload] = stream.stat().st_size, selection_messages(stream)
    assert selections["entropy_coded"] == selections["gfv"] and len(selections["gfv"]) > 1
    assert size["entropy_coded"] < size["gfv"]


def test_ctc_codec_mrdac_takes_qp_and_interval(tmp_path, fixtures_root, frames32):
    from gfvc.codec.registry import get_codec
    from gfvc.codec.settings import read_codec_file

    name, options, rate_points = read_codec_file(REPO / "cfg" / "codec" / "mrdac.yaml")
    assert name == "mrdac" and "22/25" in rate_points and "52/250" in rate_points and len(rate_points) == 16
    config, ckpt = model_files(fixtures_root)
    codec = get_codec("mrdac", model_config=str(config), checkpoint=str(ckpt), backend="x265",
                      reference={"strategy": "bidir", "max_delay": 2})
    assert codec.default_rate_points[0] == "22/25"
    s = codec.settings_at("42/6")
    assert (s.key_qp, s.reference.interval, s.reference.strategy) == (42, 6, "bidir")
    for bad in ("42-6", "x/5", 4.5):
        with pytest.raises(ValueError, match="mrdac rate point"):
            codec.validate_rate_point(bad)
    result = codec.code(frames32[:12], 25.0, "37/6", tmp_path)
    assert result.metadata["rate_point"] == "37/6" and result.metadata["key_pictures"] == [0, 6]
    assert result.metadata["structural_delay_pictures"] == 2
    assert result.metadata["rate_breakdown"]["reference_selection"] > 0
    assert "reference" in codec.settings() and "reference" not in get_codec(
        "dac", model_config=str(config), checkpoint=str(ckpt)).settings()


def test_pose_diversity_picks_the_farthest_pose_in_each_window():
    from gfvc.codec.reference_buffer import pose_keys

    kps = [np.zeros((10, 2)) for _ in range(30)]
    kps[7] = np.ones((10, 2))
    kps[16] = np.full((10, 2), 2.0)
    # windows (prev + 5, prev + 10]: 7 is farthest from 0; 16 is 1 away from 7, 2*sqrt(2) from 0
    # (min 1), the others 0 from 0; then no pose differs (ties: the earliest)
    assert pose_keys(kps, 10) == [0, 7, 16, 21, 26]


def test_rp_with_pose_selection_round_trips(fixtures_root, frames32):
    enc = _code_in_process(fixtures_root, frames32, strategy="rp", selection="pose")
    keys = enc.key_pictures
    assert keys[0] == 0 and all(a + INTERVAL // 2 < b <= a + INTERVAL for a, b in zip(keys, keys[1:]))
    dec = _decoder(fixtures_root).decode(enc.bitstream)
    assert dec.md5_per_picture == enc.md5_per_picture and dec.key_pictures == keys
    assert dec.delay == enc.delay <= INTERVAL - 1
