"""The health scenario of lesson 11: liveness and readiness probes, a dependency's outage, a hang.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "liveness and readiness probes: hang detection, a Redis blip turned into a restart storm"
