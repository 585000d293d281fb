"""``python -m CTMRFusionLib.cli``: the ``ctmrfusion`` command line."""

import sys

from CTMRFusionLib.cli.main import main

sys.exit(main())
