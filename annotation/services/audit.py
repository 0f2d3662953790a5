"""The audit trail: every service writes its row in the same transaction as its change."""
from annotation.models import AuditEvent


def _user_or_none(user):
    return user if getattr(user, "is_authenticated", False) else None


def audit_log(*, actor, action: str, target, payload: dict | None = None, on_behalf_of=None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=_user_or_none(actor),
        on_behalf_of=_user_or_none(on_behalf_of),
        action=action,
        object_type=target.__class__.__name__.lower(),
        object_id=str(target.pk),
        payload=payload or {},
    )


def instance_access_log(*, instance, user) -> AuditEvent:
    """Who opened which image: hospitals must be able to say who saw a patient's study."""
    return audit_log(actor=user, action="dicom_access", target=instance,
                     payload={"case": instance.series.case_id, "series": instance.series_id})
