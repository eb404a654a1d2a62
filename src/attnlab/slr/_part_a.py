"""Re-exports of SLR part A (erf attention)."""

__all__: list[str] = []
