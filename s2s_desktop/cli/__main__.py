"""`python -m s2s_desktop.cli`: what the processes of a distributed run execute."""

from s2s_desktop.cli import main

raise SystemExit(main())
