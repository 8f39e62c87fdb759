"""What lesson 09 prints about jobs is what real processes do: a job queued in the instance is
unknown elsewhere and lost with it; through the broker a killed worker's job is redelivered and
done once, and a kill between the work and the ack does the work twice."""

from __future__ import annotations

from labs.jobs_experiments import (
    VISIBILITY_SECONDS,
    jobs_in_the_instance,
    jobs_through_a_broker,
)


def test_a_job_in_the_instance_is_unknown_on_b_and_lost_with_a() -> None:
    run = jobs_in_the_instance()
    assert (run.accepted, run.on_a_before, run.on_b, run.on_a_after_restart) == (
        202,
        "running",
        404,
        404,
    )
    assert run.lost and "the job is lost" in run.verdict()


def test_a_worker_killed_mid_job_costs_a_redelivery_not_the_job() -> None:
    run = jobs_through_a_broker()
    assert run.on_b_while_running.startswith("running")
    assert (run.final_status, run.result) == ("done", {"slept": 0.5})
    assert (run.deliveries, run.completions) == (2, 1)
    first, second, last = run.history
    assert first == f"{run.killed_worker} started" and not second.startswith(run.killed_worker)
    assert last == second.replace("started", "done")
    assert run.redelivered_after >= VISIBILITY_SECONDS * 2 / 3  # the lease had to lapse first
    assert "times the work was done: 1" in run.verdict()


def test_a_kill_after_the_work_before_the_ack_does_the_work_twice() -> None:
    run = jobs_through_a_broker(kill_after_done=True)
    assert run.on_b_while_running.startswith("done")
    assert (run.final_status, run.deliveries, run.completions) == ("done", 2, 2)
    assert "at least once, not exactly once" in run.verdict()
