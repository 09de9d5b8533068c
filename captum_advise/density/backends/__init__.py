"""The density estimate's backends: each runs steps 5-9 (spec §2) on :class:`PaddedUnits`.

Every backend module exposes ``search(units) -> (yopt, optwp)``, both (K, G) float64 on the units'
device, NaN after each unit's length and on failed units:

* :mod:`~captum_advise.density.backends.torch_backend`: batched tensor operations, any device;
* :mod:`~captum_advise.density.backends.numba_backend`: one compiled, parallel CPU loop;
* :mod:`~captum_advise.density.backends.triton_backend`: one fused Triton kernel on CUDA
  (``search(units, kernel=...)``: ``"v1"`` or ``"no-spill"``).

They are imported where used, so that a machine without Triton (a CPU-only torch) never imports it.
"""
