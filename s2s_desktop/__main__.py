"""`python -m s2s_desktop` runs the command-line interface (`s2s`)."""

from s2s_desktop.cli import main

raise SystemExit(main())
