"""The coldstart scenario of lesson 12: a serverless platform's cold starts, idle timeout and
keep-warm, and what it does to state kept in an instance's memory.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "serverless: cold starts, idle timeout and keep-warm, and why in-memory state rarely helps"
