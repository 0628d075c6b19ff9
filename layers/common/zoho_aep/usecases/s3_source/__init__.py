"""The Amazon S3 path's AEP side: provisioning, the run watch, teardown (see ``domain/aep.py``)."""
