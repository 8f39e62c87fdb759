"""The crashes scenario of lesson 04.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "instances crash: sessions lost, users forced to log in again, failed requests"
ALIASES = ("sessions",)  # the subcommand's earlier names
