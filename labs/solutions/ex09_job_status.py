"""Exercise 09, one solution: each job's record is one JSON string in Redis, with a TTL.

``SET key value EX ttl`` writes the status, the result and the expiry in one command, so no
process ever reads a half-written record, and no record outlives a day. (``labs/jobs/status.py``
does the same with a hash; both pass.)
"""

import json

TTL_SECONDS = 24 * 3600


def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}), ex=TTL_SECONDS)


def load_status(store, key):
    record = store.get(key)
    return None if record is None else json.loads(record)
