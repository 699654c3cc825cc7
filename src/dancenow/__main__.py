import sys

from dancenow.cli import main

sys.exit(main())
