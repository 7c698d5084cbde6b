"""Stage 5, schedule: when each layer's work happens. :mod:`.analytic` costs every layer alone
(the fast path, used by sweeps); :mod:`.event` runs the same decisions as simpy processes on
shared resources (overlap, contention, engines in parallel, a timeline)."""
