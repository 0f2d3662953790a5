"""REST API of reader studies. Views validate, call one selector or service, and serialise."""
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.api import error_response, finding_inputs, read_response, validated
from annotation.serializers import FindingSerializer, ReadInputSerializer, ReadSerializer
from annotation.models import Role
from studies import report, selectors, services
from studies.serializers import SessionRowSerializer, StudyCreateSerializer, StudySerializer


class StudyListApi(APIView):
    @extend_schema(responses=StudySerializer(many=True))
    def get(self, request):
        return Response(StudySerializer(access.studies_visible_to(request.user), many=True).data)

    @extend_schema(request=StudyCreateSerializer, responses={201: StudySerializer})
    def post(self, request):
        if not access.is_coordinator(request.user):
            raise Http404("no such project")
        data = dict(validated(StudyCreateSerializer, request))
        project = access.project_coordinated_get_for(request.user, data.pop("project"))
        try:
            data["case_ids"] = _study_case_ids(project, data)
            readers = annotation_selectors.users_with_role(data.pop("readers"), Role.READER, project=project)
            study = services.study_create(project=project, actor=request.user, readers=readers, **data)
        except ValueError as error:
            return error_response(error)
        return Response(StudySerializer(study).data, status=status.HTTP_201_CREATED)


def _study_case_ids(project, data: dict) -> list[int]:
    """The given case ids, or those the filter picks (the form's selector, so the same filter and seed give the
    same cases); ValueError in the form's words where the filter matches none."""
    case_filter = data.pop("case_filter", None)
    if case_filter is None:
        return data["case_ids"]
    case_ids = selectors.study_candidate_cases(project, **case_filter)
    if not case_ids:
        raise ValueError("no case of the project with final ground truth matches the filter")
    return case_ids


class StudyDetailApi(APIView):
    @extend_schema(responses=StudySerializer)
    def get(self, request, study_id):
        return Response(StudySerializer(access.study_get_for(request.user, study_id)).data)


class StudyDashboardApi(APIView):
    """Every statistic of the study as JSON (the same dict the page and the report show)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, study_id):
        study = access.study_get_for(request.user, study_id)
        _data, dashboard = report.study_dashboard_for(study)
        return Response(dashboard)


class StudyReportApi(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, study_id):
        study = access.study_get_for(request.user, study_id)
        response = HttpResponse(report.report_zip(study), content_type="application/zip")
        annotation_services.audit_log(actor=request.user, action="study_report_export", target=study)
        response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-report.zip"'
        return response


# A reader's sessions -------------------------------------------------------------------------------------------

class MySessionsApi(APIView):
    @extend_schema(responses=SessionRowSerializer(many=True))
    def get(self, request):
        rows = list(access.session_states(request.user).values())
        return Response(SessionRowSerializer(rows, many=True).data)


class SessionOpenApi(APIView):
    @extend_schema(request=None, responses=ReadSerializer)
    def post(self, request, session_id):
        session = access.session_get_for(request.user, session_id)
        try:
            return read_response(services.study_session_open(session=session, reader=request.user))
        except services.StudyError as error:
            return error_response(error)


def _session_read_save(request, session_id, service, *, draft: bool) -> Response:
    """A draft (findings default to none) or a submission (no findings: the saved draft's) of a session's read."""
    session = access.session_get_for(request.user, session_id)
    data = validated(ReadInputSerializer, request)
    findings = finding_inputs(data)
    try:
        read = service(session=session, reader=request.user, findings=(findings or []) if draft else findings,
                       active_seconds=data.get("active_seconds"))
    except services.StudyError as error:
        return error_response(error)
    return read_response(read)


class SessionDraftApi(APIView):
    @extend_schema(request=ReadInputSerializer, responses=ReadSerializer)
    def put(self, request, session_id):
        return _session_read_save(request, session_id, services.study_session_save_draft, draft=True)


class SessionSubmitApi(APIView):
    @extend_schema(request=ReadInputSerializer, responses=ReadSerializer)
    def post(self, request, session_id):
        return _session_read_save(request, session_id, services.study_session_submit, draft=False)


class SessionModelFindingsApi(APIView):
    """The pinned model's pre-annotations for an aided session whose period is open; none otherwise (blinding)."""

    @extend_schema(responses=FindingSerializer(many=True))
    def get(self, request, session_id):
        session = access.session_get_for(request.user, session_id)
        return Response(FindingSerializer(access.session_model_findings(request.user, session), many=True).data)

