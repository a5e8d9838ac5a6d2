"""Stand-in for the JVET reference apps (HM TAppEncoder/TAppDecoder, VTM EncoderApp/DecoderApp).

Real HM/VTM binaries cannot be installed on the test machines, so the tests run gfvc's HM/VTM
backends against this script. It checks what it receives the way the real apps would need it
(cfg files readable, the keys gfvc must set present and consistent, a GBR colour description for RGB, the input file exactly
FramesToBeEncoded pictures long, no reconstruction file requested, RGB conversion keys for 4:4:4)
and then produces a REAL Annex-B stream with the static ffmpeg (HM role: x265; VTM role: vvenc),
so the backend's stream handling runs on genuine bitstreams. What it received is appended as one
JSON line to $GFVC_STANDIN_LOG. $GFVC_STANDIN_FAIL=<role> makes that role fail (after writing a
partial output file); $GFVC_STANDIN_DROP=1 makes the decoder write one picture fewer. The decoder
writes the stream's own bit depth for ``-d 0`` (16-bit little-endian samples above 8 bits), as
TAppDecoder/DecoderApp do.

Usage: python jvet_standin.py {hm,vtm}-{encoder,decoder} [app arguments...]
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def fail(msg: str, code: int = 3) -> None:
    print(f"ERROR: {msg}", file=sys.stderr)
    sys.exit(code)


def read_cfg(path: str) -> dict[str, str]:
    if not Path(path).is_file():
        fail(f"cannot open config file {path}")
    cfg = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            fail(f"{path}: malformed line {line!r}")
        key, value = line.split(":", 1)
        cfg[key.strip()] = value.strip()
    return cfg


def parse_args(argv: list[str], short: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    opts, cfg_files = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-c":
            cfg_files.append(argv[i + 1])
            i += 2
        elif a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
            i += 1
        elif a in short:
            opts[short[a]] = argv[i + 1]
            i += 2
        else:
            fail(f"unknown argument {a!r}")
    return opts, cfg_files


def log(entry: dict) -> None:
    path = os.environ.get("GFVC_STANDIN_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def encoder(family: str, argv: list[str]) -> None:
    opts, cfg_files = parse_args(argv, {"-i": "InputFile", "-b": "BitstreamFile", "-q": "QP", "-o": "ReconFile",
                                        "-f": "FramesToBeEncoded", "-fr": "FrameRate"})
    cfg: dict[str, str] = {}
    for f in cfg_files:
        cfg.update(read_cfg(f))
    cfg.update(opts)
    log({"role": f"{family}-encoder", "argv": argv, "cfg": cfg, "cfg_files": cfg_files})
    required = ["InputFile", "BitstreamFile", "QP", "SourceWidth", "SourceHeight", "FrameRate", "FramesToBeEncoded",
                "InputBitDepth", "InputChromaFormat", "ChromaFormatIDC", "Level", "IntraPeriod", "GOPSize",
                "DecodingRefreshType", "InternalBitDepth"]
    missing = [k for k in required if k not in cfg]
    if missing:
        fail(f"missing configuration keys: {', '.join(missing)}")
    if cfg.get("ReconFile"):
        fail("a reconstruction file was requested; gfvc must take pictures from the decoder")
    w, h, n = int(cfg["SourceWidth"]), int(cfg["SourceHeight"]), int(cfg["FramesToBeEncoded"])
    qp = int(cfg["QP"])
    if cfg["InputBitDepth"] != "8":
        fail("InputBitDepth must be 8")
    gop = int(cfg["GOPSize"])
    for k in range(1, gop + 1) if gop > 1 else ():
        if f"Frame{k}" not in cfg:
            fail(f"GOPSize {gop} but Frame{k} is not configured")
    rgb = cfg["InputChromaFormat"] == "444"
    if rgb:
        if cfg.get("InputColourSpaceConvert") != "RGBtoGBR" or cfg["ChromaFormatIDC"] != "444":
            fail("4:4:4 RGB input needs InputColourSpaceConvert RGBtoGBR and ChromaFormatIDC 444")
        if family == "vtm" and cfg.get("ColorTransform") != "1":
            fail("VTM RGB coding needs ColorTransform 1")
        # Without a colour description the stream does not say it is GBR (decoders would show
        # it as YUV 4:4:4): the apps write one only with these keys.
        vui = {"VuiParametersPresent": "1", "VideoSignalTypePresent": "1", "ColourDescriptionPresent": "1",
               "MatrixCoefficients": "0", "VideoFullRange": "1"}
        wrong = [f"{k} {cfg.get(k)!r} (needs {v})" for k, v in vui.items() if cfg.get(k) != v]
        if wrong:
            fail("4:4:4 RGB coding without a GBR colour description: " + ", ".join(wrong))
    frame_bytes = w * h * 3 if rgb else w * h * 3 // 2
    data = Path(cfg["InputFile"]).read_bytes()
    if len(data) != n * frame_bytes:
        fail(f"input file holds {len(data)} bytes, FramesToBeEncoded {n} needs {n * frame_bytes}")
    out = Path(cfg["BitstreamFile"])
    if os.environ.get("GFVC_STANDIN_FAIL") == f"{family}-encoder":
        out.write_bytes(b"\x00\x00\x01partial")
        fail("simulated encoder failure (GFVC_STANDIN_FAIL)", 1)

    from gfvc.baselayer import get_backend
    from gfvc.io import Yuv420

    intra = cfg["IntraPeriod"] == "1"
    if family == "hm":
        backend, structure = get_backend("x265", preset="ultrafast"), ("intra" if intra else "lowdelay_P")
    else:
        backend, structure = get_backend("vvenc", preset="faster"), ("intra" if intra else "lowdelay_B")
    if rgb:
        planes = np.frombuffer(data, np.uint8).reshape(n, 3, h, w)
        if family == "hm":
            pictures = np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
        else:  # vvenc has no 4:4:4: G as luma, B and R subsampled (a stand-in approximation)
            g, b, r = planes[:, 1], planes[:, 2], planes[:, 0]
            sub = lambda p: p.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4)).round().astype(np.uint8)
            pictures = Yuv420(g.copy(), sub(b), sub(r))
    else:
        pictures = Yuv420.frombuffer(data, w, h)
    out.write_bytes(backend.encode(pictures, qp, structure, float(cfg["FrameRate"])).bitstream)
    print(f"stand-in {family} encoder: {n} frames at QP {qp}")


def decoder(family: str, argv: list[str]) -> None:
    opts, _ = parse_args(argv, {"-b": "BitstreamFile", "-o": "ReconFile", "-d": "OutputBitDepth"})
    log({"role": f"{family}-decoder", "argv": argv, "opts": opts})
    for k in ("BitstreamFile", "ReconFile", "OutputBitDepth"):
        if k not in opts:
            fail(f"decoder needs {k}")
    if opts["OutputBitDepth"] not in ("0", "8"):
        fail("the stand-in writes the native bit depth (-d 0) or 8 bits (-d 8) only")
    rgb = opts.get("OutputColourSpaceConvert") == "GBRtoRGB"
    out = Path(opts["ReconFile"])
    if os.environ.get("GFVC_STANDIN_FAIL") == f"{family}-decoder":
        out.write_bytes(b"\x10" * 100)
        fail("simulated decoder failure (GFVC_STANDIN_FAIL)", 1)
    from gfvc.baselayer.decoders import decode_pyav
    from gfvc.baselayer.samples import to_8bit

    raw = decode_pyav(Path(opts["BitstreamFile"]).read_bytes(), "hevc" if family == "hm" else "vvc")[0]
    depth = raw.bit_depth if opts["OutputBitDepth"] == "0" else 8
    planes = [p if depth == raw.bit_depth else to_8bit(p, raw.bit_depth) for p in raw.planes]
    n = planes[0].shape[0]
    if raw.pix_fmt.startswith("gbr"):  # GBR 4:4:4 from x265: planes G, B, R; RGB order when asked to convert
        g, b, r = planes
        planes = [r, g, b] if rgb else [g, b, r]
    elif rgb:  # the VTM stand-in's 4:2:0 approximation of GBR: Y = G, Cb = B, Cr = R
        up = lambda p: np.repeat(np.repeat(p, 2, axis=-2), 2, axis=-1)
        planes = [up(planes[2]), planes[0], up(planes[1])]
    dtype = "<u2" if depth > 8 else np.uint8
    frames = [b"".join(np.ascontiguousarray(p[i]).astype(dtype).tobytes() for p in planes) for i in range(n)]
    if os.environ.get("GFVC_STANDIN_DROP") == "1":
        frames = frames[:-1]
    out.write_bytes(b"".join(frames))


def main() -> None:
    role = sys.argv[1]
    family, kind = role.split("-")
    (encoder if kind == "encoder" else decoder)(family, sys.argv[2:])


if __name__ == "__main__":
    main()
