"""`python -m governance_assets.cli`: the `governance` command without its console script."""

import sys

from . import main

sys.exit(main())
