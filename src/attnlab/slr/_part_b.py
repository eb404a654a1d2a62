"""Re-exports of SLR part B (softmax vs linear attention)."""

__all__: list[str] = []
