"""gfvc.coding: face parameters in GFV SEI, and entropy coding of learned latents (RDAC's residual coders).

* ``face_parameters``: per-family FaceParameterCoder (parameters <-> GfvMessage), get_parameter_coder,
  encode_parameters (closed loop), encode_parameter_run (optional entropy-coded runs);
* ``reference_coder``: the reference software's parameter coder, for rate comparisons (and its benchmark);
* ``entropy_models``: EntropyBottleneck, GaussianConditional (CompressAI 1.2.4 state_dict layout);
* ``rans``: the rANS coder, byte-compatible with CompressAI's, and CDF quantisation;
* ``default_gaussian_tables``: integer CDF tables of the default scale table (generated data);
* ``errors``: EntropyCodingError, EntropyTablesError.
See doc/coding.md.
"""
