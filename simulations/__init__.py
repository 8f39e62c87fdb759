"""SimPy models of stateless services at scale, checked against queueing theory.

Where things are (COURSE_DESIGN §2): ``simulations/engine/`` holds the shared SimPy building
blocks; ``simulations/scenarios/<name>/`` one folder per scenario (``model.py``, ``plots.py``,
``widget.py``, ``cli.py``); ``knobs.py`` how a scenario declares its parameters; ``theory.py``
the queueing formulas; ``explorer.py`` what every widget shares; ``cli.py`` the command line
(``python -m simulations --help``); ``bench.py`` the performance budgets.

The public API (what notebooks and exercise checks may import from here):

* load balancing (lesson 03): ``run_balance`` → ``BalanceResult``; ``BalanceScenario``;
  ``compare_policies``; ``replicate_balance`` and ``replicate_policies`` (R runs, a warm-up,
  95% intervals); ``theory_for``; ``POLICY_NAMES``, ``SERVICE_DISTRIBUTIONS``; policy classes
  for your own experiments (``LoadBoard`` keeps queue lengths for policies that look at all
  of them);
* replications of any scenario: ``replicate``, ``replication_seeds``, ``mean_interval``;
* session misses (lesson 01): ``session_miss_rate`` → ``SessionMissResult``;
  ``miss_rate_by_instances``; ``replicate_miss_rates`` (with 95% intervals);
* queueing theory: ``simulations.theory`` (M/M/1, M/G/1, M/M/c with Erlang C, random routing,
  round robin as E_n/M/1, power of d choices, sticky pins);
* instances that die, scale and redeploy (lessons 04, 05): ``run_crashes`` → ``CrashResult``
  (``compare_stores``), ``run_autoscale`` → ``AutoscaleResult`` (the HPA rule:
  ``desired_replicas``, ``HorizontalAutoscaler``), ``run_deploy`` → ``DeployResult`` (rolling
  deploys: ``surge_and_unavailable``); ``run_sessions``, ``SessionsScenario`` and
  ``SessionsResult`` are the crash scenario's earlier names;
* sticky sessions and hot spots (lesson 06): ``run_sticky`` → ``StickyResult``;
  ``compare_sticky``; ``STICKY_POLICIES``; ``UserActivity`` (Zipf/Pareto users); ``HashRing``,
  ``BoundedLoadRing``, ``bounded_load_choice`` (consistent hashing with bounded loads);
* a shared store's cost and incidents (lesson 02): ``run_store`` → ``StoreResult``;
  ``replicate_store``; ``expected_response_ms`` (a tandem of M/M/1 queues); where it stops
  scaling and what read replicas, shards and a cache buy (lesson 12): ``compare_scaling``
  (``SCALING_VARIANTS``), ``max_instances_before_saturation``;
* JWT revocation (lesson 07): ``run_jwt`` → ``JwtResult``; ``ttl_tradeoff``; ``replicate_jwt``;
* hidden state in the process (lesson 08): ``run_races`` → ``RaceResult`` (a global "current
  user" under T threads; ``replicate_races``, ``mixups_by_wait``, ``theory_mixup_share``);
  ``run_ratelimit`` → ``RateLimitResult`` (a per-instance rate limit behind N instances, with
  an autoscaler; ``replicate_ratelimit``, ``limit_by_instances``);
* background jobs and connections (lesson 09): ``run_jobs`` → ``JobsResult`` (jobs lost,
  redelivered and duplicated against crashes and the visibility timeout; ``replicate_jobs``,
  ``jobs_by_visibility``, ``jobs_by_crash_rate``); ``run_events`` → ``EventsResult`` (delivery
  without a broker, a reconnect storm after a crash; ``replicate_events``,
  ``delivery_by_instances``);
* idempotency and retries (lesson 10): ``run_retries`` → ``RetriesResult`` (client timeouts
  and retries against an M/M/c pool: duplicate effects, retry storms, backoff and retry
  budgets; ``replicate_retries``, ``duplicates_by_timeout``, ``goodput_by_load``,
  ``retries_table``, ``theory_timeout_share``);
* health checks and disposability (lesson 11): ``run_health`` → ``HealthResult`` (liveness and
  readiness probes through a Redis outage and a hang: restarts, crash loops, detection time,
  the outage the users see; ``replicate_health``, ``outage_by_blip``, ``detection_by_probe``,
  ``compare_designs``, ``health_table``; theory: ``detection_band``, ``theory_detection_time``,
  ``theory_outage``);
* the price of statelessness (lesson 12): ``run_coldstart`` → ``ColdStartResult`` (a serverless
  platform: cold starts under bursty traffic, the idle timeout, keep-warm and its cost, and how
  rarely an instance's memory holds the user's data; ``replicate_coldstart``,
  ``cold_by_burstiness``, ``cold_by_keep_warm``, ``coldstart_table``, ``theory_cold_share``);
* building blocks for new scenarios: ``Instance``, ``MortalInstance`` (one that boots, crashes
  and drains), ``LoadBalancer``, ``Metrics``, ``Workload``.

Figures and widgets live in each scenario's ``plots`` and ``widget`` modules; importing this
package loads neither matplotlib nor ipywidgets. It loads nothing at all until a name is used
(PEP 562): ``python -m simulations --help`` starts without SimPy.
"""

from __future__ import annotations

from typing import Any

# Where every public name lives; ``__getattr__`` imports its module the first time it is asked.
_HOMES: dict[str, tuple[str, ...]] = {
    "simulations.engine.balancer": ("LoadBalancer",),
    "simulations.engine.hashing": (
        "BoundedLoadRing",
        "HashRing",
        "bounded_capacity",
        "bounded_load_choice",
        "stable_hash",
    ),
    "simulations.engine.instance": ("Instance",),
    "simulations.engine.lifecycle": ("MortalInstance",),
    "simulations.engine.metrics": (
        "Metrics",
        "QueueTrace",
        "ResponseStats",
        "Samples",
        "percentile",
    ),
    "simulations.engine.policies": (
        "POLICY_NAMES",
        "FunctionPolicy",
        "LeastConnections",
        "LoadBoard",
        "Policy",
        "PowerOfD",
        "RandomChoice",
        "RoundRobin",
        "Sticky",
        "make_policy",
    ),
    "simulations.engine.workload": (
        "SERVICE_DISTRIBUTIONS",
        "Request",
        "Workload",
    ),
    "simulations.scenarios.autoscale.autoscaler": (
        "HorizontalAutoscaler",
        "desired_replicas",
    ),
    "simulations.scenarios.autoscale.model": (
        "AutoscaleResult",
        "AutoscaleScenario",
        "run_autoscale",
    ),
    "simulations.scenarios.balance.model": (
        "BalanceResult",
        "BalanceScenario",
        "Theory",
        "compare_policies",
        "replicate_policies",
        "replicate_balance",
        "run_balance",
        "theory_for",
    ),
    "simulations.replications": ("mean_interval", "replicate", "replication_seeds"),
    "simulations.scenarios.crashes.model": (
        "CrashResult",
        "CrashScenario",
        "compare_stores",
        "run_crashes",
    ),
    "simulations.scenarios.deploy.model": (
        "DeployResult",
        "DeployScenario",
        "run_deploy",
        "surge_and_unavailable",
    ),
    "simulations.scenarios.jwt.model": (
        "JwtResult",
        "JwtScenario",
        "replicate_jwt",
        "run_jwt",
        "ttl_tradeoff",
    ),
    "simulations.scenarios.races.model": (
        "RaceResult",
        "RaceScenario",
        "mixups_by_wait",
        "replicate_races",
        "run_races",
        "theory_mixup_share",
    ),
    "simulations.scenarios.ratelimit.model": (
        "RateLimitResult",
        "RateLimitScenario",
        "limit_by_instances",
        "replicate_ratelimit",
        "run_ratelimit",
    ),
    "simulations.scenarios.jobs.model": (
        "JobsResult",
        "JobsScenario",
        "jobs_by_crash_rate",
        "jobs_by_visibility",
        "replicate_jobs",
        "run_jobs",
        "visibility_table",
    ),
    "simulations.scenarios.events.model": (
        "EventsResult",
        "EventsScenario",
        "delivery_by_instances",
        "replicate_events",
        "delivery_table",
        "run_events",
        "storm_table",
    ),
    "simulations.scenarios.retries.model": (
        "RetriesResult",
        "RetriesScenario",
        "duplicates_by_timeout",
        "goodput_by_load",
        "replicate_retries",
        "retries_table",
        "run_retries",
        "theory_timeout_share",
    ),
    "simulations.scenarios.health.model": (
        "HealthResult",
        "HealthScenario",
        "compare_designs",
        "detection_band",
        "detection_by_probe",
        "health_table",
        "outage_by_blip",
        "replicate_health",
        "run_health",
        "theory_detection_time",
        "theory_outage",
    ),
    "simulations.scenarios.coldstart.model": (
        "ColdStartResult",
        "ColdStartScenario",
        "cold_by_burstiness",
        "cold_by_keep_warm",
        "coldstart_table",
        "replicate_coldstart",
        "run_coldstart",
        "theory_cold_share",
    ),
    "simulations.scenarios.session_miss.model": (
        "SessionMissResult",
        "SessionMissScenario",
        "miss_rate_by_instances",
        "replicate_miss_rates",
        "session_miss_rate",
    ),
    "simulations.scenarios.store.model": (
        "SCALING_VARIANTS",
        "StoreResult",
        "StoreScenario",
        "compare_scaling",
        "expected_response_ms",
        "max_instances_before_saturation",
        "replicate_store",
        "run_store",
    ),
    "simulations.scenarios.sticky.model": (
        "STICKY_POLICIES",
        "StickyResult",
        "StickyScenario",
        "compare_sticky",
        "run_sticky",
    ),
    "simulations.scenarios.sticky.users": ("UserActivity",),
    "simulations.theory": (
        "theory",  # the module itself
        "erlang_c",
        "exponential_sojourn_percentile",
        "mg1_mean_response",
        "mm1_mean_response",
        "mmc_mean_response",
        "power_of_d_mean_response",
        "random_routing_mean_response",
        "round_robin_mean_response",
        "sticky_mean_response",
    ),
}
_EARLIER_NAMES = {  # the crash scenario's earlier names (lesson 04 used to call it "sessions")
    "SessionsScenario": "CrashScenario",
    "SessionsResult": "CrashResult",
    "run_sessions": "run_crashes",
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def _module(home: str) -> Any:
    """The module ``home``, imported now (static imports, so the import linter sees them)."""
    if home == "simulations.engine.balancer":
        from simulations.engine import balancer as module
    elif home == "simulations.engine.hashing":
        from simulations.engine import hashing as module
    elif home == "simulations.engine.instance":
        from simulations.engine import instance as module
    elif home == "simulations.engine.lifecycle":
        from simulations.engine import lifecycle as module
    elif home == "simulations.engine.metrics":
        from simulations.engine import metrics as module
    elif home == "simulations.engine.policies":
        from simulations.engine import policies as module
    elif home == "simulations.engine.workload":
        from simulations.engine import workload as module
    elif home == "simulations.scenarios.autoscale.autoscaler":
        from simulations.scenarios.autoscale import autoscaler as module
    elif home == "simulations.scenarios.autoscale.model":
        from simulations.scenarios.autoscale import model as module
    elif home == "simulations.scenarios.balance.model":
        from simulations.scenarios.balance import model as module
    elif home == "simulations.scenarios.crashes.model":
        from simulations.scenarios.crashes import model as module
    elif home == "simulations.scenarios.deploy.model":
        from simulations.scenarios.deploy import model as module
    elif home == "simulations.scenarios.jwt.model":
        from simulations.scenarios.jwt import model as module
    elif home == "simulations.scenarios.races.model":
        from simulations.scenarios.races import model as module
    elif home == "simulations.scenarios.ratelimit.model":
        from simulations.scenarios.ratelimit import model as module
    elif home == "simulations.scenarios.jobs.model":
        from simulations.scenarios.jobs import model as module
    elif home == "simulations.scenarios.events.model":
        from simulations.scenarios.events import model as module
    elif home == "simulations.scenarios.retries.model":
        from simulations.scenarios.retries import model as module
    elif home == "simulations.scenarios.health.model":
        from simulations.scenarios.health import model as module
    elif home == "simulations.scenarios.coldstart.model":
        from simulations.scenarios.coldstart import model as module
    elif home == "simulations.scenarios.session_miss.model":
        from simulations.scenarios.session_miss import model as module
    elif home == "simulations.scenarios.store.model":
        from simulations.scenarios.store import model as module
    elif home == "simulations.scenarios.sticky.model":
        from simulations.scenarios.sticky import model as module
    elif home == "simulations.scenarios.sticky.users":
        from simulations.scenarios.sticky import users as module
    elif home == "simulations.replications":
        from simulations import replications as module
    elif home == "simulations.theory":
        import simulations.theory as module  # not "from simulations import": it would recurse
    else:  # pragma: no cover - every home is listed above
        raise ImportError(home)
    return module


def __getattr__(name: str) -> Any:
    target = _EARLIER_NAMES.get(name, name)
    home = _HOME_OF.get(target)
    if home is None:
        raise AttributeError(f"module 'simulations' has no attribute {name!r}")
    module = _module(home)
    value = module if target == "theory" else getattr(module, target)
    globals()[name] = value  # the next use does not come here
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "POLICY_NAMES",
    "SCALING_VARIANTS",
    "SERVICE_DISTRIBUTIONS",
    "STICKY_POLICIES",
    "AutoscaleResult",
    "AutoscaleScenario",
    "BalanceResult",
    "BalanceScenario",
    "BoundedLoadRing",
    "ColdStartResult",
    "ColdStartScenario",
    "CrashResult",
    "CrashScenario",
    "DeployResult",
    "DeployScenario",
    "EventsResult",
    "EventsScenario",
    "FunctionPolicy",
    "HashRing",
    "HealthResult",
    "HealthScenario",
    "HorizontalAutoscaler",
    "Instance",
    "JobsResult",
    "JobsScenario",
    "JwtResult",
    "JwtScenario",
    "LeastConnections",
    "LoadBalancer",
    "LoadBoard",
    "Metrics",
    "MortalInstance",
    "Policy",
    "PowerOfD",
    "QueueTrace",
    "RaceResult",
    "RaceScenario",
    "RandomChoice",
    "RateLimitResult",
    "RateLimitScenario",
    "Request",
    "ResponseStats",
    "RetriesResult",
    "RetriesScenario",
    "RoundRobin",
    "Samples",
    "SessionMissResult",
    "SessionMissScenario",
    "SessionsResult",
    "SessionsScenario",
    "Sticky",
    "StickyResult",
    "StickyScenario",
    "StoreResult",
    "StoreScenario",
    "Theory",
    "UserActivity",
    "Workload",
    "bounded_capacity",
    "bounded_load_choice",
    "cold_by_burstiness",
    "cold_by_keep_warm",
    "coldstart_table",
    "compare_designs",
    "compare_policies",
    "compare_scaling",
    "compare_sticky",
    "compare_stores",
    "delivery_by_instances",
    "delivery_table",
    "desired_replicas",
    "detection_band",
    "detection_by_probe",
    "duplicates_by_timeout",
    "erlang_c",
    "expected_response_ms",
    "exponential_sojourn_percentile",
    "goodput_by_load",
    "health_table",
    "jobs_by_crash_rate",
    "jobs_by_visibility",
    "limit_by_instances",
    "make_policy",
    "max_instances_before_saturation",
    "mean_interval",
    "mg1_mean_response",
    "miss_rate_by_instances",
    "mixups_by_wait",
    "mm1_mean_response",
    "mmc_mean_response",
    "outage_by_blip",
    "percentile",
    "power_of_d_mean_response",
    "random_routing_mean_response",
    "replicate",
    "replicate_balance",
    "replicate_coldstart",
    "replicate_events",
    "replicate_health",
    "replicate_jobs",
    "replicate_jwt",
    "replicate_miss_rates",
    "replicate_policies",
    "replicate_races",
    "replicate_ratelimit",
    "replicate_retries",
    "replicate_store",
    "replication_seeds",
    "retries_table",
    "round_robin_mean_response",
    "run_autoscale",
    "run_balance",
    "run_coldstart",
    "run_crashes",
    "run_deploy",
    "run_events",
    "run_health",
    "run_jobs",
    "run_jwt",
    "run_races",
    "run_ratelimit",
    "run_retries",
    "run_sessions",
    "run_sticky",
    "run_store",
    "session_miss_rate",
    "stable_hash",
    "sticky_mean_response",
    "storm_table",
    "surge_and_unavailable",
    "theory",
    "theory_cold_share",
    "theory_detection_time",
    "theory_for",
    "theory_mixup_share",
    "theory_outage",
    "theory_timeout_share",
    "ttl_tradeoff",
    "visibility_table",
]
