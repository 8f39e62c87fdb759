"""The ratelimit scenario of lesson 08.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "a rate limit counted in each instance's memory: N instances let N × the limit through"
