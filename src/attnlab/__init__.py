"""attnlab — solvable models of attention: simulation, theory, and the two side by side.

Subsystems (one entry point each):

- :mod:`attnlab.config`   validated, frozen, TOML-serialisable experiment configs;
- :mod:`attnlab.rng`      reproducible per-replicate random streams (no global state);
- :mod:`attnlab.registry` the experiment registry (``@experiment`` decorator, ``Result``);
- :mod:`attnlab.store`    the atomic, resumable results store (``run_experiment``);
- :mod:`attnlab.sweep`    grids of runs on the local / process / dask engines;
- :mod:`attnlab.plot`     plotting helpers (matplotlib, imported lazily);
- families: :mod:`attnlab.subspace`, :mod:`attnlab.pooling`, :mod:`attnlab.erf_slr`, :mod:`attnlab.gslr`.

Importing ``attnlab`` is cheap: jax and matplotlib are imported by the modules that need them.
"""

from attnlab._validate import ParameterError, check_choice, check_int, check_range

__version__ = "0.1.0"

__all__ = ["ParameterError", "__version__", "check_choice", "check_int", "check_range"]
