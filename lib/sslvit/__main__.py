import sys

from sslvit.cli import main

sys.exit(main())
