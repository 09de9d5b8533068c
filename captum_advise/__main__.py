"""``python -m captum_advise``: the same as the ``captum-advise`` command."""

import sys

from captum_advise.cli import main

if __name__ == "__main__":
    sys.exit(main())
