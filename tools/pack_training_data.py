"""Pack the built-in training clips and their HDAC base layers into small mp4 files, and unpack
them on another machine (how the default models' GPU training got its data onto a GPU machine
that can only receive a few tens of MB; doc/training.md, "Default models").

    .venv/bin/python tools/pack_training_data.py clips OUT/train            # 19 clips, ~3.5 MB
    .venv/bin/python tools/pack_training_data.py base-layers OUT/bl 52,47,42  # ~4.6 MB
    python3 tools/pack_training_data.py unpack OUT DATA                     # -> DATA/train, DATA/bl/qpNN

Packing: x264 4:4:4 at CRF 19 (about 41 dB PSNR against the .rgb), planes reordered to ffmpeg's
gbrp. The base layers are coded exactly as the hdac codec codes its base layer (gfvc.codec.encoder:
vvenc low delay at the QP, IRAP at QP 22; preset "faster" to save time), decoded, then packed
like the clips. Unpacking needs only OpenCV (cv2) and NumPy, not gfvc's encoders.
"""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SIZE = 256


def pack(frames_rgb_planar: np.ndarray, target: Path) -> None:
    import imageio_ffmpeg

    gbr = np.ascontiguousarray(frames_rgb_planar[:, [1, 2, 0]])   # ffmpeg's gbrp plane order
    tmp = target.with_suffix(".tmp.mp4")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gbrp",
                    "-s", f"{SIZE}x{SIZE}", "-r", "25", "-i", "-", "-c:v", "libx264", "-preset", "medium", "-crf", "19",
                    "-pix_fmt", "yuv444p", "-threads", "1", str(tmp)], input=gbr.tobytes(), check=True)
    tmp.rename(target)


def training_clips():
    from gfvc.train.data import builtin_training_clips

    return [c.path for c in builtin_training_clips()]


def read_rgb(path: Path) -> np.ndarray:
    return np.fromfile(path, np.uint8).reshape(-1, 3, SIZE, SIZE)


def pack_clips(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in training_clips():
        pack(read_rgb(path), out / (path.stem + ".mp4"))


def pack_base_layers(out: Path, qps: list) -> None:
    from gfvc.codec.encoder import base_layer_backend, code_base_layer, lowdelay_structure
    from gfvc.codec.settings import GfvcSettings

    settings = GfvcSettings(family="hdac", backend="vvenc", preset="faster")
    backend = base_layer_backend(settings)
    for path in training_clips():
        frames = np.ascontiguousarray(read_rgb(path).transpose(0, 2, 3, 1))
        for qp in qps:
            target = out / f"qp{qp}" / (path.stem + ".mp4")
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _, decoded = code_base_layer(backend, frames, settings.key_format, qp, lowdelay_structure(backend), 25.0,
                                         intra_qp=22)
            pack(np.asarray(decoded).transpose(0, 3, 1, 2), target)
            print(path.stem, qp, flush=True)


def unpack(src: Path, dst: Path) -> None:
    import cv2

    packed = sorted(src.rglob("*.mp4"))
    if not packed:
        raise SystemExit(f"pack_training_data.py: error: no packed clips (*.mp4) under {src}")

    def one(mp4: Path):
        out = dst / mp4.relative_to(src).with_suffix(".rgb")
        cap, frames = cv2.VideoCapture(str(mp4)), []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(f[:, :, ::-1].transpose(2, 0, 1)))
        if not frames or frames[0].shape != (3, SIZE, SIZE):
            raise SystemExit(f"pack_training_data.py: error: {mp4} holds no {SIZE}x{SIZE} pictures")
        out.parent.mkdir(parents=True, exist_ok=True)
        np.stack(frames).tofile(out)
        return len(frames)

    with ThreadPoolExecutor(12) as ex:
        counts = list(ex.map(one, packed))
    print(f"{len(counts)} clips unpacked; frames per clip: {sorted(set(counts))}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv)
    except Exception as exc:   # gfvc's errors (e.g. the training clips not built) and OS errors, one line
        from gfvc.errors import GfvcError

        if not isinstance(exc, (GfvcError, OSError)):
            raise
        print(f"pack_training_data.py: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


def run(argv) -> int:
    if len(argv) >= 2 and argv[0] == "clips":
        pack_clips(Path(argv[1]))
    elif len(argv) == 3 and argv[0] == "base-layers":
        pack_base_layers(Path(argv[1]), [int(q) for q in argv[2].split(",")])
    elif len(argv) == 3 and argv[0] == "unpack":
        unpack(Path(argv[1]), Path(argv[2]))
    else:
        print("usage: pack_training_data.py clips OUT | base-layers OUT QPS | unpack SRC DST", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
