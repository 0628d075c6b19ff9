"""``python -m zoho_aep``: the operator's command line (see ``edges/cli.py``)."""

import sys

from .edges.cli import main

sys.exit(main())
