"""Evaluate: pure functions of (what was acquired, policy, now) -> findings.

:mod:`.engine` judges one acquisition (one handshake or one file) and decides which certificates count;
:mod:`.combine` makes one verdict of several handshakes; :mod:`.findings` is the vocabulary (kinds, findings,
certificate rows); :mod:`.weak` and :mod:`.names` are the rules for weak crypto and host names.
"""

from .engine import Policy, evaluate, finding_order

__all__ = ["Policy", "evaluate", "finding_order"]
