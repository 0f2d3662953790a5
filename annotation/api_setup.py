"""The API beneath the set-up pages: new projects, label schema versions, settings, users and per-project roles.

The pages (frontend/views_setup.py) call the same services; `access` decides who may do each thing. A refusal of
a project one does not coordinate is 404, alike for a missing one.
"""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import selectors
from annotation.api import error_response, validated
from annotation.models import Project
from annotation.services import projects as project_services
from annotation.services.projects import ROLE_CHOICES



# Serializers ----------------------------------------------------------------------------------------------------

class ProjectCreateSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200)
    copy_from = serializers.SlugField(required=False, allow_blank=True,
                                      help_text="The slug of a project you coordinate; empty: the lumbar template")


class SchemaVersionSerializer(serializers.Serializer):
    label_schema = serializers.JSONField()


class SchemaHistorySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", default=None)


class ProjectSettingsSerializer(serializers.Serializer):
    labelling_mode = serializers.ChoiceField(choices=Project.LabellingMode.choices)
    box_iou_threshold = serializers.FloatField()
    case_order = serializers.ChoiceField(choices=Project.CaseOrder.choices)


class MemberAddSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    create = serializers.BooleanField(default=False, help_text="Create the account (with password) first")
    password = serializers.CharField(required=False, allow_blank=True, write_only=True,
                                     help_text="Empty for a new account: the answer's invite_url sets it")
    email = serializers.CharField(required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    specialty = serializers.CharField(required=False, allow_blank=True, max_length=64)
    years_experience = serializers.IntegerField(required=False, min_value=0, max_value=80)


class MemberRemoveSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


class MembershipSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    specialty = serializers.CharField(source="user.reader_profile.specialty", default="")
    years_experience = serializers.IntegerField(source="user.reader_profile.years_experience", default=None)


def _project_payload(project: Project) -> dict:
    return {"slug": project.slug, "name": project.name, "schema_version": project.schema_version,
            "labelling_mode": project.labelling_mode, "box_iou_threshold": project.box_iou_threshold,
            "case_order": project.case_order}


# Views ------------------------------------------------------------------------------------------------------------

class ProjectCreateApi(APIView):
    @extend_schema(request=ProjectCreateSerializer, responses={201: dict})
    def post(self, request):
        if not access.may_create_projects(request.user):
            raise Http404("no such page")
        data = validated(ProjectCreateSerializer, request)
        try:
            project = project_services.project_create_for(request.user, slug=data["slug"], name=data["name"],
                                         copy_from=data.get("copy_from", ""))
        except ValueError as error:
            return error_response(error)
        return Response(_project_payload(project), status=status.HTTP_201_CREATED)


class ProjectSchemaApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        history = SchemaHistorySerializer(selectors.project_schema_history(project), many=True).data
        return Response({"version": project.schema_version, "label_schema": project.label_schema,
                         "history": history})

    @extend_schema(request=SchemaVersionSerializer, responses={201: dict})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(SchemaVersionSerializer, request)
        try:
            row = project_services.project_schema_new_version(project=project, label_schema=data["label_schema"],
                                                              actor=request.user)
        except ValueError as error:  # SchemaError: the first problem, in words
            return error_response(error)
        return Response({"version": row.version, "label_schema": row.label_schema}, status=status.HTTP_201_CREATED)


class ProjectSettingsApi(APIView):
    @extend_schema(request=ProjectSettingsSerializer, responses={200: dict})
    def put(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(ProjectSettingsSerializer, request)
        try:
            project = project_services.project_settings_update(project=project, actor=request.user, **data)
        except ValueError as error:
            return error_response(error)
        return Response(_project_payload(project))


class ProjectMembersApi(APIView):
    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        return Response(MembershipSerializer(selectors.project_memberships(project), many=True).data)

    @extend_schema(request=MemberAddSerializer, responses={201: MembershipSerializer})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(MemberAddSerializer, request)
        try:
            membership = project_services.member_add_for(request.user, project, data)
        except ValueError as error:
            return error_response(error)
        body = MembershipSerializer(membership).data
        if data.get("create") and not data.get("password"):
            body["invite_url"] = request.build_absolute_uri(project_services.user_invite_path(membership.user))
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectMemberRemoveApi(APIView):
    @extend_schema(request=MemberRemoveSerializer, responses={200: dict})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(MemberRemoveSerializer, request)
        try:
            project_services.member_remove_for(request.user, project, data)
        except ValueError as error:
            return error_response(error)
        return Response({"removed": {"username": data["username"], "role": data["role"]}})
