"""`python -m pos_agent ...` is `pos ...`."""

import sys

from pos_agent.cli import main

sys.exit(main())
