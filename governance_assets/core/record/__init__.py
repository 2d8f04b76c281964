"""The record domain: the append-only ledger, the content-addressed registry, where it is stored,
and `governance verify`.

- `ledger.py`: the hash-chained, signed ledger.
- `registry.py`: immutable versions and aliases moved under a lock.
- `storage.py`: a local folder or an fsspec URL.
- `object_lock.py`: the registry lock on object storage.
- `witness.py`: the ledger's head witnessed as a git ref.
- `version_files.py`: what a registry version holds.
- `model_signature.py`: OpenSSF model-signing of registry versions.
- `audit.py`: `governance verify`.
"""
