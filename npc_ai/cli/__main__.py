import sys

from npc_ai.cli import main

sys.exit(main())
