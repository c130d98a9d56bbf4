import sys

from .milter import main

sys.exit(main())
