"""spark-submit entry point: the same arguments as `etl run`.

    spark-submit --master spark://HOST:7077 --jars "$(etl jars)" jobs/daily_etl.py --date 2026-11-22 --profile dev
"""

import sys

from etl.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
