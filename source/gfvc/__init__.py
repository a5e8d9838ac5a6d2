"""gfvc: Generative Face Video Coding reference software.

Key pictures are coded by a real HEVC/VVC base-layer codec; every other picture is described
by a GFVC model whose parameters travel as SEI messages inside the same Annex-B bitstream.
"""

__version__ = "0.1.0"
