"""gfvc-train: train a GFVC model family (DAC, HDAC, MRDAC, RDAC+) on one process or with torchrun.

    gfvc-train --config cfg/train/dac.yaml --data builtin --out runs/dac
    torchrun --nproc_per_node 2 -m gfvc.train.cli --config cfg/train/mrdac.yaml --data builtin --out runs/mrdac
    gfvc-train ... --out runs/dac --resume          # continue a stopped or killed run

See doc/training.md.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import GfvcError
from ..metrics.weights import VGG19
from .families import TrainConfigError


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gfvc-train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="training YAML (cfg/train/<family>.yaml)")
    ap.add_argument("--data", action="append", required=True, metavar="SOURCE",
                    help="'builtin' (the built-in training clips), an .rgb file, a folder of .rgb files or clips, "
                         "or a VoxCeleb-style root with train/ and test/; repeatable")
    ap.add_argument("--list", dest="list_file", help="keep only the clips named in this file (one per line)")
    ap.add_argument("--split", default="train", choices=("train", "test"),
                    help="folder of a VoxCeleb-style root (default: train)")
    ap.add_argument("--base-layer", action="append", metavar="QP=FOLDER", default=[],
                    help="HDAC: a folder of decoded base-layer .rgb clips (same names) coded at QP; repeatable")
    ap.add_argument("--out", required=True, help="output folder: checkpoint, losses.csv")
    ap.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    ap.add_argument("--init", help="start from this checkpoint's networks (e.g. the previous RDAC+ stage)")
    ap.add_argument("--warm-start", metavar="CHECKPOINT",
                    help="copy the tensors that fit (same name and shape) from this checkpoint, e.g. a trained "
                         "DAC into MRDAC or RDAC+; the rest keeps its initial value (excludes --init)")
    ap.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    ap.add_argument("--vgg19-weights", help="torchvision vgg19 state_dict for the perceptual loss "
                    f"(default: ${VGG19.env_var}; without it the L1 + SSIM pyramid fallback is used)")
    ap.add_argument("--stage", choices=("animation", "residual", "refinement"),
                    help="RDAC+ training stage (overrides train_params.stage)")
    ap.add_argument("--epochs", type=int, help="override train_params.epochs")
    ap.add_argument("--num-repeats", type=int, help="override train_params.num_repeats")
    ap.add_argument("--batch-size", type=int, help="override train_params.batch_size (per process)")
    ap.add_argument("--frame-size", type=int, help="override dataset_params.frame_shape (square)")
    ap.add_argument("--checkpoint-every", type=int, help="override train_params.checkpoint_every (iterations)")
    ap.add_argument("--max-iterations", type=int, help="stop (with a checkpoint) after this many iterations in all")
    ap.add_argument("--time-limit", type=float, metavar="SECONDS",
                    help="stop after this many seconds of training, with a checkpoint (--resume continues)")
    ap.add_argument("--num-workers", type=int, default=0, help="data loader worker processes (default 0)")
    ap.add_argument("--seed", type=int, help="override train_params.seed")
    ap.add_argument("--hold-after-checkpoint", type=int, metavar="N", help=argparse.SUPPRESS)
    ap.add_argument("--record-samples", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def resolve_vgg19(option: str | None):
    if option is None and not os.environ.get(VGG19.env_var):
        return None
    path, reason = VGG19.resolve(option)
    if path is None:
        raise TrainConfigError(reason)
    return path


def run(args, log=print) -> dict:
    from .trainer import Trainer, load_train_config, resolve_config

    config = load_train_config(args.config)
    train = config["train_params"]
    for option, key in (("epochs", "epochs"), ("num_repeats", "num_repeats"), ("batch_size", "batch_size"),
                        ("checkpoint_every", "checkpoint_every"), ("seed", "seed")):
        if getattr(args, option) is not None:
            train[key] = getattr(args, option)
    if args.stage is not None:
        if config["family"] != "rdac_plus":
            raise TrainConfigError(f"--stage applies to rdac_plus, not {config['family']}")
        train["stage"] = args.stage
    if args.frame_size is not None:
        config["dataset_params"]["frame_shape"] = [args.frame_size, args.frame_size]
    config = resolve_config(config)
    if args.time_limit is not None and not args.time_limit >= 0:
        raise TrainConfigError(f"--time-limit must be a number of seconds >= 0, not {args.time_limit}")
    if args.max_iterations is not None and args.max_iterations < 1:
        raise TrainConfigError("--max-iterations must be positive")
    if args.num_workers < 0:
        raise TrainConfigError("--num-workers must be >= 0")
    base_layers = {}
    for item in args.base_layer:
        qp, sep, folder = item.partition("=")
        if not sep or not qp.strip().lstrip("-").isdigit() or not folder:
            raise TrainConfigError(f"--base-layer takes QP=FOLDER, not {item!r}")
        base_layers[int(qp)] = folder
    trainer = Trainer(config, args.data, args.out, device=args.device, vgg19_weights=resolve_vgg19(args.vgg19_weights),
                      init=args.init, warm_start=args.warm_start, resume=args.resume, list_file=args.list_file, split=args.split,
                      max_iterations=args.max_iterations, num_workers=args.num_workers, time_limit=args.time_limit,
                      hold_after_checkpoint=args.hold_after_checkpoint, record_samples=args.record_samples,
                      base_layers=base_layers, log=log)
    return trainer.run()


def main(argv=None) -> int:
    args = parse_args(argv)
    rank = os.environ.get("RANK", "0")
    try:
        run(args, log=lambda msg: print(f"[gfvc-train] {msg}", flush=True))
    except GfvcError as exc:
        if rank == "0":
            print(f"gfvc-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gfvc-train: interrupted (the last checkpoint is kept; --resume continues it)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
