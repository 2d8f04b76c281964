"""The record domain: the append-only ledger, the content-addressed registry, where it is stored,
and `governance verify`.

- `ledger/`: the hash-chained, signed ledger: `entry.py` (format, hash), `lock.py`, `writing.py`
  (the write path), `reading.py` (verified reads, verify cache), `chain_walk.py` (one step of
  the walk, signatures in worker processes), `verification.py` (the auditor's whole walk).
- `registry.py`: immutable versions and aliases moved under a lock.
- `storage.py`: a local folder or an fsspec URL.
- `object_lock.py`: the registry lock on object storage.
- `witness.py`: the ledger's head witnessed as a git ref.
- `version_files.py`: what a registry version holds.
- `model_signature.py`: OpenSSF model-signing of registry versions.
- `audit.py`: `governance verify`.
"""
