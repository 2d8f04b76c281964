"""Where versions are recorded (registry) and who may sign them into production (signoff)."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import StrictModel


class SignoffSpec(StrictModel):
    """Human sign-off before production: who holds which role (principals of the
    allowed-signers file, never typed names), expiry, separation of duties, signed runs."""

    approvers: list[str] = []
    """Principals who may approve a staging version for production."""
    promoters: list[str] = []
    """Principals who may move `production` and roll back; empty: the approvers promote."""
    approval_expiry_days: int = Field(default=30, ge=1, le=3650)
    """Days an approval counts."""
    separation_of_duties: bool = True
    """Whoever signed the run may not approve its candidate."""
    allowed_signers: str = Field(default="governance/allowed_signers", min_length=1)
    """The allowed-signers file (OpenSSH format, committed) that gives principals their keys."""
    pipeline_signers: list[str] = []
    """Principals whose key (GOVERNANCE_SIGNING_KEY) signs the runs."""
    require_signed_run: bool = True
    """Production only for versions a pipeline key signed."""


class RegistrySpec(StrictModel):
    """Where the registry lives: a folder of the project (default) or an fsspec URL
    (core/record/storage.py). GOVERNANCE_REGISTRY, when set, overrides it."""

    root: str = Field(default="registry", min_length=1)
    """A folder of the project, or an fsspec URL (s3://bucket/prefix with the s3 extra)."""

    @field_validator("root")
    @classmethod
    def _reachable_kind(cls, root: str) -> str:
        """A URL's protocol must have its fsspec package installed: say which, up front."""
        if "://" not in root:
            return root
        import fsspec

        protocol = root.split("://", 1)[0]
        try:
            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as error:
            hint = " (install the s3 extra: governance-assets[s3])" if protocol in (
                "s3", "s3a") else ""
            raise ValueError(f"{root!r}: no fsspec filesystem for {protocol}://: "
                             f"{error}{hint}") from None
        return root


