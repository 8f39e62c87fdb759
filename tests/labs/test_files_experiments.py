"""Lesson 09's files experiment (labs/files_experiments.py), on real gunicorn processes: what the
compared cell prints must be what happens, in both states, every time."""

from __future__ import annotations

import pytest

from labs.files_experiments import FilesRun, files_across_instances

MEMORY = """\
upload on A: 201 (kept on A's local disk)
read on A: 200
upload on A, read on B: 404 (another instance's disk)
after A restarted: 404 (its temp dir is gone)"""
SHARED = """\
upload on A: 201 (stored in S3)
read on A: 200
upload on A, read on B: 200 (the same object in S3, same bytes)
after A restarted: 200 (the object outlived the process)"""


def test_memory_a_file_on_one_instances_disk_is_404_elsewhere_and_after_a_restart() -> None:
    run = files_across_instances("memory")
    assert isinstance(run, FilesRun)
    assert (run.upload, run.uploaded_on, run.read_on_a) == (201, "A", 200)
    assert (run.read_on_b, run.same_bytes_on_b, run.after_restart) == (404, False, 404)
    # A's directory existed, and its graceful exit removed it: the restart did not find it.
    assert (run.upload_dirs_before, run.upload_dirs_after) == (1, 0)
    assert run.verdict() == MEMORY


def test_shared_a_file_in_s3_is_served_by_every_instance_and_outlives_a_restart() -> None:
    run = files_across_instances("shared")
    assert (run.upload, run.read_on_a, run.read_on_b, run.after_restart) == (201, 200, 200, 200)
    assert run.same_bytes_on_b
    assert (run.upload_dirs_before, run.upload_dirs_after) == (0, 0)  # nothing on local disk
    assert run.verdict() == SHARED
    assert run.counts()["state"] == "shared" and run.counts()["after_restart"] == 200


def test_memory_after_kill_9_the_old_directory_is_left_and_the_new_process_has_another() -> None:
    run = files_across_instances("memory", restart="kill")
    assert (run.read_on_b, run.after_restart) == (404, 404)
    assert (run.upload_dirs_before, run.upload_dirs_after) == (1, 1)  # no exit hook ran
    assert run.verdict().splitlines()[-1] == (
        "after A was killed and restarted: 404 (a new process has a new, empty temp dir)"
    )


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [({"state": "disk"}, "state"), ({"state": "memory", "restart": "reboot"}, "restart")],
)
def test_bad_arguments_are_refused_before_anything_starts(kwargs: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        files_across_instances(**kwargs)
