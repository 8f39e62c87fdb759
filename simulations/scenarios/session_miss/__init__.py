"""The session_miss scenario of lesson 01.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "users behind a balancer: how often a request reaches an instance without its session"
