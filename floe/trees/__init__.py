"""Trees: a folder as a validated manifest (path -> sha256, size, mode), scanned with a hash
cache, its small files in packs. Laptop code: the command line sends folders with it."""
