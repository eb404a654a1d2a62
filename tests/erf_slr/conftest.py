"""TRANSITIONAL (redesign, issue 10): run this family's tests inside attnlab's float64 context.

Remove this file once every public function of the family is decorated with
``attnlab.precision.uses_jax``: the tests must then pass without it.
"""

import pytest

from attnlab.precision import _enable_x64


@pytest.fixture(autouse=True)
def _x64():
    with _enable_x64(True):
        yield
