"""The retries scenario of lesson 10: client timeouts and retries against a pool of servers.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "client timeouts and retries: duplicate effects, retry storms, backoff and retry budgets"
