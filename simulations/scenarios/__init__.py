"""One folder per scenario, in lesson order: each holds the same few files.

* ``model.py``: the scenario dataclass (its knobs, ``simulations.knobs``), the SimPy processes,
  ``run_*()`` and the result dataclass; pure and deterministic, no matplotlib, no widgets;
* ``plots.py``: matplotlib figures of results (the static twins the lessons show);
* ``widget.py``: the lesson's explorer (``simulations.explorer.Explorer``), its controls derived
  from the knobs;
* ``cli.py``: the subcommand (``python -m simulations <name>``), its options derived from the
  knobs.

Scenarios never import each other: what two share lives in ``simulations.engine``. To add one,
copy a folder of this shape and add its name here (CONTRIBUTING.md has the steps). A
scenario package's own ``__init__`` holds only ``HELP`` (and any ``ALIASES``): the line the
command list shows, read without loading the model.
"""

SCENARIOS = (
    "session_miss",  # lesson 01: what is state
    "store",  # lesson 02: externalize state (and lesson 12: its price)
    "balance",  # lesson 03: load balancing
    "crashes",  # lesson 04: crashes
    "autoscale",  # lesson 05: autoscaling
    "deploy",  # lesson 05: rolling deploys
    "sticky",  # lesson 06: sticky sessions
    "jwt",  # lesson 07: JWT revocation
    "races",  # lesson 08: hidden state
    "ratelimit",  # lesson 08: hidden state
    "jobs",  # lesson 09: files, jobs and connections
    "events",  # lesson 09: files, jobs and connections
    "retries",  # lesson 10: idempotency and retries
    "health",  # lesson 11: health checks and disposability
    "coldstart",  # lesson 12: the price of statelessness (serverless cold starts)
)
