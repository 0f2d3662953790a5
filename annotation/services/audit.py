"""The audit trail: every service writes its row in the same transaction as its change."""
from annotation.models import AuditEvent


def audit_log(*, actor, action: str, target, payload: dict | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=target.__class__.__name__.lower(),
        object_id=str(target.pk),
        payload=payload or {},
    )
