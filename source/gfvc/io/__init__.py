"""gfvc.io: sequence files, JVET file names, colour conversion, container video."""
from .colour import DEFAULT_MATRIX, MATRICES, rgb_to_yuv420, yuv420_to_rgb
from .errors import SequenceError
from .sequence import (
    SequenceName, Yuv420, atomic_write_bytes, count_frames, frame_size_bytes, parse_jvet_name,
    read_rgb, read_sequence, read_yuv420, write_rgb, write_yuv420,
)

__all__ = [
    "DEFAULT_MATRIX", "MATRICES", "rgb_to_yuv420", "yuv420_to_rgb", "SequenceError", "SequenceName",
    "Yuv420", "atomic_write_bytes", "count_frames", "frame_size_bytes", "parse_jvet_name", "read_rgb",
    "read_sequence", "read_yuv420", "write_rgb", "write_yuv420",
]
