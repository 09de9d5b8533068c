"""``captum-advise`` under torchrun, except that rank 1 is killed (``os._exit``) after its first rows are written.

A real death: no exception, no cleanup, no lock released by Python; torchrun then stops the other ranks.
"""

import os
import sys

from captum_advise.cli import main
from captum_advise.evaluation import runner


def append_then_die(*args, **kwargs):
    runner_append(*args, **kwargs)
    os._exit(3)


runner_append = runner.append_records

if __name__ == "__main__":  # pytest's --doctest-modules imports this file too
    if os.environ.get("RANK") == "1":
        runner.append_records = append_then_die
    sys.exit(main(sys.argv[1:]))
