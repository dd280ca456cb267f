"""The daily job for cron, systemd timers and Windows Task Scheduler: python jobs/daily.py --root ROOT.

Exit codes: 0 the job did its work (findings or not), 1 the administrator must act (a send failed,
a fault kept a workbook unwritten, the calendar ran out), 2 configuration error. It runs exactly what
`coordxl daily` runs, which the wheel installs: this script is only needed from a checkout.
"""

import argparse
import sys

from coordxl.cli import main

if __name__ == "__main__":  # a spawned worker process imports this file; it must not run the job
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the shared folder")
    parser.add_argument("--today", help="run as of this date, e.g. 2026-08-20")
    args, rest = parser.parse_known_args()
    # a log, not a terminal: the summary by code and the totals (the full list is in 报告/ and `coordxl check`)
    sys.exit(main(["daily", args.root, "--summary"] + (["--today", args.today] if args.today else []) + rest,
                  standalone_mode=True))
