"""SimPy models of stateless services at scale, checked against queueing theory.

Where things are (COURSE_DESIGN §2): ``simulations/engine/`` holds the shared SimPy building
blocks; ``simulations/scenarios/<name>/`` one folder per scenario (``model.py``, ``plots.py``,
``widget.py``, ``cli.py``); ``knobs.py`` how a scenario declares its parameters; ``theory.py``
the queueing formulas; ``explorer.py`` what every widget shares; ``cli.py`` the command line
(``python -m simulations --help``); ``bench.py`` the performance budgets.

The public API (what notebooks and exercise checks may import from here):

* load balancing (lesson 03): ``run_balance`` → ``BalanceResult``; ``BalanceScenario``;
  ``compare_policies``; ``theory_for``; ``POLICY_NAMES``, ``SERVICE_DISTRIBUTIONS``; policy
  classes for your own experiments;
* session misses (lesson 01): ``session_miss_rate`` → ``SessionMissResult``;
  ``miss_rate_by_instances``;
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
* JWT revocation (lesson 07): ``run_jwt`` → ``JwtResult``; ``ttl_tradeoff``;
* building blocks for new scenarios: ``Instance``, ``LoadBalancer``, ``Metrics``, ``Workload``.

Figures and widgets live in each scenario's ``plots`` and ``widget`` modules; importing this
package loads neither matplotlib nor ipywidgets.
"""

from simulations import theory
from simulations.engine.balancer import LoadBalancer
from simulations.engine.hashing import (
    BoundedLoadRing,
    HashRing,
    bounded_capacity,
    bounded_load_choice,
    stable_hash,
)
from simulations.engine.instance import Instance
from simulations.engine.metrics import Metrics, QueueTrace, ResponseStats, percentile
from simulations.engine.policies import (
    POLICY_NAMES,
    FunctionPolicy,
    LeastConnections,
    Policy,
    PowerOfD,
    RandomChoice,
    RoundRobin,
    Sticky,
    make_policy,
)
from simulations.engine.workload import SERVICE_DISTRIBUTIONS, Request, Workload
from simulations.scenarios.autoscale.autoscaler import HorizontalAutoscaler, desired_replicas
from simulations.scenarios.autoscale.model import AutoscaleResult, AutoscaleScenario, run_autoscale
from simulations.scenarios.balance.model import (
    BalanceResult,
    BalanceScenario,
    Theory,
    compare_policies,
    run_balance,
    theory_for,
)
from simulations.scenarios.crashes.model import (
    CrashResult,
    CrashScenario,
    compare_stores,
    run_crashes,
)
from simulations.scenarios.deploy.model import (
    DeployResult,
    DeployScenario,
    run_deploy,
    surge_and_unavailable,
)
from simulations.scenarios.jwt.model import JwtResult, JwtScenario, run_jwt, ttl_tradeoff
from simulations.scenarios.session_miss.model import (
    SessionMissResult,
    SessionMissScenario,
    miss_rate_by_instances,
    session_miss_rate,
)
from simulations.scenarios.sticky.model import (
    STICKY_POLICIES,
    StickyResult,
    StickyScenario,
    compare_sticky,
    run_sticky,
)
from simulations.scenarios.sticky.users import UserActivity
from simulations.theory import (
    erlang_c,
    exponential_sojourn_percentile,
    mg1_mean_response,
    mm1_mean_response,
    mmc_mean_response,
    power_of_d_mean_response,
    random_routing_mean_response,
    round_robin_mean_response,
    sticky_mean_response,
)

# The crash scenario's earlier names (lesson 04 used to call it "sessions").
SessionsScenario = CrashScenario
SessionsResult = CrashResult
run_sessions = run_crashes

__all__ = [
    "POLICY_NAMES",
    "SERVICE_DISTRIBUTIONS",
    "STICKY_POLICIES",
    "AutoscaleResult",
    "AutoscaleScenario",
    "BalanceResult",
    "BalanceScenario",
    "BoundedLoadRing",
    "CrashResult",
    "CrashScenario",
    "DeployResult",
    "DeployScenario",
    "FunctionPolicy",
    "HashRing",
    "HorizontalAutoscaler",
    "Instance",
    "JwtResult",
    "JwtScenario",
    "LeastConnections",
    "LoadBalancer",
    "Metrics",
    "Policy",
    "PowerOfD",
    "QueueTrace",
    "RandomChoice",
    "Request",
    "ResponseStats",
    "RoundRobin",
    "SessionMissResult",
    "SessionMissScenario",
    "SessionsResult",
    "SessionsScenario",
    "Sticky",
    "StickyResult",
    "StickyScenario",
    "Theory",
    "UserActivity",
    "Workload",
    "bounded_capacity",
    "bounded_load_choice",
    "compare_policies",
    "compare_sticky",
    "compare_stores",
    "desired_replicas",
    "erlang_c",
    "exponential_sojourn_percentile",
    "make_policy",
    "mg1_mean_response",
    "miss_rate_by_instances",
    "mm1_mean_response",
    "mmc_mean_response",
    "percentile",
    "power_of_d_mean_response",
    "random_routing_mean_response",
    "round_robin_mean_response",
    "run_autoscale",
    "run_balance",
    "run_crashes",
    "run_deploy",
    "run_jwt",
    "run_sessions",
    "run_sticky",
    "session_miss_rate",
    "stable_hash",
    "sticky_mean_response",
    "surge_and_unavailable",
    "theory",
    "theory_for",
    "ttl_tradeoff",
]
