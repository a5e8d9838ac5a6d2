"""Export a gfvc-train run as a model folder for coding: ``gfvc-export-model RUN_DIR MODEL_DIR``.

The model folder is what the codecs and the CTC name (``model_config`` + ``checkpoint``)::

    MODEL_DIR/model.yaml          the model_params of the training config (+ family), a codec's model_config
    MODEL_DIR/checkpoint.pth.tar  the networks only, in the official layout (generator, kp_detector),
                                  floating tensors stored as float16 (--keep-float32 keeps them), and
                                  gfvc_metadata: the training metadata, the run checkpoint's SHA-256
    MODEL_DIR/train.yaml          the resolved training configuration
    MODEL_DIR/losses.csv, losses.png   the training log and its curves

Why float16: the shipped default models stay a few MB each in the repository. Loading converts
the tensors to the model's float32 parameters (``load_state_dict`` copies with a cast), so coding
always runs in float32; the float16 file *is* the model (its SHA-256 is the checkpoint digest the
bitstream carries). Optimiser states, the discriminator and RNG states are training-only and
dropped.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from ..errors import GfvcError
from ..files import atomic_write_bytes, sha256_file
from ..models.checkpoint import read_checkpoint
from .trainer import CHECKPOINT_NAME, METADATA_KEY

NETWORK_KEYS = ("generator", "kp_detector")


def export_model(run_dir, model_dir, *, float16: bool = True) -> dict:
    import torch
    import yaml

    run_dir, model_dir = Path(run_dir), Path(model_dir)
    source = run_dir / CHECKPOINT_NAME if run_dir.is_dir() else run_dir
    checkpoint, sha256 = read_checkpoint(source)
    metadata = checkpoint.get(METADATA_KEY)
    if not isinstance(metadata, dict) or "config" not in metadata:
        raise GfvcError(f"{source} is not a gfvc-train checkpoint (no {METADATA_KEY} with the training config)")
    out = {}
    for key in NETWORK_KEYS:
        if key not in checkpoint:
            raise GfvcError(f"{source} has no {key!r} entry")
        out[key] = {name: (t.to(torch.float16) if float16 and t.is_floating_point() else t).clone()
                    for name, t in checkpoint[key].items()}
    config = metadata["config"]
    out[METADATA_KEY] = {**metadata, "exported_from": {"file": source.name, "sha256": sha256},
                         "storage": "float16" if float16 else "float32"}
    model_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(out, buffer)
    # inputs=: exporting into the run folder itself must not replace the training checkpoint
    atomic_write_bytes(model_dir / "checkpoint.pth.tar", buffer.getvalue(), inputs=(source,), what="model checkpoint")
    model_yaml = {"family": metadata.get("model_family", config["family"]), "model_params": config["model_params"]}
    header = (f"# gfvc default model: exported by gfvc-export-model from a gfvc-train run ({metadata.get('steps')} "
              f"iterations).\n# The codecs' model_config; the weights are checkpoint.pth.tar beside this file.\n")
    atomic_write_bytes(model_dir / "model.yaml",
                       (header + yaml.safe_dump(model_yaml, sort_keys=False)).encode(), what="model config")
    atomic_write_bytes(model_dir / "train.yaml", yaml.safe_dump(config, sort_keys=False).encode(),
                       what="training config")
    if run_dir.is_dir() and (run_dir / "losses.csv").is_file():
        # rows logged after the checkpoint (a run killed between checkpoints) are not this model's
        lines = (run_dir / "losses.csv").read_text().splitlines(keepends=True)
        steps = int(metadata.get("steps") or 0)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= steps]
        atomic_write_bytes(model_dir / "losses.csv", "".join(kept).encode(), inputs=(run_dir / "losses.csv",),
                           what="loss log")
        from .plot import plot_losses

        plot_losses(model_dir / "losses.csv", model_dir / "losses.png")
    return {"checkpoint": str(model_dir / "checkpoint.pth.tar"), "sha256": sha256_file(model_dir / "checkpoint.pth.tar"),
            "steps": metadata.get("steps"), "source_sha256": sha256}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gfvc-export-model", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="gfvc-train output folder (or its checkpoint.pth.tar)")
    ap.add_argument("model_dir", help="model folder to write")
    ap.add_argument("--keep-float32", action="store_true", help="store float32 tensors (default float16)")
    args = ap.parse_args(argv)
    try:
        summary = export_model(args.run, args.model_dir, float16=not args.keep_float32)
    except GfvcError as exc:
        print(f"gfvc-export-model: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
