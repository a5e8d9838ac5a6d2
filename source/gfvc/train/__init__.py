"""gfvc.train: the trainer of the GFVC model families (``gfvc-train``, doc/training.md).

:mod:`.losses` (perceptual pyramid, equivariance, LSGAN + feature matching, MRDAC's InfoNCE, rate),
:mod:`.data` (clips with random frame access, sample datasets), :mod:`.families` (what each family
adds), :mod:`.trainer` (the loop: DDP, checkpoints, resume, CSV log), :mod:`.cli`.
"""
