"""Clusters of lab app instances behind a load balancer.

* ``LocalCluster`` (``local``): N instances in this Python process, through Flask's test client:
  quick, for thousands of requests in a lesson;
* ``ProcessCluster`` (``process``): N real gunicorn processes that can be killed (``kill -9``)
  or stopped gracefully (SIGTERM), behind nginx or the readable balancer (``balancer``), with
  the settings of ``gunicorn_conf``.

Both take an app by its name in ``labs.apps.APPS`` (``"stateless"``) or a module path.
``TcpProxy`` (``proxy``) goes between instances and their store: it adds a delay to every round
trip or plays an outage (``cut()``, ``restore()``), and never touches the store itself.
"""

from labs.cluster.local import LocalCluster, describe
from labs.cluster.process import ClusterError, ProcessCluster
from labs.cluster.proxy import ProxyStats, TcpProxy

__all__ = ["ClusterError", "LocalCluster", "ProcessCluster", "ProxyStats", "TcpProxy", "describe"]
