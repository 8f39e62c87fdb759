"""Reference answer for exercise 01: the snippets that keep state on the instance."""

# 1: sessions in a dict; 3: per-instance rate-limit counters; 5: uploads on the local disk.
# 2 (read-only prices), 4 (session in Redis) and 6 (cache of a pure function) keep none.
KEEPS_STATE = {1, 3, 5}
