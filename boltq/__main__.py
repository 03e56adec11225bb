"""``python -m boltq``: the same as the ``boltq`` command."""

import sys

from boltq.cli import main

sys.exit(main())
