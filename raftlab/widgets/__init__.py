"""Widgets for notebooks: the ``Dashboard`` and the chapters' small labs.

``Dashboard(cluster)`` runs, breaks and rewinds a cluster.  The logic behind every button
lives in ``raftlab.timetravel.Session``, so it is tested without any widget; ``dashboard``
only lays out controls (``controls``) and the picture (``picture``) and wires them to it.

The chapters' widgets each sit in a module of their own: ``ByteEditor`` (chapter 1),
``Stepper`` (chapters 2 and 3), ``PartitionLab`` (chapter 4), ``RestartLab`` (chapter 5),
``ChaosLab`` (chapter 7) and ``ReadLab`` (chapter 9).  They wire controls to
``raftlab.teaching``'s narrators and to ``raftlab.viz``.
"""

from raftlab.widgets.byte_editor import ByteEditor
from raftlab.widgets.chaos_lab import ChaosLab
from raftlab.widgets.dashboard import Dashboard
from raftlab.widgets.partition_lab import PartitionLab
from raftlab.widgets.read_lab import ReadLab
from raftlab.widgets.restart_lab import RestartLab
from raftlab.widgets.stepper import Stepper

__all__ = [
    "ByteEditor",
    "ChaosLab",
    "Dashboard",
    "PartitionLab",
    "ReadLab",
    "RestartLab",
    "Stepper",
]
