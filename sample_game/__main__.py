"""``python -m sample_game``: play Thornvale (``--help`` for the options and keys)."""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before pygame is imported

from sample_game.main import main

raise SystemExit(main())
