"""``python -m sslvit``: the command line (:mod:`sslvit.cli`)."""
import signal
import sys

from sslvit.cli import main

signal.signal(signal.SIGINT, signal.default_int_handler)   # loaded: Ctrl-C is a KeyboardInterrupt again
sys.exit(main())
