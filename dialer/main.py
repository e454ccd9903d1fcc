"""Worker entry point: `python -m dialer.main` runs the Huey consumer with settings fit for the backend."""
from __future__ import annotations

import argparse

from huey.consumer_options import ConsumerConfig

import dialer.tasks  # noqa: F401  (registers every task)
from app import create_app
from dialer.huey_app import huey, init_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-w", "--workers", type=int, default=8, help="worker threads")
    parser.add_argument("-n", "--no-periodic", action="store_true", help="leave periodic tasks to another consumer")
    args = parser.parse_args(argv)
    init_app(create_app())
    # SQLite is polled: keep the delay small so a new callback is picked up in ~0.1 s, not up to 10 s.
    # Redis is read with a blocking pop, so the delay only applies to the schedule.
    config = ConsumerConfig(
        workers=args.workers, worker_type="thread", periodic=not args.no_periodic,
        initial_delay=0.1, backoff=1.0, max_delay=0.1, check_worker_health=True,
    )
    config.validate()
    config.setup_logger()
    huey.create_consumer(**config.values).run()


if __name__ == "__main__":
    main()
