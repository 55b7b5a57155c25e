"""Real servers: the same ``RaftNode`` as the simulator, driven by a clock, a disk and HTTP.

Where to start
--------------
- :mod:`raftlab.server.runtime`: ``NodeRuntime``, the simulator's persist/send/apply loop
  with real time (``loop.time()``), a real disk and a real network.  Read it next to
  ``raftlab.cluster``.
- :mod:`raftlab.server.storage`: ``DiskStorage``, term, vote and log in one append-only
  file with a checksum per record, synced once per round (group commit).
- :mod:`raftlab.server.transport`: messages to peers, one kept-alive WebSocket each;
  :mod:`raftlab.server.peers` signs every frame (HMAC) and checks every message.
- :mod:`raftlab.server.listener`, :mod:`raftlab.server.bridge` and
  :mod:`raftlab.server.logs`: what keeps slow or numerous clients from silencing the node
  (a connection limit, read timeouts, the client API on its own thread, rate-limited
  warnings).
- :mod:`raftlab.server.http` and :mod:`raftlab.server.kvapi`: the key-value API and the
  ``python -m raftlab kvapi`` command; :mod:`raftlab.server.reads`, how ReadIndex and
  lease reads (thesis §6.4) reach the node in batches, or under a lease do not at all.
- :mod:`raftlab.server.client` (``Client``) and :mod:`raftlab.server.local`
  (``LocalCluster``, processes on this machine): what notebooks, tests and
  ``python -m raftlab stress`` use; :mod:`raftlab.server.nemesis` is the Jepsen-style
  ``python -m raftlab nemesis`` and :mod:`raftlab.server.burst` the burst of clients.
"""
