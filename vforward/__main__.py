import sys

from vforward.cli import main

sys.exit(main())
