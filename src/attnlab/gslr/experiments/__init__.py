"""The gslr family's experiments, one module each (discovered by :mod:`attnlab.registry`)."""
