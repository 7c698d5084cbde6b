"""``python -m perfsim``: the same as the ``perfsim`` command."""

import sys

from perfsim.cli import main

sys.exit(main())
