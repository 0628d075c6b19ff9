"""The Amazon S3 path's export: ``unit`` (one connection and module, step by step), ``tick`` (which units
run, in-process or over SQS), ``messages`` (the unit queue's messages), ``outcomes``, ``deps``."""
