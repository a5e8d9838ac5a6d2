"""CDF tables of GaussianConditional for CompressAI's default scale table (generated data).

The 64 tables depend only on the scale table (``default_scale_table()``: 0.11 .. 256, 64 log-spaced
levels), the tail mass (1e-9) and the 16-bit precision, not on any learned weight. CompressAI builds
them at run time from torch's float32 ``erfc``, whose last bit differs between CPU code paths
(scalar, AVX2, AVX-512, ARM): a different bit can move a quantised CDF entry by one and change the
bitstream. Shipping the integer tables makes every machine code with identical tables. They were
generated here (torch 2.13.0, x86-64) by ``GaussianConditional._gaussian_tables`` and equal the
tables the RDAC reference used (its fixture's rANS bytes are reproduced exactly);
tests/test_coding_entropy_models.py recomputes them and checks they still agree.

Encoding: for each table, the symbol frequencies (CDF differences, 16-bit little-endian) of its
``length - 1`` symbols, concatenated, zlib-compressed, base64. ``OFFSETS[i] = -(length - 3) / 2``.
"""
from __future__ import annotations

import base64
import zlib

import numpy as np

#: float32 bit patterns of CompressAI's default scale table, exp(linspace(log 0.11, log 256, 64)) as
#: torch computes it in float32 (stored so that the CDF indexes cannot depend on a libm)
SCALE_TABLE_FLOAT32_BITS = (
    0x3de147ae, 0x3dfec793, 0x3e101230, 0x3e22efc7, 0x3e3845c8, 0x3e506704, 0x3e6bb124,
    0x3e85470a, 0x3e96bacd, 0x3eaa779a, 0x3ec0ca0e, 0x3eda08ca, 0x3ef695cc, 0x3f0b6ff2,
    0x3f1db234, 0x3f325889, 0x3f49b318, 0x3f641c86, 0x3f80fdab, 0x3f91e1bd, 0x3fa4fc07,
    0x3fba96af, 0x3fd3058f, 0x3feea77c, 0x4006f3dc, 0x40189fc7, 0x402c9c16, 0x4043365c,
    0x405cc651, 0x4079af2f, 0x408d3097, 0x409fad98, 0x40b4965b, 0x40cc3c0e, 0x40e6fa78,
    0x41029cb1, 0x4113b71b, 0x41270edd, 0x413cef07, 0x4155ac83, 0x4171a758, 0x4188a610,
    0x419a8ad8, 0x41aec774, 0x41c5aa71, 0x41df8ca9, 0x41fcd28b, 0x420ef6dd, 0x4221af59,
    0x4236db65, 0x424ecd30, 0x4269e1a0, 0x428440f0, 0x42959263, 0x42a9285d, 0x42bf4eec,
    0x42d85c06, 0x42f4b0de, 0x430a5dbd, 0x431c7c18, 0x4330f9ce, 0x43482672, 0x43625beb,
    0x43800000,
)

#: number of valid entries of each CDF row (symbols + escape + 1)
CDF_LENGTHS = [5, 5, 5, 5, 7, 7, 7, 7, 7, 9, 9, 9, 9, 11, 11, 13, 13, 15, 17, 17, 19, 21, 25, 27, 29, 33, 37, 41, 47, 51, 57, 65, 73, 81, 93, 103, 117, 131, 149, 167, 189, 213, 241, 271, 305, 345, 391, 441, 497, 563, 635, 719, 811, 917, 1037, 1173, 1325, 1499, 1695, 1917, 2167, 2449, 2769, 3133]

#: sha256 of the (64, max_length) int32 little-endian ``_quantized_cdf`` buffer these rows form
QUANTIZED_CDF_SHA256 = "482d4620b3eb5802ce87f395fc613344f81fa5e5bfeeedae43cb3416ad9eb947"

_FREQUENCIES = (
    "eNrtXQm8jdX6ftf37b3PPrPjHNPB0TGFjOEYrpMxkVmmlEIopSNzKPOQUkpREqGIpEyRhG6SKKEbIoUmlyh1G+RW/s9a61t7"
    "re/b+1T33v6N3+/9ndtu72+t9b7vWut9n+fZ+97L6PvzjLh9d97CfybR8fNJ+GcOzTxfR7y/kh7+YQ3JZ3aw/t+9xuTrPfbV"
    "Z/fa8jXF/ftzK06+viWx+InBicwZEZd24t3ENPVvjGYWObBnZhH1b8n0bNatLz2blYzXfPX6lFq+/5rU8g0iz2+h8lWqP16+"
    "youk5/iYjajZeNaImh8z/V6IvrGn1v10ytS639iJxrNVqGgcNbh5JDUoGlfDeJ/RQroocUvukQFbci9KXOi8F3T+mUDz2O7U"
    "t3O79Ho7d3fqPJbmGsmoKXWzh2dMbLC3y8QGwzO62U09n6fQq3Q4OLtocv3L2yTXn130cPBVvKc8VU81oH3sq/DO4q/nPNvs"
    "9Zydxb8K72M6cjOKQrSWJtiXJH1QMrGmnZtY84OSlyRNsNdSMc+6kaxTN5rPNgRbpb6bFV/tgpz4au9mtUrdEJzPukX88JpN"
    "deg4Jdi1w9vSDmedrfRdtbOVDmdtS6sdTrCP47OEfMbxkZXoETrGjgQWJoxJL5D1XflJlb4rXyBrTPrChCOBY+wRfJ7/aGnl"
    "aTR1Y03s90MrkwZkrCxRpcySclXKrCyB10nvh5rY3dhoPBPvGVU4ap4wVaTBlMmGWh8HdoXrpDyecSZzbqnO2XNLncl8PKNO"
    "yq7wx4GhViYbjOdSfsInZUlUjYYQsQRrr31fqE9CdmrTjG+KtioxrmSrEt8UbZqRndon4b7QXjsBR3gIni0Yc5asmO8GqTjO"
    "wTg6T4dYfbtZMDk8LXFU6rD0E4WbFSue2azYicLD0kelTktMDjcL1rcPsfN4tgHGJP5M35Wl04XUlmZREtvJTlhjA3NCNeOr"
    "J3VNvbLgoYxJhYsVmVT4UMaVBbumVk+qGT8nNDZwwtrJktgsjLkQY4P/4WrS4hFzPbqeVlFZtpu9ZMUHngouizsTf13SvpQC"
    "ae8UDGXkZYQy3ilYIG1fynVJZ+KXxT0VjA+8ZO1mZdkqjKuH8ak/ukKFn/ShAJWki6kTTaMD1IJ9xJ6zttuFgotCfcItE+om"
    "paWsST1X4LW09IKvpZ0rsCY1LaVuUsuEPuFFoULB7fZz1kesBTuAsZ0wR0nM9d/lwXtCCyKuGtSGRtBqCrAhLGBtshbZqwOn"
    "g63jtsGvbYllkzuk1Evdmfod/uqldkgpm7wtEe+HW8edDq4OLLI3WQEL49hqzNEGc2VhzsRfwDfTUqkIlaHaOAGDaRF9QHXY"
    "Y6yitcuaYQ8MDAhOCC2NOxC2Ey5IzE46mzQ3maWUSWEpc5PPJmUnXZBoJxwIL42bEBoQHBiYYe+yKlqPsTrsA8wzGPPVxrxF"
    "MH/cL+yxWX8zkJOLKJc60zBaQPtREQay/ayDdcyaYjcKJAdPBPeENsUtC0+PvyahSOLKxNJJ/ZPG46900srEIonXJEyPXxbe"
    "FLcndCKYHGwUmGIfszpY+zFHJtuP+YZh3lzMn4V1UlD/2P+7BURMJXEbc6gl9aKxtARRFWCd2VIWtkZYX1nj7eKBvwcGBS8M"
    "HQvNiWsd/jJ8d3xawu0JuxJ+SEhN/AH/vD0hLeHu+C/DrcNz4o6FLgwNCv49UDww3v4K48PWUsxVANEtwdy9sEYO1iop4kv4"
    "FeKLdXMLI78XUi1qhm52C92D2/IupbJWbAZ7j+VYc6ygfZt9zh6P3ZwXrBraHLo8bndcy/D6cKH4XvFz4jfGv4K/OXhdKH59"
    "uGV4d9zlcZtDVUPzsKPjA+cwNmjPsXKs9zBfK5bK3sX892CdblivFtbNwvoF/scz2v4XvI0ZlEmlqTI6cXPqSgNoEhDMVvqE"
    "isL7KWw7S7WusdZaafYQ+x27RWB9oELw4WBCaEToSKhR3Jy443EVw9eEJ4fnhR/H32S8rhg+jvcbxR3BMwmhh4MVgusDLQLv"
    "YHyavRZzpVrbMW8rVpR9gnUWYr0BWLc51q8MPzLhT+ovUg+59fyFz048Tm1B7F8JeFoJu9kQVbIHDUQM82gDHaIfqDzrhOhe"
    "YGdZPWuM9apVyL7e3mgXDNwY2BooHhwc3B4sGuoTejJ0IpQd1y5uWNyMuAVxi/E3A6/bxWXHncBnfUJFQ9vxbPHgVowrGNiI"
    "OQrZr2K+etZZzD0Fa5RnP2C9DVh3EtbvAT8awp9K8KsE/CsIPxN/k9v131kc/E3DzhfD7SiLc1CLLkGl6EJ9aTi65KP0HP2D"
    "PqeCqPXXsDvZc+wkK2V1te639uBcXmE/aB+2swP9AssDnwaqB/OCy4JHg+mhhqHrQ1NDC0NrQ1tCW/G3Fq+n4r2GofTQUTyT"
    "F6we/BRj+gWyA4cxxxU4n3swZ1erlHUSa9yJteqwguxzrP0cfJgGX/rCp5bwrRZ8LAtfi8HntD9Yrn8ckfJdKIr6XBoYqBru"
    "ZEO6HD2pN+rXOJpJi2kjvUmnKIzz15z1Z/ewdewoS8K57G/Ntd6wLLuunWc/bh+yCwQuDYxEdt8JhIM1g92DY4LzgxuCe4Lv"
    "Bz8LfhP8Fn+f4fUevDcfn3XHM+HgO3h+JMYVCBzCHHmYy7LfwLz9MX+SdRRr3YM1m2PtMDsFPzbCn5nw6xb41xl+NoS/1eB3"
    "afhf1NmZXy93U3/DfUtBR0kH9snEmSwDBlINWCiXLqV2dCX1oUE0hu6m+fQM6u0BOk1BVorVZ13YMPYAcvo2+56Vtlpag9D5"
    "tlqnrSJ2Y3uAPdveYv8Tu5gTuCowJvBoYFPgYOCLQHywRLBysG6wcbB5sAX+GuN1ZbwXH/wCn2/Cc2PwfA528J8YPxvzNLaL"
    "2Kcx7xzM39IqbX2P9dZh3WFYvz78CLLT8GkrfJsPH8fA1z7wuR18z0UM1RBLGcSUidjSEeOvg4li20O/kztq45bK/S6EU16C"
    "SiFDFagKmERd3IDmwMFdgbNuQrWaQPciqytoE71BR+lfuLUlWS3WmvVlY9gc9ix7k51hKVZVq42VZ82wVlp7rS+sdLuW3cke"
    "at9vr7J32yftYCAL+9kqcG1gUGBc4J7AnMDCwFLc0xX4W4rXc/DeOHx2LZ7JwbPBwEmMW4XxQzFPLTvd/gLzrsT8eVinqpVi"
    "ncG6z2L9MfCjNfwpidv8L/j3BvxcAX/vhd/D4X8vxNEW8TREXBcjvgqIsxTiLYq45VlI+t3U3cTfdU1PBqJKc85LcdymbCqH"
    "e8VPTB3csqaonB1w53rRjTQUN3AaPQAmsgLVdScdpBN0jhKxRzVYM3Yly2OT2Fy2mu1g77NzLN2qYjW3elqjrAesp4F1jln/"
    "xvmpbDe1u9u32JPtOfZT9machvfsU/ZZ2w4kBzICmYFS6Lel8VcKrzPwnh04i8/fw3Ob8fwcjLsF45tinnT735jzVcz9ANbo"
    "ibWqWOnWOay9Az7MhS958KkZfCvJEtk5+HoQPm+E7wsQwzTEMhQx9UJsHRBjU8RaR5ykiog/G3ko7pylNOQnGXmK/93uYYE/"
    "HJJIREZ5lZLnjncmXqlKi5NXmaqjttfHzW6GfWkPTNUDyOpmsN8x6KL30VxwxVWoBjvARD8A7iOwqCxWlTVk7VkvNoRNZg+x"
    "5Wwz6sjHOIUp6Co5VivrWmuINRVo4Wnr79Zb1nHrrJVgZ9qV7Hp2C7uz3Rt44lZ7gn2XPRNnbL69yF5sP2Evxd9ivJ6P92bi"
    "swl4Jg/PdsaYehibaSfYZzHXW5jzacw9FWtci7VysGYKTuLH8GEzfHkIPg2Bb+3hY1X4mooUfA7f9yOGTYhlCWK6D7GNQYw3"
    "I9YeiLk9Ym+GHNRHLqojJ/xUlhYVjnc7eS55lUtGLgN/Enz5R7REUUHVWc4AuyqKHSopTnNZ8PmLqCqqSm2qB17QhC6j1tQR"
    "nasHcMyNQDMjgU/vwN4/TI/RU7SOXqTXcCqOAYV9CxxWEAioMnBQC6ChvjhBE9hMtpCtZC+yPcDVn7HzYN+lrGrWJVZbq4c1"
    "wBptTbMetBZbq60t1uvW29YH1qc455adiFqZaWfbF6Jq1rBrAznXt/8mrD5e18Z7lfFZNp5Jx7MWzvSnGPs25tiCuRZjzmmY"
    "ewDWaIu1qmHNVOs81j8KP16EPwvh1wT41xd+toC/leF3QWC3bxHHMcTzGuJah/geQ5z3Id5xiHsQ4u+DPHRFPlojL02Qn3rI"
    "08XI10XIW1lx2ksil0WR0wzjvPO+HvRP3h+QPUqswW9KQewor/vF0GX5XckGeisPDMdvSw2cgrrUgBqh/rXA2eiAangV9aR+"
    "QH2D6FZUyck0ne5HzVxET9IadPSXaRdO2VE6SV/SD8Cx6aixFYEdG7FWrCu7jg1ko9lUdj9bwJ4Cc9/G9rL32En2NbNQpTOt"
    "8lYNK9dqYV2B830DeMhoa5J1tzXbmo+Tv8JaYz2PW7DN2gH+uheV/oB10DpkvSPsEF4fwHt78dkOPLMFz67BmMUYOxtzTMJc"
    "gzBnD8zdAmvUwFqZWNOyvsb678GPbfDnKfh1P/wbDT+vg7+t4Hct+J+FOMLsB8R0ErHtR4wvI9Y1iHkRYr8fOZiMXNyKnNyE"
    "3PREjrogV62Rs2bIXQPksDZyyW9TBeS2DHLM71Nx5Jz3jwzsAb9REtsk/Wk0ij8yFv91NTXVudSN5EiMdy95J7PoAqeDVXRu"
    "ZU3KQYXm97Ip6nUrsPArUL35zexL/SkPaHokjaVJdCc42oM0jx6n5bSaNqD2b6fdYPFH6Dh9RmeB1+LRHYqzsqwKy8FZb8mu"
    "YFezfjj9I9lENp3Nxn1YxtawTewVtpsdBJ7/hH3JvmdB3JzCVhbuUFWrttXAampdbrW3ulhXW72sftZN1kCgrxFgArdb46wJ"
    "uHuTrSlAZNym4PUkvDcOn43CM0Pw7E0Y0wtju2COyzFXA8xZFXNnYY0UK2h9jzU/wdoH4cMr8GUNfFoA36bDx5HwtR98vgK+"
    "N0IMVRBLccQUj8SeRYzHEesBxLwdsW9ADpYjF/OQk3uRm0nI0UjkKg856ytubVfksR3yeRnyyu9tPeS5pnNzKzqd8ALsh7y7"
    "vBty9Kdur+qI/rn27X9DsGYl4Di2iECyxcE4eC3gHbqcUw2qUDXgtFrgy7weNAR2uxRdh1eEjuhB3ekasOp+wHd5NJhG0G3A"
    "e5NFVZgF/LeAFuM+rKL1YD5bwcf34Ka8Sx/SJ/QFMC+xOJbCCoGxl2UXsZrAkk3Y5awDeHxPdgNu3Qg2lk1hd7NZ7BH2GJjV"
    "arYBCPQVtou9xQ4Bjx5np9gX7CyqhW2FrWQrDbc5E3e6tFXOqmhVxg2vYdXETa9j1bPqW3+DNRDGX9XHe3XwWU08UxXPVsSY"
    "0hibiTnSMFfYslEVzmL+U1jnKNZ7C+u+gvU3wI/l8OcR+HU3/BsLPwfC357wuwP8b4I4aiKesoirEOLjP1n6FvF+grjfRfx7"
    "kIetyMd65GU58rMAeZolqsVk5O425HAwcnkjctoLue2OHHcUFaMF8t4E+ec1ow7242LsSxWnapQTHZ/XjRLYQ46iizg4WlcO"
    "v3b8VfSWP1Y18tYjWZEUOlE1ibMGjlBUVaqMjlldcG1el/4GPsmRSnNRmdoCGXdCp+0OxtkLvPMGYOaBNAQ3azT68USaSnfh"
    "vj1Ac9CnF9ET4KqrwFg3on9vEzVqHx0CBv8IN/Zz+pq+IwvIPAX4vBiYbjnc7BqsDstlTYEH2rFOrDtufj82gA1CHbgNzHgq"
    "qsJM9iDqwyK2BJViJXsWNWMzewnVYyd7g73J9gFnHGZHgDc+Qm05iQrzKTuDSvMl+wo85RtUnW9h54TxV2fx3tf47Es8cwbP"
    "nsKY4xj7PuY4jLn2Yc43MPcrWGMz1noWay7H2ovgw4Pw5W74NAG+jYCPA+BrT/jcCb63RAy5iKUGYiqH2IohxhTEarHvEPfn"
    "iP8j5OEQ8sFr1jbkZyPytAr5egJ5m4f8PYA83oV8TkReRyO/Q5Dnm5DvPsh7D+S/K/ahA/aDV6/mAvFcgr3i9Ytz/+rYw8qR"
    "CsaRD2ctqoYp9COrmLeOSQ4T598hv+b96S0YqZOSwclKmWZUSonfiolaWVJUS87nyuBOlRf1spKol9UEr6sNxlGX6gNHXEKN"
    "cScvBRe5nFoDY/Cq2YWupKvpWuoNvsLrZh4NAn/hlXMMTQBCmUbTRe18iObSo/QYKsFyeobW0HP0AurDy7SDdtGbtB9V4wh9"
    "QP+kU6KGnqPzZKOyJLM0VhjsqRTQUUUwqYvBp/7GGrJmrAVrA/TUGRjqGtYbNepGlscGs+FsFLudjWeT2R3sLjYDtWwWe4jN"
    "ZfPZQiCwJWwpe5KtYM+wVWBsa9k6th7V73m2kb0ADrcZtsVl/J1N+GwjntmAZ9dhzBqMfQZzPIm5lmDOhZh7LtaYhbVmYM07"
    "sPZ4+DAKvgyGTzfCt97w8Ur42gE+t4DvDRFDDmKpgpjKIrbiiDENsYaZzc4jdl5LTyEXHyAnh5CbN5GjHcjVi8jZc8jdM8jh"
    "E8jlo8jpQ6KmTkeeJyPfY0RVHYo9yBN1tS/25Vrsz5XYJ15Z22HfLsf+XYp9bIz9bIB9rYv9rS04ZTVRXyuJ+loeZ6GM4Jal"
    "BLss4fDLIuL0FIpgRVllJdNUddZHjL759kv/ciMxRlU3EbCs7Lyuaxysanu2qO3lItWds3SOh3l9ryXqO8fEuWCLjcAZmwlc"
    "zGt8W2pPV1Bn4DJe5Tlzvw48k9f5m+kWoLfhdKuo9ONpElDdnXQ3atH9NFsg5QWoUEvoSVpBK2kt2OtG2kwvARXuoNeBD/8B"
    "ZvsOvUfvAzOeoNN0hr6ks/Rv1H2LhViCqPwZrKio/aVZeVTKyqw6eHIO2HIuawQk2hx4tDVQaUdU1m5AqD2AU3uzvux61h+o"
    "NY/dgvo7FFX4VtTi0ajIY9k4VOaJbBIq9BQg3Dtg09idsLuijL87TTwxFc9OxpiJGDsOc9yOuUZhzuGYezDWyMNa/bFmX6zd"
    "Ez50hy+d4VM7+NYSPjaFr7nwOQe+V0cMFRFLaVHziyI+XvUTEK+Fuv9vxP8l8nAa+fgIeXkP+TmAPO1BvnYgby8hfxuRx7XI"
    "5wrkdQnyu0Cg6tnI+b3I/Z3Yg0nYC94FbsXeDMEe3Sz6QD/sG1cHeCfoiv28AvvaVvQCjrObYc8bYe9zBdbm/aCW6Accb3PF"
    "QHWEcqInZLt6gsTdsi8UEqdQo+9YncHvDX8GS/dz4Jvzq3bdlZQu4+5MknPI3lTE6U3e7pRtsI8KToeSDET1KK7bcBbCuxTX"
    "biQTkX2qFbURbIR3qi7UjbqLXtUTNa8vXU/9nW41WPCSkaJfjRPchHes6TSDZgJDP4g6+ggQ9UJ6HNh6GT0FlL1a9K3naROQ"
    "N+9cr9Jr9AbtRU3eTwfpMND5+/QhHaeTon99QV+JDvY9EXB8EGg+EdW9AEtnhVDrM1lJVP1s4P3yrAK7CNi/GquBnlCb1WH1"
    "wAdywQoao1s0Q89ogc7RCv2jDbpIe7CGjqwTekoX1hW9pRuYRHfYVexqYT0cu0aY+jf52VXiySvFqK4Y3xnzdMR87TFvG8zf"
    "Cuu0wHrNsG5jrJ8LP+rBn9rwqwb8qwI/K8DfsvC7FPzPRByFEE8BxJWI+IKM/1dtvxed6yvEz3vXSeTjQ+TlCPJzEHn6B/L1"
    "BvL2quhgLyKXz4sethr5fQp5fgL5Xoi8P4L8P4h9mIn9mC46Gecz40QvGyk4zWCnm/XHnvbF3vYU/aw79ruL6Gic3bTBWZA9"
    "TTIcrh/xrsZZDteQVF+r5ihJvLNVMNhOdlR3y3RYj+xvkvdEd7gU5/z7Xc43Xxfz7f/7WxDZc71dV/Xd6M6reaFihqr7yv7L"
    "u69miLoDV/H04JxIF27gsEXehzlfvIxaCsbIO3F76mj04quoB10L9tGb+gjueKPoxwNpEPjJMKcj305jwVsmip48je4Cl5lB"
    "94HVzKKH6GH0hvlgOotosejMy8F+ZG9eR8+BEW2iLfR32kqvoMfsBFeSHXofuNNBwTCPii79Mf0TvekUfSo69Zf0NXrWOfqO"
    "fkC3tlgAvSyOxaOrJbEU9Lc0dLkMVpgVYcXQ9Uqg92WxC9AFS7MyrBw64oXoixVZJfTHyuiSVVhVdMvqsBqwi9E9udUSVjum"
    "yc/kcxeLUXx0NczDZ6uMeSth/gpYpzzWK4N1s7F+FvwoAX+Kwa/C8C8dfhaAv0nwOx7+BxGHhQPyA+I6h/i+Rpy8K3+KuE8i"
    "/o9FZz4qmOVB5Gef051fR95eRf62Io9bkM+NyOs6p0evQL55l16M/C/APjyC/XgI+3I/9mcG9uku7Bfv1ROxf2Oxj7JbD8Pe"
    "DsIe8359o+CffbD/vXAOeuA86J7dEWeFd23ORFviDHEuKvs2Z6MNIp07x9O7q3i6t2SmsoNfIE617OCKoWqOGt3FdR/3dnKt"
    "ZVq/0X/f2Lc/pyX7OfDtD/Rb0FiIQzN9jTkU6jBxR5EI7uDIQ/J+E3so7q/Rhxd/SARysQuD1BPfSHItQKKQJo4ecJmjCCgk"
    "wlWBTkLB7kZXovdwZUCiEa4OcDwi9YE8sEuOSIYKTZtjktuETiBRyRS6A5xU4RKuF8wWisFcmudgk8ccdPIkWO3TtJJW0Rp6"
    "ViCU5+kFB6O8RC+jy26nHeDDHKfsEUjlLbBkiVUOozMfoWPo0R/QRwKxnBCY5bRALZ+jl/8LPPtr+ga9/VuBXr4HfjkPBMPQ"
    "9y2wcY5jQkACcWDn8SwBligwTTIsRVgqrIBjaT9q6ik+Qo7lsySJGfnM8ViDrxQSuMMWHvD/8avz8Ol7gUC+hZ/fwN+v4PcX"
    "8J8jkdMCi5wQaOQjxPk+4j2CuA87mGQ/8sFRyR6BS15DrrYjZy8jdxKbvIB8cnTyLPK7Cnl+Gvl+0kEojzkYZR72hasJs4We"
    "oHDKndjDKQ5S4brCbQKrcJ18qEArt+AMSH2B4xWuMEjEwlWGq3B2ugnlvJNQGhRqkWrDZY7e0MRBLpcI7FJfaOkau1zsoBcv"
    "ftEIxq1BSAwjdQilRGgtQuEYjWQ0ltGqRDSa8bUJ3/44VsTPgW++uZQfLxYz0ZiJx7QKpBGZicm8qMyNy6QqpHUhic2UNqTQ"
    "mdKHTHxmIjSpE7lRWrMITlOKUVsHqXV0YbXuEbTW01GPOF7j3+dwBWkAuvVA8a0Ox2xcR1KojWtJErdNEnrSHUJRmi6w271C"
    "VZLojStLc4W29KiD4B6nJcARS4EnlgsU94yD49YCbawH6tjgYLnNQCL8G6GtwCXbhO60g3YKTLcLqGW3wHVvCmS3T2C7t4Fs"
    "Dgl89y6QDsd4RwXK4zjvQ6AgjvWOwzje44jvJH0COyWQH8d+3D4Tdsaxzw37IsrMT9UIOV7OdVqgsFNilZMCjXE8xj34WHjz"
    "ocBlHJkdFdjsPfjN8dkhxPG2wGj7BEp7U+C03Yh5l8BqO5EHriNtQ162im97tiBXErNtQP7WI49rHdz2jEBuy5Hrpcj5EuRe"
    "ordHhcY0V6hMEsFxpelegeGmC7XpDqE3TXJwHNecFJLjuhPHcvybooE4HwOE+sS/L+J4TipQPSOIrrsL03V0UF3biBqlcF0z"
    "D7JTupRGdya+U/qUQnhKo5IYT+tUUqly4zwv0nNjPY32tHJl4j034ouN+XwdyzffGG6fnwPffPvtkazCsl4068azJqI1Ma3W"
    "GTWq1bjWi2xNbBuNbjW+1QhXKpAmxpUoV+mQCucqpHuJgXTdWFei3VYG3jURbxcX5u1hoN7rIrj3hgjyvdnBvoMi6He4wL+j"
    "HPw7xkHAExwMPMVBwVLBvMfBwTMFEp7lYOE5Dhqe5+DhhQ4iXuxg4mUOKl4BU8h4tYONuc6p8PHztFFgZIWSXxS651YHK28T"
    "+ud2oESOmSVq5riZI2eOnTl63i0QNMfQewWOflNgaWlvRWyfy/bHNPczeqyaTc4t19kjkOxugWbfEN68LjCtRLU7hMfbhRa5"
    "zcG3W4Um+WIE5XKcu1FkQGLddSIzHO+ujiBenj2Jepc5uHexg3wXOth3noN+5zj4d5ZAwDMdDHyPo2RKFDzFwcETHCQ8xsHC"
    "owQWHh5Bw4McPHxzBBHfEMHE1xmouIcLF3dxIWONjVs56NiNjzVCviSCkBVGVhqoRMkmTpZKqEbKGitHo2UTL0cjZo2ZNWrW"
    "GqmJm93I2Y2dveg5yahTfs32zbffzgr6OfDNN583eHiDZg5e7uBlD27+YDIIk0OYLELr45pHaCYRi0uUjeITilFcFGEUilPI"
    "3zW4WYXJKzSzMLmFm11IfqHUdMUwvBxDsQzNMzTT0FzDZBuab5iMw+QcinWMBN7UzMPkHpp9aP4hlfh7DBaieIhkIoqLSDai"
    "+IhkJJyTSFYieQlnJpKbcHbC+YlmKJyjcJbCecoqwVU4W+F8ZW2Es6wTvGW94C7PCf4i7XnHNkbsBY9t+lnmHaXnUyuoFeX6"
    "0hfpl+QOawV/WCO8l3GsFEziGRGhYhPLRfTLHE7xhMjMYpGlx0TGFjrsQvELyTAUx5AsQ/EMzTTucRR3zTc04zA5h2YdoxwV"
    "frg4HZp7mOxD8w+TgWgOolmI5iGKiXi5iGIjSq2XfMTNSExOolmJyUvczET/RkOp+JXFzVXsxMtPyubDUTRL0TxFa/smUzG5"
    "iputuPmKl7FEc5ZkoyZG85aAr/375ttf0or5OfDNN99+14zO5HSxWF0sZufldl52p/idm+FFczyT5Zk8z8v0JNfLj+2ZfK9S"
    "vpzPZH0m71PMz+R++hdUnP25+R9ngPIbJs0BNQvUPFD+uoozQfl9k+aCkg3K750kH5TfPXFGaHJCyQrlt1CSF2pmKLmh/D5K"
    "skPOD+W3UpIhco44UnBEyRI1T+RMUXNFzhY1X+SMkXNGzRoVb+TMkXNHxR45f3wgwiEVi3xIMEnJJTmblHySM8p5glXOd5gl"
    "55YLHH6pOKbkmdIej9hiw5Z47In/yryzmCvodZUnyjPlqfT7UYfZzRfsbp7D8B4RET/s8Lw5Tj4k21N87wHB+RTru09kdUaE"
    "+2n2d6fYiTsMDjhZ7JbigePFTiouKNngaMEGR4rdHyFOwjBxKoY4rFB+JyV5oWaGkhvKb6ckOzT5YU9xMq8Rp/RqcWK7i9Pb"
    "TZxkxRPld1YdxYlvL06/4oqaLWq+KL/BaiZuk8kZFWuU32WZvFExR5M7muwxP/5YycMh82ORpZ0642aSJpc02WQsPulmlIUi"
    "ldDNKqN5ZTSzzI9dJrmqtq7l/v/zhm+++ebzXt988823PyNLz4+nx2bqsdm65uvRjN3L2b2sXfF2N3N3c/do9h6LwXs5vMni"
    "vTxeM3nN5TWb13zezeijOb1i9W5er5i9l9ub7N7k9ybDVxzfZPmK55tMX3F9xfYV3zcZv+L8ivUr3q+Yv8n9Jfvn/F8pAEoD"
    "0CqA+qaYKwFSC1BqgNQDuCKgNQGuCkhdQCoDXBuQ6oDUB6RCwDWCKY5OIJUCqRVItUApBlI1mO4oB3dH9AOlIcyIKAn3RvQE"
    "bTM9dn++9sDPsvzHe1dy+6H90z6rKHRcMk4VtcrCtAhvv8PJlczb5AiDn+TkdoLD48c7uR/rsHnF529z9mqUwepvFTs6PPJt"
    "r2b3it8rhp/nnJMBLp6vmL7i+ortK75vMn7F+RXrV7zfZP6K+5vsX/F/UwEwNQBTBfDqAFoJMLUArQZE6wFuRUBrAloV0LqA"
    "Vga82oCpDnj1gWiFILZK4NYJ3EpBsUgVdasF0XpBtGJQ0Kjf0apB/spB/tqBVg9ClCDM77W++eabb/+Z+ZXTN9988803r17j"
    "Vmy8qo1bt8lPuTG1G1O90fpNLAVHazhaxYnWcZSS49VyvGqO0nNiKzpuTUeqOkrXiVZ2lLZjqjumvmMqPKbGo3+1IVUeU+fR"
    "So9X65Fqj1fv0YqP1Hy06qN1H638aO1Hqz9S/9EKkNaAtAqkdSCtBGktSKpBWg/SipDUhLQqJHUhqQxpbUiqQ1IfkgqR1Iik"
    "SiR1IlMpklqRVIukXiQVI6UaKd1IKkdSO1L6kdaQpIqklKRRhp4kFaXbIrqSsjGGjTVsnMfGx7AJP8Mm/qT9nFlire710PTe"
    "jMqMVudgtKHdjIooOFrFuTWSWZXpYYaiM9TZE7VDgyLazi3OPuZ5FJ4Bzr7fGNF5+jtn4/qI2qP1nj7OmertUn16OudPKT9a"
    "+7nKObNK/9EKkNaAtAqkdSCtBLV17o1Sg7QepBUhrQlpVaipc0+VMuTVhnKde+7Wh7RCZGpEtZ36oVQiUycylSJTK3KrRZWc"
    "GhatGJV36l7ZGLpRbOWoVKS6utUjr36UadRrr4ZUxKjzhX5ESUp3dY60mHpS/opSiqdvebtaYj7akq8u+eabb779da2MnwPf"
    "fPPNN9/+khpgtAro1QG9SqBbC/TqgW5FMD9N0K0LxlYGTW1Qq4Ox9EGtEGqNUKuE0TqhVynUWqFSC716oVcxVJqhUg3dvwlT"
    "uqFSDt3aoVs9NPVDr4YYrSLGUhJjqYmxFEWlKZqqoqkrurVFU110K4xujVGqjKbOqJRGqTUqtVHqjabi6FYdvcqj1B7d+qPW"
    "IJUKKXVIrUUqNVLpkVKR1KqkViaVNqn1Sa1Rap3SVCu1YnmzS7k09cuBLh3TtEFRNjhfG/JfmqnN/eeWvz/RvkfH547fzIw7"
    "ZzqXZoZ13vVe6P253qUSKqVQq4V9Irve29AMtW7YM3Jq1CnS+qHWEE0V0a0kutXEzpETfYWhKXZ0zr7WFdtFbojWFk110a0w"
    "mhqjW2d0K41NnLvsVRtjKY6xVMfYyqOpPXr1R7cC6dYgq0Qq3UVRv1vTSmSFSNV0q5FePbKMUYez81Elo3XJkkbNLx6lTsbS"
    "J4u6Okvhn1ApMzx9Kz+tMs3TB71dMuVHVcvkGH04MV/tMsEwH9P45ptvvvn2Z7McPwe++eabb7759hdWqWMr1bHU6mi9+qc1"
    "62jd2q1ce7Vrt3pt6tc/pmGbKrapY5tKtqllx1aztZ4dW9PWqnYsXVsr21rb1uq21rejFW7929hondurdGutW6ndXr07WvP2"
    "qt5a+fZq30r99urfWgP3quBKB1dKuFcL13q4UsS9mrhSxbUy7tXGtT6uFHKtkSuVXOnkWiuP1stNzVyp5lo5N9VzpZ+bGrrW"
    "0d1qutbTTVXdra27FXa3zu5W23tF6e69oxR40/rka31/0vr96vbTPuUfT6zoo3MUnUd3nt174N4fc+fce3qVR8l269la0zZ1"
    "7a7GudJnrZNH447WubXWrfXudsZ5b+NSvVsbd8Stfbc07tVlMTXwSyM3U99VtxbeOHK7G8ZUxHON+uDWxetHKopbG69j1CC3"
    "Qu7VyKN18upG7auaj1ru1ctNzTxaNb/QqM/lorTzskZtj9bPs42+EK2hu3X02Ep6cVd3KhZTTy/q6XOxNXWvrp4R1VUL/oi6"
    "nhajZ/+Uxh5LZ0/OB0fExhwKkdi+5u6bb7755ptvf3KrT/8HOiinbA=="
)


def scale_table() -> np.ndarray:
    """The default scale table as float32 (64,)."""
    return np.asarray(SCALE_TABLE_FLOAT32_BITS, dtype="<u4").view("<f4").astype(np.float32)


def tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quantized_cdf (64, max_length) int32 zero-padded, cdf_lengths (64,), offsets (64,))."""
    freqs = np.frombuffer(zlib.decompress(base64.b64decode("".join(_FREQUENCIES))), dtype="<u2")
    lengths = np.asarray(CDF_LENGTHS, dtype=np.int32)
    cdf = np.zeros((len(lengths), int(lengths.max())), dtype=np.int32)
    start = 0
    for row, length in enumerate(lengths.tolist()):
        cdf[row, 1:length] = np.cumsum(freqs[start:start + length - 1])
        start += length - 1
    if start != len(freqs):
        raise RuntimeError("default Gaussian CDF data is inconsistent with CDF_LENGTHS")
    offsets = -((lengths - 3) // 2)
    return cdf, lengths, offsets.astype(np.int32)
