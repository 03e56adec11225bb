"""Key fragments and defaults, in one place so every module agrees on them."""

from typing import Final

KEY_PREFIX: Final = "boltq"
DEFAULT_QUEUE: Final = "default"

DEFAULT_API_HOST: Final = "127.0.0.1"
DEFAULT_API_PORT: Final = 8080
DEFAULT_NUM_WORKERS: Final = 4
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_JOB_STATUS_TTL_S: Final = 168 * 3600.0
DEFAULT_SHUTDOWN_TIMEOUT_S: Final = 30.0
DEFAULT_RETRY_BACKOFF_BASE_S: Final = 1.0
DEFAULT_RETRY_BACKOFF_MAX_S: Final = 3600.0
DEFAULT_LEASE_TIMEOUT_S: Final = 30.0

#: How often the lease keeper renews leases; also bounds how long a running
#: job takes to notice it was cancelled.
LEASE_RENEW_INTERVAL_S: Final = 1.0
#: The longest the scheduler sleeps between promotion / reclaim passes.
SCHEDULER_TICK_S: Final = 0.5
#: How long a fetcher blocks on Redis waiting for a wake-up before it looks again.
FETCH_BLOCK_S: Final = 1.0
#: Fetchers per queue in one process, sharing its idle workers: while one
#: waits for Redis to answer its claim, another can claim.
FETCHERS_PER_QUEUE: Final = 2
#: How long a fetcher's registration for hand-offs lasts unless renewed; it
#: renews on every claim, at least every FETCH_BLOCK_S while idle.
WAITER_TTL_S: Final = 2 * FETCH_BLOCK_S
#: The most jobs one claim or one ack script call handles.
CLAIM_BATCH_MAX: Final = 100
ACK_BATCH_MAX: Final = 500
#: The most jobs one scheduler script call promotes, reclaims or forgets.
MAINTENANCE_BATCH: Final = 500
#: Approximate cap on the per-queue event stream.
EVENTS_MAXLEN: Final = 10_000

# Submission limits (the original BoltQ's contract plus ours).
MAX_BODY_BYTES: Final = 1024 * 1024
MAX_TYPE_LENGTH: Final = 128
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 100
MIN_MAX_ATTEMPTS: Final = 1
MAX_MAX_ATTEMPTS: Final = 100
MAX_TIMEOUT_S: Final = 24 * 3600
MAX_TAGS: Final = 32
MAX_TAG_LENGTH: Final = 64

#: How often a supervisor heartbeats into the registry, and after how long
#: without one it counts as gone.
HEARTBEAT_INTERVAL_S: Final = 2.0
HEARTBEAT_TIMEOUT_S: Final = 10.0

#: Batch submission: at most this many jobs, in a body of at most this size.
MAX_BATCH_JOBS: Final = 1000
MAX_BATCH_BODY_BYTES: Final = 16 * 1024 * 1024

#: Browsing: the most jobs one page returns, and the most index entries one
#: request reads while filtering.
MAX_PAGE_LIMIT: Final = 500
BROWSE_SCAN_MAX: Final = 5000
