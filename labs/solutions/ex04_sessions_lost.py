"""Reference solution for lesson 04's exercise: sessions lost when k of n instances crash."""


def fraction_lost(store: str, instances: int, crashed: int) -> float:
    """Memory + sticky: each instance holds 1/n of the sessions, so k crashes lose k/n.
    A shared store loses none."""
    if store == "shared":
        return 0.0
    return crashed / instances
