"""A witness of transparency logs (c2sp.org/tlog-witness): it keeps its own copy of the newest
checkpoint it co-signed for each log it is configured with, and co-signs a new one only when it
is consistent with that copy. Runnable beside the broker or at another organisation: it needs
its own directory (key, configuration, storage) and nothing of the broker's."""
