"""The edges: the SQLite store, checkpoints, the get-next-event client and the archive
replays (local and Dask). Only here do files, databases and the network appear."""
