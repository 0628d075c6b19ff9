"""``python -m zoho_aep``: the operator's command line (see ``cli.py``)."""

import sys

from .cli import main

sys.exit(main())
