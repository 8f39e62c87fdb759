"""The sticky scenario of lesson 06.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "sticky sessions with heavy-tailed users: hot spots, scale-out, crash of the hot one"
