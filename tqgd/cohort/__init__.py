"""Cohorts: ``tqgd detect``'s per-scan detection and scoring over thousands of scans on a Ray cluster, resumable.

``sources`` finds the scans (folder tree or CSV manifest), ``worker`` runs one scan exactly as ``tqgd detect`` does,
``cluster`` starts or joins Ray, ``ledger`` is the exactly-once bookkeeping (read it first), ``run`` schedules the
scans on the workers, ``table`` and ``summary`` write the cohort table, figure and report. Imports go downward only
(``tqgd.engine``, ``tqgd.scoring``, ``tqgd.data``, ``tqgd.io``); nothing else in tqgd imports this room.
"""

from tqgd.cohort.run import CohortResult, CohortSettings, run_cohort

__all__ = ["CohortResult", "CohortSettings", "run_cohort"]
