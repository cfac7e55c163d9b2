import sys

from hyper_sapiens.cli import main

sys.exit(main())
