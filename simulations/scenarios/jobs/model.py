"""Lesson 09 at scale: background jobs when workers crash, with the queue in memory or in a broker.

Jobs are submitted as a Poisson stream (``arrival_rate`` per second, for ``duration`` seconds);
each takes a worker ``service_time`` seconds (exponential with that mean, or exactly that). W
workers each run one job at a time. A worker crashes (Poisson, ``crash_rate`` per worker per
second, the ``kill -9`` of its container) and a replacement takes jobs ``boot_time`` seconds later.
Where do the queued jobs live?

* ``queue="memory"``: in the instance (a ``queue.Queue`` and a thread). Each of the W instances
  has its own queue and one worker; a job is sent to the next instance that is up (round robin;
  with every instance down it is refused: the ``POST /jobs`` gets a 503). A crash **loses** every
  job queued or running in that instance. A crash at rate c finds the instance holding N jobs,
  so the expected loss is **c × ∫ N dt** over the run (``expected_lost``; ≈ c × mean jobs per
  instance × instance-time), whatever the queue lengths' law.
* ``queue="broker"``: one queue every worker reads (Redis Streams consumer groups, SQS). A worker
  *claims* a job with a lease, the **visibility timeout** V: if the job is not acknowledged by
  t + V (claimed at t), the broker delivers it again, at the head of the queue. A worker that
  crashes mid-job never acknowledges it: the job is **redelivered** once its lease expires, so
  its latency grows by up to V. A job that simply runs longer than V is redelivered *while it
  still runs*: a second worker runs it too and both finish: its effect happens twice
  (**duplicated**), which is why a job's effect must be idempotent (lesson 10). After
  ``max_attempts`` deliveries without an acknowledgement the job is **dead-lettered**. Nothing is
  lost. Without crashes, with workers to spare, a share P(S > V) of the jobs runs past its lease
  (e^(−V/s) for exponential ones): that many are redelivered, and nearly all duplicated.
  A completion acknowledges the job whichever delivery it was (the message id is acked, as
  ``XACK`` and a late ``DeleteMessage`` do), and takes it out of the queue if it waits there again.

Arrivals stop at ``duration``; the run then goes on until every job is settled (done, lost,
refused or dead-lettered) and no execution is still running, for at most ``duration`` more
seconds (jobs not settled by then are ``unfinished``: the workers could not keep up).

The processes read like the story: ``JobsModel.work`` is a worker's life (take a job, do it,
acknowledge it; on a crash, what is lost), ``JobsModel.lease_expired`` the broker's redelivery.
Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.metrics import percentile, rounded, text_table
from simulations.replications import replicate

QUEUES = ("memory", "broker")
SERVICES = ("exponential", "fixed")
DRAIN = 2.0  # the run ends at DRAIN × duration at the latest
MAX_JOBS = 200_000
MAX_WORKERS = 1_024
MAX_ATTEMPTS = 100
MAX_CRASHES = 100_000
MAX_DELIVERIES = 2_000_000


@dataclass(frozen=True)
class JobsScenario:
    """Jobs submitted to W workers that crash, queued in memory or in a broker. The knobs."""

    queue: str = knobs.choice(
        "broker",
        QUEUES,
        "where queued jobs live: in each instance's memory, or in a broker all workers share",
    )
    workers: int = knobs.count(
        4,
        "workers, one job at a time each (queue=memory: instances, each its own queue and worker)",
        high=MAX_WORKERS,
        slider=(1, 16, 1),
        metavar="W",
    )
    arrival_rate: float = knobs.number(
        2.0,
        "jobs submitted per second (Poisson)",
        unit="jobs/s",
        high=1e4,
        slider=(0.5, 10.0, 0.5),
        label="jobs/s",
        metavar="L",
    )
    service_time: float = knobs.number(
        1.0,
        "time a worker spends on one job (the mean, if exponential)",
        unit="s",
        high=1e5,
        slider=(0.1, 10.0, 0.1),
        label="job time (s)",
        metavar="S",
    )
    service: str = knobs.choice(
        "exponential", SERVICES, "how long jobs take: exponential (mean service_time) or fixed"
    )
    crash_rate: float = knobs.number(
        0.005,
        "crashes per worker per second (Poisson); a crashed worker is replaced after boot_time",
        unit="1/s",
        above=False,
        high=10.0,
        slider=(0.0, 0.05, 0.001),
        label="crashes/worker/s",
        metavar="C",
    )
    boot_time: float = knobs.number(
        5.0,
        "seconds from a crash until the replacement worker takes jobs",
        unit="s",
        above=False,
        high=1e5,
    )
    visibility_timeout: float = knobs.number(
        5.0,
        "a claimed job's lease: not acknowledged within it, the broker delivers it again",
        unit="s",
        high=1e5,
        applies=("queue", ("broker",)),
        why="only a broker leases jobs",
        slider=(0.5, 30.0, 0.5),
        label="visibility (s)",
        metavar="V",
    )
    max_attempts: int = knobs.count(
        5,
        "deliveries of a job before the broker dead-letters it",
        high=MAX_ATTEMPTS,
        applies=("queue", ("broker",)),
        why="only a broker redelivers",
    )
    duration: float = knobs.number(
        600.0, "seconds during which jobs are submitted", unit="s", high=1e6, metavar="T"
    )
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        s = self
        jobs = s.arrival_rate * s.duration
        knobs.work_limit("jobs", jobs, MAX_JOBS, "arrival_rate or duration")
        knobs.work_limit(
            "crashes",
            s.crash_rate * s.workers * DRAIN * s.duration,
            MAX_CRASHES,
            "crash_rate, workers or duration",
        )
        if s.queue == "broker":
            knobs.work_limit(
                "deliveries", jobs * s.max_attempts, MAX_DELIVERIES, "max_attempts or jobs"
            )


@dataclass(eq=False)
class Job:
    """One job, as the queue and its workers see it."""

    number: int
    submitted: float
    work: float  # seconds a worker spends on it
    deliveries: int = 0  # claims (broker) or starts (memory)
    completions: int = 0  # executions that finished: its effect happened this many times
    first_done: float = math.nan
    settled: bool = False  # acknowledged, lost, refused or dead-lettered
    dead: bool = False
    waiting: bool = False  # in a queue now


class JobQueue:
    """A FIFO of jobs and the idle workers waiting on it (a ``queue.Queue``; a broker's stream)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.jobs: deque[Job] = deque()
        self.idle: deque[simpy.Event] = deque()  # one event per worker waiting for a job

    def put(self, job: Job, front: bool = False) -> None:
        if self.idle:  # a worker is waiting: it gets the job at once
            self.idle.popleft().succeed(job)
            return
        job.waiting = True
        self.jobs.appendleft(job) if front else self.jobs.append(job)

    def get(self) -> simpy.Event:
        taking = self.env.event()
        if self.jobs:
            job = self.jobs.popleft()
            job.waiting = False
            taking.succeed(job)
        else:
            self.idle.append(taking)
        return taking

    def withdraw(self, taking: simpy.Event) -> None:
        """A worker stops waiting (it crashed): a job it was handed goes back to the front."""
        if taking.triggered:
            self.put(taking.value, front=True)
        else:
            self.idle.remove(taking)

    def remove(self, job: Job) -> None:
        if job.waiting:
            self.jobs.remove(job)
            job.waiting = False


@dataclass(frozen=True)
class JobsResult:
    """What one run measured. Counts are jobs, except ``redelivered`` (deliveries beyond each
    job's first) and ``executions`` (runs of a job's work that finished)."""

    scenario: JobsScenario
    submitted: int
    completed: int  # distinct jobs whose work finished at least once
    lost: int  # memory: queued or running in an instance that crashed
    refused: int  # memory: submitted while every instance was down (a 503)
    redelivered: int  # broker: deliveries beyond the first
    redelivered_jobs: int  # broker: jobs delivered more than once
    duplicated: int  # jobs whose work finished more than once
    dead_lettered: int  # broker: not acknowledged after max_attempts deliveries
    unfinished: int  # none of the above when the run ended
    executions: int
    crashes: int
    job_seconds: float  # memory: ∫ (jobs held in running instances) dt
    end: float  # when the run ended
    latencies: tuple[float, ...] = field(repr=False)  # submit → first completion, each job
    redelivered_latencies: tuple[float, ...] = field(repr=False)  # of those delivered twice+

    @property
    def mean_latency(self) -> float:
        return math.fsum(self.latencies) / len(self.latencies) if self.latencies else math.nan

    @property
    def p95_latency(self) -> float:
        return percentile(sorted(self.latencies), 95)

    @property
    def mean_redelivered_latency(self) -> float:
        late = self.redelivered_latencies
        return math.fsum(late) / len(late) if late else math.nan

    @property
    def expected_lost(self) -> float:
        """Theory for the memory queue: crash rate × ∫ jobs held dt (0 with a broker)."""
        return self.scenario.crash_rate * self.job_seconds if self.scenario.queue == "memory" else 0

    def share(self, count: int) -> float:
        return count / self.submitted if self.submitted else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the measurements (counts as ints; shares of
        the submitted jobs as floats, so replications give them 95% intervals)."""
        counts = {
            "submitted": self.submitted,
            "completed": self.completed,
            "lost": self.lost,
            "refused": self.refused,
            "redelivered": self.redelivered,
            "redelivered_jobs": self.redelivered_jobs,
            "duplicated": self.duplicated,
            "dead_lettered": self.dead_lettered,
            "unfinished": self.unfinished,
            "executions": self.executions,
            "crashes": self.crashes,
        }
        return rounded(
            {
                **asdict(self.scenario),
                **counts,
                "lost_share": self.share(self.lost),
                "redelivered_share": self.share(self.redelivered),
                "duplicated_share": self.share(self.duplicated),
                "dead_lettered_share": self.share(self.dead_lettered),
                "mean_latency": self.mean_latency,
                "p95_latency": self.p95_latency,
                "mean_redelivered_latency": self.mean_redelivered_latency,
                "expected_lost": float(self.expected_lost),  # a mean over replications
                "expected_lost_share": self.share(self.expected_lost),  # beside lost_share
            }
        )


class JobsModel:
    """One run: a submitter, W worker slots (a worker, its crashes, its replacements), the
    queue(s); the broker's leases are timeouts with a callback."""

    def __init__(self, scenario: JobsScenario) -> None:
        s = self.s = scenario
        rng = random.Random(s.seed)
        self.arrivals = random.Random(rng.getrandbits(64))
        self.works = random.Random(rng.getrandbits(64))
        self.crash_times = random.Random(rng.getrandbits(64))
        self.env = simpy.Environment()
        self.broker = s.queue == "broker"
        count = 1 if self.broker else s.workers
        self.queues = [JobQueue(self.env) for _ in range(count)]
        self.up = [False] * s.workers
        self.turn = 0  # round robin (memory)
        self.jobs: list[Job] = []
        self.submitting = True
        self.unsettled = self.executing = 0
        self.lost = self.refused = self.redelivered = self.dead_lettered = 0
        self.executions = self.crashes = 0
        self.held = 0  # memory: jobs queued or running in instances that are up
        self.job_seconds, self.since = 0.0, 0.0
        self.finished = self.env.event()

    def queue_of(self, slot: int) -> JobQueue:
        return self.queues[0] if self.broker else self.queues[slot]

    # --- the story ---------------------------------------------------------------------------

    def work(self, slot: int) -> Generator[simpy.Event, Any, None]:
        """One worker: take a job, do it, acknowledge it, until it crashes."""
        queue = self.queue_of(slot)
        while True:
            taking = queue.get()
            try:
                job = yield taking
            except simpy.Interrupt:  # crashed while idle
                queue.withdraw(taking)
                self.crash_loses(queue, running=None)
                return
            self.start(job)
            try:
                yield self.env.timeout(job.work)
            except simpy.Interrupt:  # crashed mid-job: never acknowledged
                self.crash_loses(queue, running=job)
                return
            self.complete(job)

    def start(self, job: Job) -> None:
        """A delivery: with a broker, a claim whose lease ends at now + V."""
        job.deliveries += 1
        self.executing += 1
        if self.broker:
            if job.deliveries > 1:
                self.redelivered += 1
            lease = self.env.timeout(self.s.visibility_timeout)
            lease.callbacks.append(lambda _: self.lease_expired(job))

    def lease_expired(self, job: Job) -> None:
        """The broker: a job not acknowledged within its lease is delivered again."""
        if job.settled:
            return  # acknowledged in time (or dead-lettered)
        if job.deliveries >= self.s.max_attempts:
            job.dead = True
            self.dead_lettered += 1
            self.settle(job)
            return
        self.queues[0].put(job, front=True)  # the next free worker runs it again

    def complete(self, job: Job) -> None:
        """The job's work finished: its effect happened (again, if it ran twice)."""
        self.executing -= 1
        self.executions += 1
        job.completions += 1
        if job.completions == 1:
            job.first_done = self.env.now
        if not self.broker:
            self.hold(-1)
        if not job.settled:  # the acknowledgement (the broker drops it if it waits again)
            if self.broker:
                self.queues[0].remove(job)
            self.settle(job)
        self.check_finished()

    def crash_loses(self, queue: JobQueue, running: Job | None) -> None:
        """What a crash takes with it: the running execution; in memory, the whole queue."""
        if running is not None:
            self.executing -= 1
        if not self.broker:
            gone = [*queue.jobs, *([running] if running is not None else [])]
            queue.jobs.clear()
            for job in gone:
                job.waiting = False
                self.lost += 1
                self.settle(job)
            self.hold(-len(gone))
        self.check_finished()

    def life(self, slot: int) -> Generator[simpy.Event, Any, None]:
        """A worker slot: a worker runs until it crashes; its replacement boots, and so on."""
        while True:
            self.up[slot] = True
            worker = self.env.process(self.work(slot))
            if self.s.crash_rate == 0:
                return
            yield self.env.timeout(self.crash_times.expovariate(self.s.crash_rate))
            self.up[slot] = False
            self.crashes += 1
            worker.interrupt()
            yield self.env.timeout(self.s.boot_time)

    def submit(self) -> Generator[simpy.Event, Any, None]:
        s = self.s
        while True:
            gap = self.arrivals.expovariate(s.arrival_rate)
            if self.env.now + gap >= s.duration:
                break
            yield self.env.timeout(gap)
            work = s.service_time
            if s.service == "exponential":
                work = self.works.expovariate(1.0 / s.service_time)
            job = Job(len(self.jobs), self.env.now, work)
            self.jobs.append(job)
            self.unsettled += 1
            if self.broker:
                self.queues[0].put(job)
                continue
            slot = self.next_instance()
            if slot is None:
                self.refused += 1
                self.settle(job)
            else:
                self.hold(+1)
                self.queues[slot].put(job)
        self.submitting = False
        self.check_finished()

    # --- bookkeeping ----------------------------------------------------------------------

    def next_instance(self) -> int | None:
        """Round robin over the instances that are up (a balancer's health checks)."""
        for step in range(self.s.workers):
            slot = (self.turn + step) % self.s.workers
            if self.up[slot]:
                self.turn = slot + 1
                return slot
        return None

    def hold(self, change: int) -> None:
        now = self.env.now
        self.job_seconds += self.held * (now - self.since)
        self.held, self.since = self.held + change, now

    def settle(self, job: Job) -> None:
        job.settled = True
        self.unsettled -= 1
        self.check_finished()

    def check_finished(self) -> None:
        idle = not self.submitting and self.unsettled == 0 and self.executing == 0
        if idle and not self.finished.triggered:
            self.finished.succeed()

    def run(self) -> JobsResult:
        s = self.s
        for slot in range(s.workers):
            self.env.process(self.life(slot))
        self.env.process(self.submit())
        deadline = self.env.timeout(DRAIN * s.duration)
        self.env.run(until=self.finished | deadline)
        if not self.broker:
            self.hold(0)
        jobs = self.jobs
        done = [job for job in jobs if job.completions]
        again = [job for job in done if job.deliveries > 1]
        return JobsResult(
            scenario=s,
            submitted=len(jobs),
            completed=len(done),
            lost=self.lost,
            refused=self.refused,
            redelivered=self.redelivered,
            redelivered_jobs=sum(job.deliveries > 1 for job in jobs) if self.broker else 0,
            duplicated=sum(job.completions > 1 for job in jobs),
            dead_lettered=self.dead_lettered,
            unfinished=sum(not job.settled and not job.completions for job in jobs),
            executions=self.executions,
            crashes=self.crashes,
            job_seconds=self.job_seconds,
            end=self.env.now,
            latencies=tuple(job.first_done - job.submitted for job in done),
            redelivered_latencies=tuple(job.first_done - job.submitted for job in again),
        )


def run_jobs(*args: Any, **kwargs: Any) -> JobsResult:
    """One run; the arguments are ``JobsScenario``'s fields (``queue`` first), or one scenario:
    ``run_jobs(queue="memory", crash_rate=0.01)``."""
    return JobsModel(knobs.from_arguments(JobsScenario, args, kwargs)).run()


def replicate_jobs(replications: int = 10, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): counts summed,
    shares and latencies averaged, their 95% intervals in ``"interval"``."""
    scenario = knobs.from_arguments(JobsScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def jobs_by_visibility(
    timeouts: Iterable[float], replications: int = 10, **settings: Any
) -> dict[str, list[dict[str, Any]]]:
    """:func:`replicate_jobs` at each visibility timeout, for both designs (the other settings
    and the seed the same everywhere): ``{"memory": [...], "broker": [...]}``. The memory queue
    has no lease: its runs are the same at every timeout (run once, repeated)."""
    timeouts = list(timeouts)
    settings = {key: value for key, value in settings.items() if key != "queue"}
    memory = replicate_jobs(replications, queue="memory", **settings)
    return {
        "memory": [memory | {"visibility_timeout": v} for v in timeouts],
        "broker": [
            replicate_jobs(replications, queue="broker", visibility_timeout=v, **settings)
            for v in timeouts
        ],
    }


def jobs_by_crash_rate(
    rates: Iterable[float], replications: int = 10, **settings: Any
) -> dict[str, list[dict[str, Any]]]:
    """:func:`replicate_jobs` at each crash rate, for both designs: ``{"memory": [...],
    "broker": [...]}``."""
    rates = list(rates)
    settings = {key: value for key, value in settings.items() if key != "queue"}
    return {
        queue: [replicate_jobs(replications, queue=queue, crash_rate=c, **settings) for c in rates]
        for queue in QUEUES
    }


def _run_dict(scenario: JobsScenario) -> dict[str, Any]:
    return JobsModel(scenario).run().to_dict()


def visibility_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Lesson 09's table of :func:`jobs_by_visibility`: the memory queues' losses (with their
    95% interval, and what the jobs the instances held predict), then one row per visibility
    timeout for the broker. Counts are totals over the replications; times are means."""
    memory = runs["memory"][0]
    replications = memory["interval"]["replications"]
    low, high = memory["interval"]["lost_share"]
    lines = [
        f"memory queues, {replications} runs: {memory['lost']:,} of {memory['submitted']:,} jobs "
        f"lost ({memory['lost_share']:.2%}, 95% interval {low:.2%} to {high:.2%}) at every V;",
        f"  expected from the jobs the instances held when they crashed: "
        f"{memory['expected_lost_share']:.2%}; mean latency {memory['mean_latency']:.2f} s",
        "",
    ]
    header = ("broker, V", "lost", "redelivered", "ran more than once", "mean latency")
    rows = [(*header, "redelivered jobs' latency")]
    for run in runs["broker"]:
        redelivered = run["mean_redelivered_latency"]
        rows.append(
            (
                f"{run['visibility_timeout']:g} s",
                f"{run['lost']:,}",
                f"{run['redelivered']:,}",
                f"{run['duplicated']:,}",
                f"{run['mean_latency']:.2f} s",
                "–" if redelivered is None else f"{redelivered:.1f} s",
            )
        )
    return "\n".join(lines) + text_table(rows)
