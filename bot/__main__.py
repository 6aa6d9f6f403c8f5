"""`python -m bot` is the `mlgov` command."""

import sys

from bot.cli import main

sys.exit(main())
