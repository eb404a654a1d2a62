"""The erf-SLR experiments, one module each (discovered by :mod:`attnlab.registry`)."""
