"""Token refresh: ``policy`` (when is a connection due), ``connection`` (one connection's steps),
``cycle`` (a scheduled or forced run), ``planner`` and ``messages`` (cycles fanned out over SQS),
``outcomes`` (what a run reports), ``deps`` (what it needs)."""
