"""Reference solution for lesson 04's exercise: the requests a crash costs at load ρ."""


def requests_lost(load: float, rerouted: bool) -> float:
    """A crash at a random moment finds the M/M/1 instance with, on average, L = ρ / (1 − ρ)
    requests, and busy with one of them a fraction ρ of the time. Without rerouting all fail;
    with the queue resent elsewhere, only the one in service."""
    if rerouted:
        return load
    return load / (1 - load)
