"""The long-running scheduler (daily on working days, weekly): python jobs/scheduler.py --root ROOT.

For a systemd service or a Windows service wrapper. Stops cleanly on SIGTERM/SIGINT (exit 0);
exit 2 when another scheduler already runs on the folder or the settings are wrong.
"""

import argparse
import sys

from coordxl.cli import main

if __name__ == "__main__":  # a spawned worker process imports this file; it must not run the job
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the shared folder")
    parser.add_argument("--poll", default="30", help="seconds between checks of the clock")
    args = parser.parse_args()
    sys.exit(main(["schedule", args.root, "--poll", args.poll], standalone_mode=True))
