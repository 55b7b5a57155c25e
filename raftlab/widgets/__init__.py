"""Widgets for notebooks: ``Dashboard(cluster)`` runs, breaks and rewinds a cluster.

Start with ``raftlab.widgets.dashboard``.  The logic behind every button lives in
``raftlab.timetravel.Session``, so it is tested without any widget; this package only
lays out controls (``controls``) and the picture (``picture``) and wires them to it.
"""

from raftlab.widgets.dashboard import Dashboard

__all__ = ["Dashboard"]
