"""The balance scenario of lesson 03.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "requests through a load balancer to n instances, compared with queueing theory"
