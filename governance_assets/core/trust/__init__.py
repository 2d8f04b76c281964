"""The trust domain (asset group `production`): who may sign what, and the signed sign-off that
moves production.

- `signatures.py`: SSHSIG signing and in-process verification.
- `authority.py`: the allowed-signers file and roles.
- `keyring.py`: `governance keys init` demo keys.
- `signoff.py`: approvals, promotion requests, production moves, rollback.
"""
