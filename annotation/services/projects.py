"""Projects, roles and assignments."""
import random

from django.contrib.auth.models import Group
from django.db import transaction

import access
from annotation.models import Assignment, Case, Project, ProjectMembership, ReaderProfile, Role
from annotation.schema import default_schema, schema_validate
from annotation.services.audit import audit_log

def roles_ensure() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def project_create(*, slug: str, name: str, actor=None, label_schema: dict | None = None, **options) -> Project:
    schema = schema_validate(label_schema or default_schema())
    project = Project.objects.create(
        slug=slug, name=name, label_schema=schema, schema_version=schema.get("version", 1), **options
    )
    audit_log(actor=actor, action="project_create", target=project, payload={"slug": slug})
    if getattr(actor, "is_authenticated", False) and not actor.is_superuser:
        project_member_add(project=project, user=actor, role=ProjectMembership.Role.COORDINATOR, actor=actor)
    return project


@transaction.atomic
def project_member_add(*, project: Project, user, role: str, actor=None) -> ProjectMembership:
    """Makes the user a coordinator (or the ML client) of the project; coordinators see only their projects."""
    membership, created = ProjectMembership.objects.get_or_create(
        project=project, user=user, role=ProjectMembership.Role(role).value)
    if created:
        audit_log(actor=actor, action="project_member_add", target=project,
                  payload={"user": user.username, "role": role})
    return membership


@transaction.atomic
def project_member_remove(*, project: Project, user, role: str, actor=None) -> bool:
    deleted, _ = ProjectMembership.objects.filter(project=project, user=user,
                                                  role=ProjectMembership.Role(role).value).delete()
    if deleted:
        audit_log(actor=actor, action="project_member_remove", target=project,
                  payload={"user": user.username, "role": role})
    return bool(deleted)


@transaction.atomic
def user_set_role(*, user, role: str, specialty: str = "", years_experience: int = 0, actor=None) -> None:
    roles_ensure()
    user.groups.add(Group.objects.get(name=Role(role).value))
    if role in (Role.READER, Role.SENIOR):
        ReaderProfile.objects.update_or_create(
            user=user, defaults={"specialty": specialty, "years_experience": years_experience}
        )
    audit_log(actor=actor, action="user_set_role", target=user, payload={"role": role})


@transaction.atomic
def case_assign(*, case: Case, user, role: str, actor=None) -> Assignment:
    refusal = access.assignment_refusal(case, user, role)
    if refusal:
        raise ValueError(refusal)
    assignment, created = Assignment.objects.get_or_create(case=case, user=user, role=Role(role).value)
    if created:
        audit_log(actor=actor, action="case_assign", target=case, payload={"user": user.username, "role": role})
    return assignment


@transaction.atomic
def cases_assign_balanced(*, project: Project, readers: list, seniors: list, cases=None, readers_per_case: int = 2,
                          seed: int = 0, actor=None) -> int:
    """Gives each case `readers_per_case` distinct readers and one senior, at random but balanced: each reader
    ends up with the same number of cases (give or take one). Cases that already have readers keep them. The
    senior of a case is never one of its readers. Returns the number of cases assigned."""
    if len(readers) < readers_per_case:
        raise ValueError(f"need at least {readers_per_case} readers, got {len(readers)}")
    if not seniors:
        raise ValueError("need at least one senior")
    rng = random.Random(seed)
    cases = list((cases if cases is not None else project.cases.all()).order_by("id"))
    cases = [c for c in cases if not c.assignments.filter(role=Role.READER).exists()]
    rng.shuffle(cases)
    load = {reader.pk: 0 for reader in readers}
    senior_load = {senior.pk: 0 for senior in seniors}
    for case in cases:
        chosen = sorted(readers, key=lambda r: (load[r.pk], rng.random()))[:readers_per_case]
        eligible = [s for s in seniors if s.pk not in {r.pk for r in chosen}]
        if not eligible:
            raise ValueError(f"case {case.pk}: every senior is also one of its readers; one person never holds "
                             "both roles on a case (name another senior)")
        senior = min(eligible, key=lambda s: (senior_load[s.pk], rng.random()))
        for reader in chosen:
            load[reader.pk] += 1
            Assignment.objects.create(case=case, user=reader, role=Role.READER)
        senior_load[senior.pk] += 1
        Assignment.objects.create(case=case, user=senior, role=Role.SENIOR)
    audit_log(actor=actor, action="cases_assign_balanced", target=project,
              payload={"cases": len(cases), "readers": [r.username for r in readers],
                       "seniors": [s.username for s in seniors], "seed": seed})
    return len(cases)


@transaction.atomic
def case_reassign(*, case: Case, from_user, to_user, role: str, actor=None) -> Assignment:
    """Moves an assignment to another user, unless the first has already submitted a read of the case."""
    assignment = Assignment.objects.select_for_update().filter(case=case, user=from_user, role=role).first()
    if assignment is None:
        raise ValueError(f"{from_user.username} holds no {role} assignment on case {case.pk}")
    if case.reads.filter(reader=from_user, status="submitted").exists():
        raise ValueError(f"{from_user.username} has already submitted a read of case {case.pk}")
    if Assignment.objects.filter(case=case, user=to_user).exists():
        raise ValueError(f"{to_user.username} is already assigned to case {case.pk}")
    refusal = access.assignment_refusal(case, to_user, role)
    if refusal:
        raise ValueError(refusal)
    assignment.user = to_user
    assignment.save(update_fields=["user"])
    audit_log(actor=actor, action="case_reassign", target=case,
              payload={"from": from_user.username, "to": to_user.username, "role": role})
    return assignment


@transaction.atomic
def cases_set_split(*, case_ids: list[int], split: str, reason: str, actor=None) -> int:
    """Tags cases with a split (train/val/test/study); e.g. a reader study marks its cases "study" so that they
    are never trained on. Returns the number of cases changed."""
    split = Case.Split(split).value
    changed = Case.objects.filter(pk__in=case_ids).exclude(split=split).update(split=split)
    if case_ids:
        audit_log(actor=actor, action="cases_set_split", target=Case.objects.get(pk=case_ids[0]).project,
                  payload={"cases": len(case_ids), "changed": changed, "split": split, "reason": reason})
    return changed


@transaction.atomic
def cases_assign_bulk(*, case_ids: list[int], users: list, role: str, actor=None) -> int:
    """Assigns every user to every case in one statement (existing assignments stay); returns rows added."""
    before = Assignment.objects.filter(case_id__in=case_ids, role=role).count()
    Assignment.objects.bulk_create(
        [Assignment(case_id=case_id, user=user, role=role) for case_id in case_ids for user in users],
        ignore_conflicts=True,
    )
    added = Assignment.objects.filter(case_id__in=case_ids, role=role).count() - before
    if case_ids:
        audit_log(actor=actor, action="cases_assign_bulk", target=Case.objects.get(pk=case_ids[0]).project,
                  payload={"cases": len(case_ids), "users": [u.username for u in users], "role": role,
                           "added": added})
    return added
