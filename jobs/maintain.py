"""spark-submit entry point for lake maintenance: the same arguments as `etl maintain`.

    spark-submit --master spark://HOST:7077 --jars "$(etl jars)" jobs/maintain.py --profile dev
"""

import sys

from etl.cli import main

if __name__ == "__main__":
    sys.exit(main(["maintain", *sys.argv[1:]]))
