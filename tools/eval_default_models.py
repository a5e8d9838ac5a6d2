"""Evaluate gfvc's default models against the trivial repeat-key baseline (issue 14's check).

    .venv/bin/python tools/eval_default_models.py -o runs/eval_default_models

Every default model (models/<name>/) codes the built-in test clips through the real codec loop
(the CTC codecs of gfvc.codec.face_codecs: encode, decode in the same process, decoder output ==
encoder reconstruction checked) at the CTC rate points. The baseline codes the *same key pictures*
the same way and repeats each until the next one (gfvc.codec.repeat_key), at the GFVC codec's key
QPs and at intermediate QPs, so that its RD curve covers the GFVC codec's rates. A GFVC point
"beats" the baseline when its quality is above the baseline's curve (pchip over log rate, as
BD-rate) at the GFVC point's own rate: i.e. the baseline would need more rate for that quality.
MRDAC is coded with two references (bidir) and with one (single) at the same key pictures.

Writes OUT/points.csv (every RD point), OUT/summary.md (the tables doc/benchmarks.md quotes).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ["BUILTIN_WOLFGANG_001", "BUILTIN_FRANCK_001", "BUILTIN_MEGAMIND_001", "BUILTIN_ASTRONAUT_001"]
KEY_QPS = [22, 32, 42, 52]
BASELINE_QPS = [7, 12, 17, 20, 22, 27, 32, 37, 42, 47, 52]   # 7, 12: RDAC+'s highest rates
METRICS = ["ms_ssim", "fsim", "psnr_y"]


def codec_runs(models: Path, interval: int, encoder=None):
    """(label, registry name, options, rate points); ``encoder``: encoder settings every codec gets
    (prediction, parameter_payload), as the built-in CTC's codecs have them."""
    def model(name):
        paths = {"model_config": str(models / name / "model.yaml"), "checkpoint": str(models / name / "checkpoint.pth.tar")}
        return {**paths, **(encoder or {})}

    mr = [f"{q}/{interval}" for q in KEY_QPS]
    return [
        ("dac", "dac", model("dac_small"), KEY_QPS),
        ("mrdac_2ref", "mrdac", {**model("mrdac_small"), "reference": {"strategy": "bidir", "max_delay": interval}}, mr),
        ("mrdac_1ref", "mrdac", {**model("mrdac_small"), "reference": {"strategy": "single"}}, mr),
        ("rdac_plus", "rdac_plus", {**model("rdac_plus_small"), "residual": {"skip_messages": False}},
         ["42/off", "42/2", "32/3", "22/4"]),   # as the built-in CTC codes it
    ]


#: the built-in CTC's encoder settings that the evaluation takes over (its three test codecs share them)
ENCODER_SETTINGS = ("prediction", "parameter_payload")


def builtin_encoder_settings(prediction: bool = True, parameter_payload: bool = True):
    """The encoder settings of the built-in CTC's dac codec (cfg/ctc/builtin.yaml): its prediction
    and parameter payload, each only when asked for (otherwise the codec's default)."""
    import yaml

    codecs = yaml.safe_load((ROOT / "cfg" / "ctc" / "builtin.yaml").read_text())["codecs"]
    options = next(c for c in codecs if c["name"] == "dac")["options"]
    wanted = {"prediction": prediction, "parameter_payload": parameter_payload}
    return {k: options[k] for k in ENCODER_SETTINGS if wanted[k] and k in options}


def quality(metrics, reference, decoded):
    return {name: float(m.compute(reference, decoded).mean) for name, m in metrics.items()}


def baseline_at(rates, values, rate):
    """The baseline's quality at ``rate`` (pchip over log10 rate), None outside its rate range."""
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(rates)
    r, v = np.log10(np.asarray(rates, float)[order]), np.asarray(values, float)[order]
    keep = np.concatenate([[True], np.diff(r) > 0])
    r, v = r[keep], v[keep]
    x = np.log10(rate)
    if x < r[0] or x > r[-1]:
        return None
    return float(PchipInterpolator(r, v)(x))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="runs/eval_default_models")
    ap.add_argument("--models", default=str(ROOT / "models"))
    ap.add_argument("--frames", type=int, default=32, help="pictures per clip (the built-in CTC codes 32)")
    ap.add_argument("--interval", type=int, default=16, help="MRDAC key-picture interval")
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--codecs", help="only these labels")
    ap.add_argument("--prediction", choices=("builtin", "off"), default="builtin",
                    help="the codecs' prediction settings: the built-in CTC's (cfg/ctc/builtin.yaml) or none")
    ap.add_argument("--parameter-payload", choices=("builtin", "gfv"), default="builtin",
                    help="the codecs' parameter payload: the built-in CTC's or GFV SEI (the codec default)")
    args = ap.parse_args(argv)

    from gfvc.codec.registry import get_codec
    from gfvc.codec.repeat_key import RepeatKeyBaseline
    from gfvc.io.sequence import read_sequence
    from gfvc.metrics import get_metric

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {name: get_metric(name) for name in METRICS}
    encoder = builtin_encoder_settings(args.prediction == "builtin", args.parameter_payload == "builtin")
    runs = [r for r in codec_runs(Path(args.models), args.interval, encoder)
            if not args.codecs or r[0] in args.codecs.split(",")]
    rows = []
    folder = ROOT / "test_sequences" / "builtin"
    for clip in args.clips.split(","):
        path = next(folder.glob(f"{clip}_*.rgb"))
        frames = read_sequence(path, args.frames)
        fps = 25.0
        seconds = len(frames) / fps
        baselines = {}
        for label, name, options, rate_points in runs:
            codec = get_codec(name, **options)
            for rp in rate_points:
                t0 = time.process_time()
                result = codec.code(frames, fps, rp, out)
                keys = tuple(result.metadata["key_pictures"])
                q = quality(metrics, frames, result.decoded)
                modes = result.metadata.get("prediction_modes", {})
                rows.append({"clip": clip, "codec": label, "rate_point": rp, "kbps": len(result.bitstream) * 8 / 1000 / seconds,
                             "keys": " ".join(map(str, keys)), "cpu_s": time.process_time() - t0,
                             "warped_pictures": modes.get("warped_reference", 0), **q})
                print(json.dumps(rows[-1]), flush=True)
                if keys not in baselines:
                    baselines[keys] = RepeatKeyBaseline(codec.settings_at(rp))
                    for qp in BASELINE_QPS:
                        b = baselines[keys].code(frames, keys, qp, fps)
                        rows.append({"clip": clip, "codec": f"repeat_key[{' '.join(map(str, keys))}]", "rate_point": qp,
                                     "kbps": b.bytes * 8 / 1000 / seconds, "keys": " ".join(map(str, keys)),
                                     "cpu_s": 0.0, "warped_pictures": 0, **quality(metrics, frames, b.pictures)})
    with open(out / "points.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "summary.md").write_text(summarise(rows, runs))
    print((out / "summary.md").read_text())
    return 0


def summarise(rows, runs) -> str:
    lines = []
    for label, _, _, rate_points in runs:
        lines += [f"### {label}", "",
                  "| rate point | kbps | repeat-key kbps at same key QP | MS-SSIM | repeat-key MS-SSIM at equal rate | "
                  "FSIM | repeat-key FSIM at equal rate | points beating the baseline (MS-SSIM, FSIM) |",
                  "|---|---|---|---|---|---|---|---|"]
        for rp in rate_points:
            pts = [r for r in rows if r["codec"] == label and r["rate_point"] == rp]
            acc = {"kbps": [], "base_kbps": [], "ms_ssim": [], "fsim": [], "b_ms_ssim": [], "b_fsim": []}
            wins = {"ms_ssim": 0, "fsim": 0}
            n_cmp = 0
            for p in pts:
                base = [r for r in rows if r["clip"] == p["clip"] and r["codec"] == f"repeat_key[{p['keys']}]"]
                key_qp = int(str(rp).split("/")[0])
                same_qp = [b for b in base if b["rate_point"] == key_qp]
                acc["kbps"].append(p["kbps"])
                acc["base_kbps"].append(same_qp[0]["kbps"] if same_qp else np.nan)
                ok = True
                for m in ("ms_ssim", "fsim"):
                    at = baseline_at([b["kbps"] for b in base], [b[m] for b in base], p["kbps"])
                    acc[m].append(p[m])
                    acc["b_" + m].append(np.nan if at is None else at)
                    ok = ok and at is not None
                    if at is not None and p[m] > at:
                        wins[m] += 1
                n_cmp += ok
            f = lambda v, d=4: "n/a" if np.all(np.isnan(v)) else f"{np.nanmean(v):.{d}f}"
            lines.append(f"| {rp} | {f(acc['kbps'], 2)} | {f(acc['base_kbps'], 2)} | {f(acc['ms_ssim'])} | "
                         f"{f(acc['b_ms_ssim'])} | {f(acc['fsim'])} | {f(acc['b_fsim'])} | "
                         f"{wins['ms_ssim']}/{len(pts)}, {wins['fsim']}/{len(pts)} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
