"""``python -m taskvec.server``: the same as ``taskvec serve`` (stdio unless --transport says otherwise)."""

import sys

from taskvec.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
