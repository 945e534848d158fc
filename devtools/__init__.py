"""Development tools beside the ``etl`` package, not installed with it (``pyproject.toml`` packages
``etl*`` only): ``generate`` writes sample landing files (``etl generate``), ``services`` starts and
stops the loopback MinIO and MariaDB of the ``dev`` profile (``etl services``). The ``etl`` command
finds them in the clone it runs from (``etl.cli.devtool``); the pipeline itself never imports them."""
