"""SimPy models of stateless services at scale, checked against queueing theory.

The public API (what notebooks and exercise checks may import):

* load balancing: ``run_balance`` → ``BalanceResult``; ``compare_policies``; ``theory_for``;
  ``POLICY_NAMES``, ``SERVICE_DISTRIBUTIONS``; policy classes for your own experiments;
* queueing theory: ``simulations.theory`` (M/M/1, M/G/1, M/M/c with Erlang C, random routing,
  round robin as E_n/M/1, power of d choices, sticky pins);
* sticky sessions and hot spots (lesson 06): ``run_sticky`` → ``StickyResult``;
  ``compare_sticky``; ``STICKY_POLICIES``; ``UserActivity`` (Zipf/Pareto users); ``HashRing``,
  ``BoundedLoadRing``, ``bounded_load_choice`` (consistent hashing with bounded loads);
* instances that die, scale and redeploy (lessons 04, 05): ``run_sessions`` → ``SessionsResult``
  (crashes, session stores), ``run_autoscale`` → ``AutoscaleResult`` (the HPA rule:
  ``desired_replicas``, ``HorizontalAutoscaler``), ``run_deploy`` → ``DeployResult`` (rolling
  deploys: ``surge_and_unavailable``); building blocks in ``simulations.lifecycle``;
* building blocks for new scenarios: ``Instance``, ``LoadBalancer``, ``Metrics``, ``Workload``.

Figures live in ``simulations.plots``, widgets in ``simulations.widgets``, the command line in
``simulations.cli`` (``python -m simulations --help``).
"""

from simulations import theory
from simulations.autoscale import AutoscaleResult, AutoscaleScenario, run_autoscale
from simulations.autoscaler import HorizontalAutoscaler, desired_replicas
from simulations.balance import BalanceResult, Theory, compare_policies, run_balance, theory_for
from simulations.balancer import LoadBalancer
from simulations.deploy import DeployResult, DeployScenario, run_deploy, surge_and_unavailable
from simulations.hashing import (
    BoundedLoadRing,
    HashRing,
    bounded_capacity,
    bounded_load_choice,
    stable_hash,
)
from simulations.heavy_tail import UserActivity
from simulations.instance import Instance
from simulations.metrics import Metrics, QueueTrace, ResponseStats, percentile
from simulations.policies import (
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
from simulations.sessions import SessionsResult, SessionsScenario, compare_stores, run_sessions
from simulations.sticky import (
    STICKY_POLICIES,
    StickyResult,
    StickyScenario,
    compare_sticky,
    run_sticky,
)
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
from simulations.workload import SERVICE_DISTRIBUTIONS, Request, Workload

__all__ = [
    "POLICY_NAMES",
    "SERVICE_DISTRIBUTIONS",
    "STICKY_POLICIES",
    "AutoscaleResult",
    "AutoscaleScenario",
    "BalanceResult",
    "BoundedLoadRing",
    "DeployResult",
    "DeployScenario",
    "FunctionPolicy",
    "HashRing",
    "HorizontalAutoscaler",
    "Instance",
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
    "mm1_mean_response",
    "mmc_mean_response",
    "percentile",
    "power_of_d_mean_response",
    "random_routing_mean_response",
    "round_robin_mean_response",
    "run_autoscale",
    "run_balance",
    "run_deploy",
    "run_sessions",
    "run_sticky",
    "stable_hash",
    "sticky_mean_response",
    "surge_and_unavailable",
    "theory",
    "theory_for",
]
