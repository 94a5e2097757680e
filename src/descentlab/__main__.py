import sys

try:
    from descentlab.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python loads the command line: one line, not a traceback
    print("descentlab: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
