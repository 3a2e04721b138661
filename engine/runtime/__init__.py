"""The runtime: commands on running instances, each one transaction.

- ``executor``: the command executor (the transaction, the audit flush, conflicts, failures as incidents), used
  by user commands, the timer executor (``engine.jobs``) and batch work alike; ``context``: what a command works on;
- ``commands``: ``Runtime``, the commands (start, deliver a message, claim, unclaim, complete, repair);
- ``instances``: lock, load (``loaded.LoadedInstance``), create, step and save one instance;
- its projections, written with the instance's state: ``inbox`` (the inbox rows, ``task_dict``), ``timer_jobs``
  (its waiting timers), ``messages`` (its message subscriptions); ``incidents`` (a failed command, a case with no
  way forward).
"""
