"""The data model: informative and nuisance tokens on R^d, read by softmax attention.

Each step of the algorithm draws a fresh sequence X ∈ R^{N×d} of N = K + M tokens,

    x_i = θ_d ε_i u + z_i   (i < K, informative),      x_j = z_j   (j ≥ K, nuisance),

with a hidden unit direction u, z ~ N(0, I_d) i.i.d. and signs ε_i independent of z. The signal
strength is θ_d = θ√d (``theta_scaling="sqrt_d"``: per-token signal-to-noise ratio θ²) or θ_d = θ
(``"none"``). Sign laws: ``"token"`` (ε_i i.i.d. Rademacher), ``"sequence"`` (one Rademacher sign
per sequence), ``"gaussian"`` (ε_i ~ N(0, 1)), ``"fixed"`` (ε_i ≡ 1, which breaks the ±u symmetry).
Attention reads the sequence with scores β⟨q, x_i⟩ (inverse temperature β).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from attnlab.config import Params

__all__ = ["SIGN_LAWS", "THETA_SCALINGS", "SubspaceModel"]

SIGN_LAWS = ("token", "sequence", "gaussian", "fixed")
THETA_SCALINGS = ("sqrt_d", "none")


class SubspaceModel(Params):
    """The data model of query learning on the sphere (see the module docstring).

    Parameters
    ----------
    d : int
        Ambient dimension (q and the tokens are vectors of R^d), ``>= 2``.
    K : int
        Informative tokens per sequence, ``>= 1``.
    M : int
        Nuisance tokens per sequence, ``>= 0``.
    theta : float
        Signal strength θ, ``>= 0``.
    theta_scaling : {"sqrt_d", "none"}
        θ_d = θ√d or θ_d = θ.
    sign : {"token", "sequence", "gaussian", "fixed"}
        Law of the signs ε_i of the informative tokens.
    beta : float
        Inverse temperature β of the softmax, ``>= 0``.

    Notes
    -----
    The defaults are the headline configuration: θ = 0.25, K = 100, M = 10 000, d = 100.
    """

    d: int = Field(100, ge=2, description="ambient dimension")
    K: int = Field(100, ge=1, description="informative tokens per sequence")
    M: int = Field(10_000, ge=0, description="nuisance tokens per sequence")
    theta: float = Field(0.25, ge=0, description="signal strength θ")
    theta_scaling: Literal["sqrt_d", "none"] = Field("sqrt_d", description="θ_d = θ√d or θ")
    sign: Literal["token", "sequence", "gaussian", "fixed"] = Field(
        "token", description="law of the signs ε_i of the informative tokens"
    )
    beta: float = Field(1.0, ge=0, description="inverse temperature β")

    @property
    def N(self) -> int:
        """Tokens per sequence, N = K + M."""
        return self.K + self.M

    @property
    def rho(self) -> float:
        """Fraction of informative tokens, ρ = K/N."""
        return self.K / self.N

    @property
    def theta_d(self) -> float:
        """Signal strength per token: θ√d (``"sqrt_d"``) or θ (``"none"``)."""
        return self.theta * math.sqrt(self.d) if self.theta_scaling == "sqrt_d" else self.theta

    @property
    def symmetric(self) -> bool:
        """Whether the sign law is symmetric (ε and −ε equal in law), making φ even."""
        return self.sign != "fixed"

    @property
    def spike(self) -> float:
        """λ = ρ θ_d² E[ε²] (E ε² = 1 for every sign law): the token second moment is
        I + λ uuᵀ."""
        return self.rho * self.theta_d**2
