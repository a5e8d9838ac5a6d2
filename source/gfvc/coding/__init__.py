"""gfvc.coding: entropy coding of learned latents (RDAC's residual coders).

* ``entropy_models``: EntropyBottleneck, GaussianConditional (CompressAI 1.2.4 state_dict layout);
* ``rans``: the rANS coder, byte-compatible with CompressAI's, and CDF quantisation;
* ``default_gaussian_tables``: integer CDF tables of the default scale table (generated data);
* ``errors``: EntropyCodingError, EntropyTablesError.
See doc/coding.md.
"""
