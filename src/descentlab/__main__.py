import sys

try:
    from descentlab.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python loads the command line: one line, not a traceback
    sys.stderr.write("descentlab: interrupted\n")  # (this module is the command line; cli/ prints the rest)
    sys.exit(130)

sys.exit(main())
