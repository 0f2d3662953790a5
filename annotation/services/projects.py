"""Projects, roles and assignments."""
import copy
import random

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

import access
from annotation.models import Assignment, Case, Project, ProjectMembership, ProjectSchema, ReaderProfile, Role
from annotation.schema import default_schema, schema_validate
from annotation.services.audit import audit_log
from annotation.services.calibration import calibration_blend
from annotation.signals import project_copied

# The roles a coordinator gives on a project (the ML client's account is managed on the ML pages).
ROLE_CHOICES = [Role.READER.value, Role.SENIOR.value, Role.COORDINATOR.value]
# What a copy of a project takes from its source (never its cases, members or uploads).
PROJECT_COPIED_FIELDS = ("labelling_mode", "box_iou_threshold", "case_order", "calibration_every",
                         "calibration_min_accuracy", "calibration_min_kappa")

def roles_ensure() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def project_create(*, slug: str, name: str, actor=None, label_schema: dict | None = None, **options) -> Project:
    schema = schema_validate(label_schema or default_schema())
    project = Project.objects.create(
        slug=slug, name=name, label_schema=schema, schema_version=schema.get("version", 1), **options
    )
    # The history starts with the schema the project was created with, so every read's version has a row.
    ProjectSchema.objects.create(project=project, version=project.schema_version, label_schema=schema,
                                 created_by=actor if getattr(actor, "is_authenticated", False) else None)
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
        if assignment.role == Role.READER:  # more double reading: more calibration cases due
            calibration_blend(project=case.project, readers=[user], actor=actor)
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
    calibration_blend(project=project, readers=readers, actor=actor)
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
    if assignment.role == Role.READER:
        calibration_blend(project=case.project, readers=[to_user], actor=actor)
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


# Set-up from the coordinators' pages: new projects, schema versions, settings, users and per-project roles -------

class SetupError(ValueError):
    """A set-up request the project cannot take; the message says why in words a coordinator understands."""


def _project_identity_check(slug: str, name: str) -> None:
    try:
        validate_slug(slug)
    except ValidationError:
        raise SetupError("the short name (slug) may hold only letters, digits, hyphens and underscores")
    if not name.strip():
        raise SetupError("a project needs a name")
    if Project.objects.filter(slug=slug).exists():
        raise SetupError(f"a project with the short name {slug!r} already exists")


@transaction.atomic
def project_create_from_template(*, slug: str, name: str, actor) -> Project:
    """A new project with the lumbar template's schema (annotation.schema.default_schema); its creator coordinates
    it. Raises SetupError on a bad or taken slug, creating nothing."""
    _project_identity_check(slug, name)
    return project_create(slug=slug, name=name.strip(), actor=actor, label_schema=default_schema())


@transaction.atomic
def project_create_copy(*, source: Project, slug: str, name: str, actor) -> Project:
    """A new project with the source's current schema (as its version 1) and its labelling settings, but none of
    its cases or people. The caller has checked that the actor coordinates the source."""
    _project_identity_check(slug, name)
    schema = copy.deepcopy(source.label_schema)
    schema["version"] = 1  # the copy's own history starts here
    project = project_create(slug=slug, name=name.strip(), actor=actor, label_schema=schema,
                             **{field: getattr(source, field) for field in PROJECT_COPIED_FIELDS})
    audit_log(actor=actor, action="project_copy", target=project, payload={"source": source.slug})
    project_copied.send(sender=Project, source=source, project=project, actor=actor)
    return project


@transaction.atomic
def project_schema_new_version(*, project: Project, label_schema, actor) -> ProjectSchema:
    """Stores the schema as the project's next version and makes it current. Reads already opened keep the
    version they were opened under (Read.schema_version); reads opened from now on get this one. Raises
    SchemaError (a ValueError) with the first problem found, changing nothing."""
    schema = schema_validate(copy.deepcopy(label_schema))
    project = Project.objects.select_for_update().get(pk=project.pk)
    version = project.schema_version + 1
    schema["version"] = version
    row = ProjectSchema.objects.create(project=project, version=version, label_schema=schema,
                                       created_by=actor if getattr(actor, "is_authenticated", False) else None)
    project.label_schema, project.schema_version = schema, version
    project.save(update_fields=["label_schema", "schema_version"])
    audit_log(actor=actor, action="project_schema_new_version", target=project,
              payload={"version": version, "findings": [f["name"] for f in schema["findings"]]})
    return row


@transaction.atomic
def project_settings_update(*, project: Project, labelling_mode: str, box_iou_threshold: float, case_order: str,
                            actor) -> Project:
    """Changes how the project is labelled and ordered; raises SetupError naming the bad setting, changing
    nothing."""
    if labelling_mode not in Project.LabellingMode.values:
        raise SetupError(f"labelling mode must be one of {Project.LabellingMode.values}")
    if case_order not in Project.CaseOrder.values:
        raise SetupError(f"case order must be one of {Project.CaseOrder.values}")
    try:
        threshold = float(box_iou_threshold)
    except (TypeError, ValueError):
        raise SetupError("the IoU threshold must be a number")
    if not 0 < threshold <= 1:  # IoU 0 would match any two boxes; above 1 none
        raise SetupError("the IoU threshold must be above 0 and at most 1")
    project = Project.objects.select_for_update().get(pk=project.pk)
    project.labelling_mode, project.box_iou_threshold, project.case_order = labelling_mode, threshold, case_order
    project.save(update_fields=["labelling_mode", "box_iou_threshold", "case_order"])
    audit_log(actor=actor, action="project_settings_update", target=project,
              payload={"labelling_mode": labelling_mode, "box_iou_threshold": threshold, "case_order": case_order})
    return project


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "", actor, project: Project):
    """A new ordinary account (never staff, never a superuser), created by a coordinator for their project.
    The password goes through Django's validators; with none, the account is an invitation: it cannot log in
    until its holder sets a password through `user_invite_path`. Raises SetupError with every reason, creating
    nothing."""
    username = username.strip()
    if not username:
        raise SetupError("a user needs a username")
    user_model = get_user_model()
    try:
        user_model._meta.get_field("username").run_validators(username)
        if email:
            validate_email(email)
        if password:
            password_validation.validate_password(password, user_model(username=username, email=email))
    except ValidationError as error:
        raise SetupError("; ".join(error.messages))
    if user_model.objects.filter(username=username).exists():
        raise SetupError(f"a user {username!r} already exists; add them as an existing user instead")
    user = user_model.objects.create_user(username=username, password=password or None, email=email)
    audit_log(actor=actor, action="user_create", target=user,
              payload={"username": username, "project": project.slug, "invited": not password})
    return user


def user_invite_path(user) -> str:
    """The one-time link with which an invited user sets their own password (Django's password-reset token: it
    stops working once a password is set, and after PASSWORD_RESET_TIMEOUT). The coordinator passes it on."""
    return reverse("invite", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                                     "token": default_token_generator.make_token(user)})


@transaction.atomic
def project_role_give(*, project: Project, user, role: str, specialty: str = "", years_experience: int = 0,
                      actor) -> ProjectMembership:
    """Gives the user a role on this project (reader, senior or coordinator): the membership that makes them
    eligible here, the platform role (group) the pages go by, and for readers and seniors their profile."""
    if role not in (Role.READER, Role.SENIOR, Role.COORDINATOR):
        raise SetupError("the role must be reader, senior or coordinator")
    if user.is_superuser:
        raise SetupError(f"{user.username} is an administrator and sees every project already")
    try:
        years = int(years_experience or 0)
    except (TypeError, ValueError):
        raise SetupError("years of experience must be a whole number")
    if not 0 <= years <= 80:
        raise SetupError("years of experience must be between 0 and 80")
    if role in (Role.READER, Role.SENIOR):
        # A second role for someone already profiled keeps their profile unless the form gives a new one.
        profile = ReaderProfile.objects.filter(user=user).first()
        if profile and not specialty.strip() and not years:
            specialty, years = profile.specialty, profile.years_experience
        user_set_role(user=user, role=role, specialty=specialty.strip(), years_experience=years, actor=actor)
    else:
        user_set_role(user=user, role=role, actor=actor)
    return project_member_add(project=project, user=user, role=role, actor=actor)


# The set-up pages' and API's entry points (the access check, then the services above) ------------------------

@transaction.atomic
def project_create_for(user, *, slug: str, name: str, copy_from: str = "") -> Project:
    """Creates a project from the template, or as a copy of one the user coordinates (404 for any other)."""
    if not copy_from:
        return project_create_from_template(slug=slug, name=name, actor=user)
    source = access.project_coordinated_get_for(user, copy_from)
    return project_create_copy(source=source, slug=slug, name=name, actor=user)


def member_add_for(user, project: Project, data: dict) -> ProjectMembership:
    """Creates the account if asked, then gives the role; one transaction, so a refused role creates no account."""
    with transaction.atomic():
        if data.get("create"):
            member = user_create(username=data["username"], password=data.get("password", ""),
                                 email=data.get("email", ""), actor=user, project=project)
        else:
            member = get_user_model().objects.filter(username=data["username"], is_active=True).first()
            if member is None:
                raise SetupError(f"no user {data['username']!r}; create the account instead")
        return project_role_give(
            project=project, user=member, role=data["role"], specialty=data.get("specialty", ""),
            years_experience=data.get("years_experience", 0), actor=user)


def member_remove_for(user, project: Project, data: dict) -> None:
    if data["role"] not in ROLE_CHOICES:  # the ML client's account is managed on the ML pages
        raise SetupError("the role must be reader, senior or coordinator")
    member = get_user_model().objects.filter(username=data["username"]).first()
    if member is None or not project_member_remove(project=project, user=member, role=data["role"], actor=user):
        raise SetupError(f"{data['username']} holds no {data['role']} role on this project")
