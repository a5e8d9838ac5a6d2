"""Test plugin: the DAC codec, reporting in each cell's metadata its process and how many models
that process has built so far (gfvc.codec.model_source.models_built)."""
from __future__ import annotations

import os

from gfvc.codec.face_codecs import DacCodec
from gfvc.codec.model_source import models_built
from gfvc.codec.registry import register_codec


@register_codec("counting_dac")
class CountingDac(DacCodec):
    name = "counting_dac"

    def code(self, frames, fps, rate_point, workdir):
        result = super().code(frames, fps, rate_point, workdir)
        result.metadata["process"] = os.getpid()
        result.metadata["models_built"] = models_built()
        return result
