"""The jobs scenario of lesson 09: background jobs when workers crash.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "background jobs under worker crashes: a queue in memory loses them, a broker redelivers"
