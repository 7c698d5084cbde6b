"""Schedules: the analytic fast path (the default, used by sweeps)."""
