"""Labs: write Raft's rules yourself and let raftlab grade them with the smallest failing story.

Where to start
--------------
Write a subclass of ``raftlab.RaftNode`` that overrides one or more of the rules of
Figure 2 (``RULES``), then::

    from raftlab.labs import check
    report = check(MyNode)
    print(report)          # PASSED, or the property that broke, its story and a hint
    report.draw()          # the messages and the logs at the moment it broke

The notebooks in ``notebooks/labs/`` are the labs themselves; :mod:`raftlab.labs.grader`
explains how ``check`` works, :mod:`raftlab.labs.scenarios` holds the staged stories and
:mod:`raftlab.labs.read_scenarios` those of the read rules (lab 4).
"""

from raftlab.labs.grader import READ_RULES, RULES, LabReport, check, overridden_rules

__all__ = ["READ_RULES", "RULES", "LabReport", "check", "overridden_rules"]
