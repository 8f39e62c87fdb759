"""The autoscale scenario of lesson 05.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "a traffic spike against an HPA-style autoscaler: boot delay, scale-in, sessions"
