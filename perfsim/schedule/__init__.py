"""Stage 5, schedule: when each layer's work happens. :mod:`.analytic` costs every layer alone
(the fast path, used by sweeps); :mod:`.event` runs the same decisions as simpy processes on
shared resources (overlap, contention, engines in parallel, a timeline).

The choices of both are named here, where the command line reads them without importing
either schedule (simpy, pandas and numba are slow to import)."""

FIDELITIES = ("analytic", "event")
"""The schedules a run can use."""
OVERLAPS = ("none", "layer", "graph")
"""The event schedule's overlap levels: layer after layer, neighbours overlapped (prefetch),
and independent branches in parallel."""
