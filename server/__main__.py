"""``python -m server`` is the ``threadline`` command."""

from .cli import main

raise SystemExit(main())
