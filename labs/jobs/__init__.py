"""Background jobs that outlive the process that queued them (lesson 09).

* ``kinds``: what a job can be (``echo``, ``sleep``), its parameters checked, and how it runs;
* ``status``: where a job's status lives: ``save_status``/``load_status`` on a Redis hash, any
  instance and any worker reading the same record (exercise 09 writes its own);
* ``queue``: the queue itself, a Redis Stream with a consumer group: at-least-once delivery, a
  lease (the visibility timeout) renewed while a worker is alive, redelivery when it is not;
* ``worker``: the worker process, ``python -m labs.jobs.worker``, that the cluster starts
  (``labs.cluster.workers``) and a lesson kills.
"""
