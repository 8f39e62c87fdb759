"""The jwt scenario of lesson 07.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "JWT revocation: how long a revoked token keeps working; what a denylist costs"
