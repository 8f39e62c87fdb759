"""The races scenario of lesson 08.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "a process-wide 'current user' under T threads: how often a request reads someone else's"
