"""The ``attnlab`` command line (typer).

Commands: ``list``, ``show``, ``run`` (:mod:`._run`), ``sweep``, ``collect`` (:mod:`._sweep`),
``reproduce``, ``report`` (:mod:`._reproduce`); the application, its one-line error handling
and the shared options are in :mod:`._app`. Heavy modules (jax, pandas, dask) are imported
inside the commands.
"""

from attnlab.cli import _reproduce, _run, _sweep  # noqa: F401  (register the commands)
from attnlab.cli._app import app, fail, main, user_errors

__all__ = ["app", "fail", "main", "user_errors"]

if __name__ == "__main__":  # pragma: no cover
    main()
