"""Placeholder during the redesign (rewritten in the performance step)."""


def run(quick: bool) -> list[dict]:
    return []
