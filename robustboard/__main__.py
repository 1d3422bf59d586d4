"""`python -m robustboard` runs the `robustboard` command (one import of robustboard.cli, so its
UserError is the one every subcommand raises)."""

import sys

from robustboard.cli import main

sys.exit(main())
