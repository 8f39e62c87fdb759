"""The shared SimPy building blocks every scenario is made of.

* ``instance``: one server with its FIFO queue (``Instance.serve`` reads like SimPy's machine shop);
* ``balancer``: the load balancer that asks a policy where each request goes;
* ``policies``: round robin, random, least connections, power of d choices, sticky;
* ``workload``: requests drawn up front from the seed, service-time distributions;
* ``metrics``: what a run records, percentiles;
* ``hashing``: stable hashes, hash rings, bounded loads;
* ``lifecycle``: instances that crash, boot, drain and restart, in a cluster that can grow;
* ``sessions``: where sessions live (instance memory or a shared store) and who gets logged out.

Nothing here imports matplotlib or ipywidgets, and nothing here imports a scenario.
"""
