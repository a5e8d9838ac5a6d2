"""The training loop shared by every family: optimisers, DDP, checkpoints, resume, CSV log.

One process or ``torchrun --nproc_per_node N`` (DistributedDataParallel; gloo on CPU, nccl on
CUDA): each process draws its share of every epoch (:class:`gfvc.train.data.EpochSampler`), the
gradients are averaged by DDP, rank 0 logs and writes the checkpoints. See doc/training.md.
"""
from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .. import __version__
from ..files import atomic_write_bytes, load_yaml_file
from ..errors import FileProblem, GfvcError
from ..models import build_model
from ..models.checkpoint import CheckpointError, read_checkpoint
from ..models.official import official_model_params
from ..models.registry import read_model_params
from .data import Augmentation, DataError, EpochSampler, TrainingSamples, discover_clips
from .families import TrainConfigError, freeze_for, get_train_family, is_aux_parameter
from .losses import (MultiScaleDiscriminator, PerceptualLoss, discriminator_loss, generator_gan_terms)

CHECKPOINT_NAME = "checkpoint.pth.tar"
MARKER_NAME = "checkpoint.json"
LOG_NAME = "losses.csv"
METADATA_KEY = "gfvc_metadata"
FORMAT = "gfvc-train 1"

DEFAULT_TRAIN_PARAMS = {
    "epochs": 1, "num_repeats": 1, "lr": 2e-4, "lr_discriminator": 2e-4, "lr_aux": 1e-3,
    "betas": [0.5, 0.999], "optimizer": "adamw", "batch_size": 1, "scales": [1, 0.5, 0.25, 0.125],
    "milestones": [], "gamma": 0.1, "checkpoint_every": 0, "log_every": 10, "seed": 0,
    "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
    "loss_weights": {"perceptual": [10, 10, 10, 10, 10], "equivariance_value": 10, "generator_gan": 1,
                     "discriminator_gan": 1, "feature_matching": [10, 10, 10, 10]},
}


# --------------------------------------------------------------------------------------------- configuration
def load_train_config(path) -> dict:
    """A gfvc-train YAML: ``family``, ``model_params`` or ``model_config`` (a model YAML, relative to
    this file, or ``official``), ``dataset_params``, ``train_params``, ``discriminator_params``."""
    try:
        raw = load_yaml_file(path, "training config")
    except FileProblem as exc:
        raise TrainConfigError(f"cannot read {exc}") from None
    if not isinstance(raw, dict) or "family" not in raw:
        raise TrainConfigError(f"training config {path} must be a mapping with a 'family'")
    config = dict(raw)
    if "model_params" not in config:
        source = config.get("model_config")
        if source is None:
            raise TrainConfigError(f"training config {path} has neither model_params nor model_config")
        if source == "official":
            config["model_params"] = official_model_params(get_train_family(config["family"]).model_family)
        else:
            model_path = Path(path).parent / source
            try:
                config["model_params"] = read_model_params(model_path)
            except GfvcError as exc:  # ModelConfigError: one line
                raise TrainConfigError(f"training config {path}: model_config: {exc}") from None
    return resolve_config(config)


def resolve_config(config: dict) -> dict:
    """Defaults filled in and values checked; the returned dict is what the checkpoint records."""
    unknown = set(config) - {"family", "model_config", "model_params", "dataset_params", "train_params",
                             "discriminator_params"}
    if unknown:
        raise TrainConfigError(f"unknown training config section(s): {', '.join(sorted(unknown))}")
    train = {**DEFAULT_TRAIN_PARAMS, **dict(config.get("train_params") or {})}
    train["loss_weights"] = {**DEFAULT_TRAIN_PARAMS["loss_weights"], **dict(train.get("loss_weights") or {})}
    train["transform_params"] = {**DEFAULT_TRAIN_PARAMS["transform_params"],
                                 **dict(train.get("transform_params") or {})}
    for key in ("epochs", "num_repeats", "batch_size"):
        if isinstance(train[key], bool) or not isinstance(train[key], int) or train[key] < 1:
            raise TrainConfigError(f"train_params.{key} must be a positive integer, not {train[key]!r}")
    if train["optimizer"] not in ("adam", "adamw"):
        raise TrainConfigError(f"train_params.optimizer must be adam or adamw, not {train['optimizer']!r}")
    if len(train["loss_weights"]["perceptual"]) != 5:
        raise TrainConfigError("loss_weights.perceptual needs 5 weights (VGG-19 slices relu1_1 ... relu5_1)")
    dataset = dict(config.get("dataset_params") or {})
    shape = dataset.get("frame_shape", [256, 256])
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v >= 16 for v in shape)):
        raise TrainConfigError(f"dataset_params.frame_shape must be [height, width] (>= 16), not {shape!r}")
    dataset["frame_shape"] = shape
    try:
        Augmentation.from_params(dataset.get("augmentation_params"))
    except DataError as e:
        raise TrainConfigError(str(e)) from None
    return {"family": str(config["family"]), "model_params": config["model_params"], "dataset_params": dataset,
            "train_params": train, "discriminator_params": dict(config.get("discriminator_params") or {})}


# --------------------------------------------------------------------------------------------- processes
@dataclass
class Runtime:
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_runtime(device: str | None) -> Runtime:
    """One process, or the torchrun process group (WORLD_SIZE > 1 in the environment)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        rank = dist.get_rank()
        if use_cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return Runtime(rank, world, torch.device("cuda", local))
        return Runtime(rank, world, torch.device("cpu"))
    return Runtime(0, 1, torch.device(device or ("cuda" if use_cuda else "cpu")))


def step_seed(seed: int, rank: int, iteration: int) -> int:
    """The torch seed of one training step: a function of (seed, rank, iteration), so a resumed run
    draws the same transforms, noise and rate levels as an uninterrupted one."""
    return int(np.random.SeedSequence([seed, rank, iteration]).generate_state(1)[0])


# --------------------------------------------------------------------------------------------- models
class GeneratorFullModel(nn.Module):
    """The family's forward pass plus the common perceptual and generator-GAN terms, in one forward
    (what DDP wraps). Only the FaceModel is a registered sub-module; the loss networks are not."""

    def __init__(self, model: nn.Module, family, perceptual: PerceptualLoss, discriminator):
        super().__init__()
        self.model = model
        self.__dict__["family"] = family
        self.__dict__["perceptual"] = perceptual
        self.__dict__["discriminator"] = discriminator
        weights = family.weights
        self.gan_weight = float(weights.get("generator_gan", 0))
        self.fm_weights = [float(w) for w in weights.get("feature_matching", [])]

    def forward(self, batch: dict):
        terms, out = self.family.forward(self.model, batch)
        generated, real = out["generated"], out["real"]
        terms["perceptual"] = out.get("distortion_scale", 1.0) * self.perceptual(generated, real)
        if self.discriminator is not None:
            pyramid = self.perceptual.pyramid
            kp = out["kp"].detach() if out["kp"] is not None else None
            both = self.discriminator(pyramid(torch.cat([real, generated])),
                                      None if kp is None else torch.cat([kp, kp]))
            fake = {s: ([m.chunk(2)[1] for m in maps], pred.chunk(2)[1]) for s, (maps, pred) in both.items()}
            real_out = {s: ([m.chunk(2)[0] for m in maps], pred.chunk(2)[0]) for s, (maps, pred) in both.items()}
            gan, matching = generator_gan_terms(fake, real_out, self.fm_weights)
            if self.gan_weight:
                terms["generator_gan"] = self.gan_weight * gan
            if any(self.fm_weights):
                terms["feature_matching"] = matching
        return terms, {"generated": generated.detach(), "real": real, "kp": out["kp"],
                       **({"bpp": out["bpp"]} if "bpp" in out else {})}


class DiscriminatorFullModel(nn.Module):
    def __init__(self, discriminator: nn.Module, pyramid: nn.Module, weight: float):
        super().__init__()
        self.discriminator = discriminator
        self.__dict__["pyramid"] = pyramid
        self.weight = weight

    def forward(self, real, generated, kp):
        kp = None if kp is None else torch.cat([kp, kp]).detach()
        both = self.discriminator(self.pyramid(torch.cat([real, generated.detach()])), kp)
        fake = {s: (None, pred.chunk(2)[1]) for s, (_, pred) in both.items()}
        real_out = {s: (None, pred.chunk(2)[0]) for s, (_, pred) in both.items()}
        return self.weight * discriminator_loss(fake, real_out)


def make_optimizer(params, lr: float, train: dict):
    cls = torch.optim.AdamW if train["optimizer"] == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, betas=tuple(train["betas"]))


def scheduler_state(scheduler) -> dict:
    state = scheduler.state_dict()
    return {**state, "milestones": {int(k): int(v) for k, v in state.get("milestones", {}).items()}}


def load_scheduler_state(scheduler, state: dict) -> None:
    scheduler.load_state_dict({**state, "milestones": Counter({int(k): v for k, v in state["milestones"].items()})})


# --------------------------------------------------------------------------------------------- trainer
class TrainingError(TrainConfigError):
    """A training run that cannot start or go on (output folder, resume, data)."""


class Trainer:
    def __init__(self, config: dict, data_sources: list, out: Path, *, device: str | None = None,
                 vgg19_weights=None, init: str | None = None, warm_start: str | None = None, resume: bool = False, list_file: str | None = None,
                 split: str = "train", max_iterations: int | None = None, num_workers: int = 0,
                 time_limit: float | None = None,
                 hold_after_checkpoint: int | None = None, record_samples: bool = False,
                 base_layers: dict | None = None, log=print):
        self.config = config
        self.out = Path(out)
        self.rt = start_runtime(device)
        self.log = log if self.rt.main else (lambda *a, **k: None)
        self.max_iterations = max_iterations
        self.time_limit = time_limit   # seconds of training, then stop with a checkpoint
        self.hold_after_checkpoint = hold_after_checkpoint
        self.record_samples = record_samples
        self._num_workers = int(num_workers)
        train = config["train_params"]
        self.train = train
        self.family = get_train_family(config["family"])(train, config["dataset_params"])
        self.seed = int(train["seed"])

        checkpoint_path = self.out / CHECKPOINT_NAME
        if checkpoint_path.exists() and not resume:
            raise TrainingError(f"{self.out} already holds a checkpoint: pass --resume to continue it, or "
                                "choose another output folder")
        self.clips = discover_clips(data_sources, self.out / "video-cache", split=split, list_file=list_file)
        self.family.prepare_data(self.clips, {"base_layers": base_layers})
        self.out.mkdir(parents=True, exist_ok=True)
        self.dataset = TrainingSamples(self.clips, self.family.sampler(),
                                       tuple(config["dataset_params"]["frame_shape"]), int(train["num_repeats"]),
                                       self.seed, self.family.sample_extras,
                                       Augmentation.from_params(config["dataset_params"].get("augmentation_params")))
        per_rank = -(-len(self.dataset) // self.rt.world_size)
        self.iterations_per_epoch = per_rank // int(train["batch_size"])
        if self.iterations_per_epoch < 1:
            raise TrainingError(f"{len(self.dataset)} samples per epoch (clips x num_repeats) give each of the "
                                f"{self.rt.world_size} process(es) less than one batch of {train['batch_size']}")
        self.total_iterations = self.iterations_per_epoch * int(train["epochs"])
        if max_iterations is not None:
            self.total_iterations = min(self.total_iterations, max_iterations)

        torch.manual_seed(self.seed)  # identical initial weights in every process
        self.model = build_model(self.family.model_family, config["model_params"]).to(self.rt.device)
        if init and warm_start:
            raise TrainingError("--init and --warm-start exclude each other")
        # a resumed run's weights come from its own checkpoint (below); its start (--init or
        # --warm-start) happened in the run that wrote it and is recorded in its metadata
        resuming = checkpoint_path.exists()
        if resuming and (init or warm_start):
            self.log(f"resuming {checkpoint_path}: {'--init' if init else '--warm-start'} applied when "
                     "the run started; its weights are in the checkpoint")
        if init and not resuming:
            self.model.load_checkpoint(init)  # strict; the previous stage's checkpoint
        self.warm_start = None
        if warm_start and not resuming:
            from ..models.checkpoint import warm_start as warm_start_from

            self.warm_start = warm_start_from(warm_start, {n: getattr(self.model, n) for n in self.model.network_names})
            self.log(f"warm start from {warm_start}: {self.warm_start['copied']} tensors copied, "
                     f"{self.warm_start['left']} left at their initial value")
        self.model.train()
        trainable = set(freeze_for(self.family, self.model))
        for module in self.model.modules():   # frozen stages keep their normalisation statistics
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and \
                    not any(p.requires_grad for p in module.parameters(recurse=False)):
                module.eval()
        self.perceptual = PerceptualLoss(train["scales"], train["loss_weights"]["perceptual"],
                                         vgg19_weights).to(self.rt.device)
        weights = train["loss_weights"]
        gan_on = self.family.uses_gan and (float(weights.get("generator_gan", 0))
                                           or any(weights.get("feature_matching", []))
                                           or float(weights.get("discriminator_gan", 0)))
        self.discriminator = None
        if gan_on:
            params = {"num_kp": config["model_params"]["common_params"]["num_kp"], **config["discriminator_params"]}
            if params.get("use_kp") and not self.family.has_keypoints:
                raise TrainConfigError(f"family {config['family']} has no keypoints: set "
                                       "discriminator_params.use_kp to false")
            self.discriminator = MultiScaleDiscriminator(**params).to(self.rt.device).train()
        named = dict(self.model.named_parameters())
        main_params = [named[n] for n in named if n in trainable and not is_aux_parameter(n)]
        aux_params = [named[n] for n in named if n in trainable and is_aux_parameter(n)]
        self.optimizer = make_optimizer(main_params, float(train["lr"]), train)
        self.aux_optimizer = make_optimizer(aux_params, float(train["lr_aux"]), train) if aux_params else None
        self.d_optimizer = (make_optimizer(self.discriminator.parameters(), float(train["lr_discriminator"]), train)
                            if self.discriminator is not None else None)
        milestones = [int(m) for m in train["milestones"]]
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones, float(train["gamma"]))
        self.d_scheduler = (torch.optim.lr_scheduler.MultiStepLR(self.d_optimizer, milestones, float(train["gamma"]))
                            if self.d_optimizer is not None else None)

        self.iteration, self.epoch = 0, 0
        self.resumed_from = None
        if checkpoint_path.exists():
            self._resume(checkpoint_path)

        full = GeneratorFullModel(self.model, self.family, self.perceptual, self.discriminator)
        d_full = (DiscriminatorFullModel(self.discriminator, self.perceptual.pyramid,
                                         float(weights.get("discriminator_gan", 0)))
                  if self.discriminator is not None else None)
        if self.rt.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.rt.device.index] if self.rt.device.type == "cuda" else None
            aux_names = [f"model.{n}" for n in named if is_aux_parameter(n)]
            if aux_names:
                DDP._set_params_and_buffers_to_ignore_for_model(full, aux_names)
            full = DDP(full, device_ids=ids, find_unused_parameters=False)
            if d_full is not None:
                d_full = DDP(d_full, device_ids=ids)
        self.full, self.d_full = full, d_full
        self.sampler = EpochSampler(len(self.dataset), self.rt.rank, self.rt.world_size, self.seed)

    # ------------------------------------------------------------------ checkpoints
    def metadata(self, finished: bool) -> dict:
        return {"format": FORMAT, "family": self.config["family"], "model_family": self.family.model_family,
                "config": self.config,
                "data": [{"name": c.name, "frames": int(c.num_frames), "path": str(c.path)} for c in self.clips],
                "steps": self.iteration, "epoch": self.epoch, "iterations_per_epoch": self.iterations_per_epoch,
                "world_size": self.rt.world_size, "finished": finished, "perceptual": self.perceptual.kind,
                "software": {"gfvc": __version__, "torch": str(torch.__version__)},
                **({"warm_start": self.warm_start} if self.warm_start else {}),
                **self.family.extra_metadata()}

    def _rng_states(self) -> list:
        state = torch.get_rng_state()
        if not self.rt.distributed:
            return [state]
        states = [None] * self.rt.world_size
        dist.all_gather_object(states, state)
        return states

    def save_checkpoint(self, finished: bool = False) -> None:
        rng = self._rng_states()
        if self.rt.main:
            state = {name: getattr(self.model, name).state_dict() for name in self.model.network_names}
            if self.discriminator is not None:
                state["discriminator"] = self.discriminator.state_dict()
                state["optimizer_discriminator"] = self.d_optimizer.state_dict()
                state["scheduler_discriminator"] = scheduler_state(self.d_scheduler)
            state["optimizer_generator"] = self.optimizer.state_dict()
            state["scheduler_generator"] = scheduler_state(self.scheduler)
            if self.aux_optimizer is not None:
                state["optimizer_aux"] = self.aux_optimizer.state_dict()
            # plain JSON types only: the file loads with torch.load(weights_only=True)
            state.update({"epoch": self.epoch, "iteration": self.iteration, "rng_states": rng,
                          METADATA_KEY: json.loads(json.dumps(self.metadata(finished)))})
            buffer = io.BytesIO()
            torch.save(state, buffer)
            atomic_write_bytes(self.out / CHECKPOINT_NAME, buffer.getvalue(), what="checkpoint")
            marker = {"iteration": self.iteration, "epoch": self.epoch, "finished": finished}
            atomic_write_bytes(self.out / MARKER_NAME, json.dumps(marker).encode(), what="checkpoint marker")
        if self.rt.distributed:
            dist.barrier()

    def _resume(self, path: Path) -> None:
        try:
            state, _ = read_checkpoint(path)
        except CheckpointError as exc:
            raise TrainingError(f"cannot resume: {exc}") from None
        meta = state.get(METADATA_KEY, {})
        if meta.get("format") != FORMAT or meta.get("family") != self.config["family"]:
            raise TrainingError(f"cannot resume: {path} is not a gfvc-train checkpoint of family "
                                f"{self.config['family']}")
        if meta.get("config") != json.loads(json.dumps(self.config)):
            raise TrainingError(f"cannot resume: {path} was written with another training configuration")
        if meta.get("world_size") != self.rt.world_size:
            raise TrainingError(f"cannot resume: {path} was written by {meta.get('world_size')} process(es), "
                                f"this run has {self.rt.world_size}")
        for name in self.model.network_names:
            getattr(self.model, name).load_state_dict(state[name])
        self.optimizer.load_state_dict(state["optimizer_generator"])
        load_scheduler_state(self.scheduler, state["scheduler_generator"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["optimizer_discriminator"])
            load_scheduler_state(self.d_scheduler, state["scheduler_discriminator"])
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(state["optimizer_aux"])
        self.iteration, self.epoch = int(state["iteration"]), int(state["epoch"])
        self.warm_start = meta.get("warm_start")
        torch.set_rng_state(state["rng_states"][self.rt.rank])
        self.resumed_from = self.iteration

    # ------------------------------------------------------------------ log
    def _open_log(self, names: list) -> None:
        path = self.out / LOG_NAME
        rows = []
        if self.resumed_from is not None and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.reader(f)]
            header, rows = rows[0], [r for r in rows[1:] if int(r[0]) <= self.resumed_from]
            if header != ["iteration", "epoch", *names, "objective"]:
                raise TrainingError(f"{path} has other columns than this run's losses")
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["iteration", "epoch", *names, "objective"])
        writer.writerows(rows)
        atomic_write_bytes(path, text.getvalue().encode(), what="loss log")
        self._log_file = open(path, "a", newline="")
        self._log_writer = csv.writer(self._log_file, lineterminator="\n")

    def _record(self, batch, losses: dict) -> None:
        if not self.record_samples:
            return
        digest = torch.cat([p.detach().flatten().cpu() for p in self.model.parameters()])
        import hashlib

        line = {"iteration": self.iteration, "samples": batch["sample"].tolist(),
                "weights_sha256": hashlib.sha256(digest.numpy().tobytes()).hexdigest()}
        with open(self.out / f"samples-rank{self.rt.rank}.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        names = None
        bs = int(self.train["batch_size"])
        start = time.perf_counter()
        trained = 0
        first = None   # (time, samples) after the first iteration: the steady throughput leaves it out
        if self.resumed_from is not None:
            self.log(f"resumed at iteration {self.iteration} (epoch {self.epoch})")
        stop = False
        while self.iteration < self.total_iterations and not stop:
            epoch = self.iteration // self.iterations_per_epoch
            step_in_epoch = self.iteration % self.iterations_per_epoch
            self.epoch = epoch
            self.sampler.set_epoch(epoch, step_in_epoch * bs)
            loader = torch.utils.data.DataLoader(self.dataset, batch_size=bs, sampler=self.sampler, drop_last=True,
                                                 num_workers=self._num_workers, pin_memory=False)
            for batch in loader:
                if self.iteration >= self.total_iterations or self.iteration // self.iterations_per_epoch != epoch:
                    break
                torch.manual_seed(step_seed(self.seed, self.rt.rank, self.iteration))
                losses = self.step(batch)
                self.iteration += 1
                trained += bs * self.rt.world_size
                if first is None:
                    first = (time.perf_counter(), trained)
                if names is None:
                    names = sorted(losses)
                    if self.rt.main:
                        self._open_log(names)
                values = self._average([losses[n] for n in names])
                self._record(batch, losses)
                objective = sum(v for n, v in zip(names, values) if n in self.objective_names)
                if self.rt.main:
                    self._log_writer.writerow([self.iteration, epoch, *[f"{v:.6g}" for v in values],
                                               f"{objective:.6g}"])
                    self._log_file.flush()
                if self.iteration % int(self.train["log_every"]) == 0 or self.iteration == self.total_iterations:
                    rate = trained / max(time.perf_counter() - start, 1e-9)
                    self.log(f"epoch {epoch} iteration {self.iteration}/{self.total_iterations}: objective "
                             f"{objective:.4f} ({', '.join(f'{n} {v:.4f}' for n, v in zip(names, values))}); "
                             f"{rate:.2f} samples/s")
                end_of_epoch = self.iteration % self.iterations_per_epoch == 0
                if end_of_epoch:
                    self.scheduler.step()
                    if self.d_scheduler is not None:
                        self.d_scheduler.step()
                every = int(self.train["checkpoint_every"])
                time_up = self._time_is_up(start)
                if (end_of_epoch or (every and self.iteration % every == 0) or self.iteration == self.total_iterations
                        or time_up):
                    self.epoch = self.iteration // self.iterations_per_epoch
                    self.save_checkpoint(finished=self.iteration == self.total_iterations)
                    self._hold()
                if time_up:
                    self.log(f"time limit of {self.time_limit:g} s reached at iteration {self.iteration}")
                    stop = True
                    break
        elapsed = time.perf_counter() - start
        if self.rt.main and names is not None:
            self._log_file.close()
        steady = None
        if first is not None and trained > first[1]:
            steady = (trained - first[1]) / max(time.perf_counter() - first[0], 1e-9)
        self.log(f"trained {trained} samples in {elapsed:.1f} s ({trained / max(elapsed, 1e-9):.2f} samples/s; "
                 f"after the first iteration {steady if steady is None else round(steady, 3)} samples/s); "
                 f"checkpoint {self.out / CHECKPOINT_NAME}")
        return {"iterations": self.iteration, "samples": trained, "seconds": elapsed, "steady_samples_per_s": steady}

    def _hold(self) -> None:
        """Test hook (--hold-after-checkpoint N): after the checkpoint of iteration N every process
        writes ``held-rank<R>`` (its process id) and blocks until it is killed."""
        if self.hold_after_checkpoint is not None and self.iteration == self.hold_after_checkpoint:
            atomic_write_bytes(self.out / f"held-rank{self.rt.rank}", str(os.getpid()).encode(), what="hold marker")
            threading.Event().wait()

    def _average(self, values: list) -> list:
        tensor = torch.stack([v.detach().float().reshape(()) for v in values]).to(self.rt.device)
        if self.rt.distributed:   # on the process's device: nccl reduces CUDA tensors only
            dist.all_reduce(tensor)
            tensor /= self.rt.world_size
        return tensor.cpu().tolist()

    def _time_is_up(self, start: float) -> bool:
        """Whether --time-limit has passed; rank 0's clock decides for every process, so that all
        stop at the same iteration."""
        if self.time_limit is None:
            return False
        up = torch.tensor([float(time.perf_counter() - start >= self.time_limit)], device=self.rt.device)
        if self.rt.distributed:
            dist.broadcast(up, src=0)
        return bool(up.item())

    def step(self, batch: dict) -> dict:
        batch = {k: v.to(self.rt.device) for k, v in batch.items() if k != "sample"}
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)
        terms, out = self.full(batch)
        total = sum(terms.values())
        self.objective_names = set(terms)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        losses = dict(terms)
        if "bpp" in out:
            losses["bpp"] = out["bpp"]
        aux = self.family.aux_loss(self.model)
        if aux is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
            aux.backward()
            if self.rt.distributed:
                for group in self.aux_optimizer.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            dist.all_reduce(p.grad)
                            p.grad /= self.rt.world_size
            self.aux_optimizer.step()
            losses["aux"] = aux
        if self.d_full is not None:
            self.discriminator.requires_grad_(True)
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss = self.d_full(out["real"], out["generated"], out["kp"])
            d_loss.backward()
            self.d_optimizer.step()
            losses["discriminator_gan"] = d_loss
        return losses
