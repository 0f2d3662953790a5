"""REST API for cases and DICOM. Views validate, call one selector or service, and serialise."""
from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import selectors, services
from annotation.models import Case, Read
from annotation.serializers import (
    AdjudicationListSerializer, AdjudicationSerializer, BalancedAssignSerializer, BurnedInInstanceSerializer,
    DraftReceiptSerializer, CaseDetailSerializer, CaseListSerializer, DicomUploadSerializer, ImportResultSerializer,
    FindingSerializer, GroundTruthSerializer, ProjectSerializer, ReadInputSerializer, ReadSerializer,
    ReassignSerializer, ResolveSerializer, WorklistRowSerializer
)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request):
        projects = access.projects_visible_to(request.user)
        return Response(ProjectSerializer(projects, many=True).data)


class CaseListApi(APIView):
    @extend_schema(responses=CaseListSerializer(many=True))
    def get(self, request, slug):
        project = access.project_get_for(request.user, slug)
        cases = selectors.case_list_with_counts(access.cases_visible_to(request.user, project=project))
        return Response(CaseListSerializer(cases.order_by("-priority", "id"), many=True, context={
            "split_visible": access.case_split_visible_to(request.user, project)}).data)


class CaseDetailApi(APIView):
    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request, case_id):
        case = selectors.case_detail(access.case_get_for(request.user, case_id),
                                     instances=access.instances_visible_to(request.user))
        return Response(CaseDetailSerializer(case, context={
            "split_visible": access.case_split_visible_to(request.user, case.project)}).data)


class DicomUploadApi(APIView):
    """Upload DICOM files or .zip archives into a project (coordinators only).

    The whole upload is checked before anything is stored: one bad file rejects it with 400 (413 when over the
    size limit) and stores nothing. Re-uploading an instance already held is not an error; it is counted.
    """

    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": DicomUploadSerializer}, responses={201: ImportResultSerializer})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        serializer = DicomUploadSerializer(data={"files": request.FILES.getlist("files"),
                                                 "site_code": request.data.get("site_code", "")})
        serializer.is_valid(raise_exception=True)
        files = serializer.validated_data["files"]
        too_big = [f.name for f in files if f.size > max(settings.DICOM_MAX_FILE_BYTES, settings.DICOM_MAX_UPLOAD_BYTES)]
        if too_big:
            return Response({"detail": "file over the size limit", "errors": [{"file": n} for n in too_big]},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            result = services.case_import(
                project=project,
                sources=((f.name, f.read(), False) for f in files),
                actor=request.user,
                site_code=serializer.validated_data.get("site_code", ""),
            )
        except services.ImportRejected as rejection:
            return Response(
                {"detail": "upload rejected; nothing was stored",
                 "errors": [{"file": name, "reason": reason} for name, reason in rejection.errors]},
                status=rejection.status_code,
            )
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class InstanceDicomApi(APIView):
    """The stored (de-identified) DICOM file, for the viewer's WADO-URI loader; same access rule as the case."""

    @extend_schema(responses={(200, "application/dicom"): bytes})
    def get(self, request, instance_id):
        instance = access.instance_get_for(request.user, instance_id)
        services.instance_access_log(instance=instance, user=request.user)
        response = FileResponse(instance.file.open("rb"), content_type="application/dicom")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class BurnedInReviewListApi(APIView):
    """Images held back from readers because they may carry burned-in annotation (the project accepts such
    uploads); a coordinator looks at each and clears it."""

    @extend_schema(responses=BurnedInInstanceSerializer(many=True))
    def get(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        return Response(BurnedInInstanceSerializer(selectors.burned_in_pending(project), many=True).data)


class BurnedInClearApi(APIView):
    @extend_schema(request=None, responses=BurnedInInstanceSerializer)
    def post(self, request, instance_id):
        instance = access.instance_reviewable_get_for(request.user, instance_id)
        return Response(BurnedInInstanceSerializer(
            services.instance_burned_in_clear(instance=instance, actor=request.user)).data)


def validated(serializer_class, request) -> dict:
    """The request body checked by the serializer; a 400 with the serializer's words otherwise."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Reading and adjudication -------------------------------------------------------------------------------------

def error_response(error: Exception, status_code: int = 400) -> Response:
    return Response({"detail": str(error)}, status=getattr(error, "status_code", status_code))


def finding_inputs(validated: dict) -> list | None:
    if "findings" not in validated:
        return None
    return [
        services.FindingInput(
            disc_level=f["disc_level"], finding_type=f["finding_type"], value=f["value"],
            instance_id=f.get("instance"), box=tuple(f["box"]) if f.get("box") else None,
            review_action=f.get("review_action", ""), model_finding_id=f.get("model_finding"),
        )
        for f in validated["findings"]
    ]


def read_call(write, status_code: int = 200) -> Response:
    """The read a reading service returns, serialised; its ReadingError as the status and words it carries."""
    try:
        read = write()
    except services.ReadingError as error:
        return error_response(error)
    return read_response(read, status_code)


def read_response(read, status_code=200) -> Response:
    """A read as its own reader (or a coordinator) sees it."""
    read = Read.objects.prefetch_related("findings").select_related("reader").get(pk=read.pk)
    return Response(ReadSerializer(read).data, status=status_code)


def reads_for(user, case, reads) -> list:
    """Other people's reads as this user may see them: without the readers' names where identities are hidden."""
    return ReadSerializer(reads, many=True,
                          context={"hide_reader": not access.reader_identities_visible_to(user, case)}).data


class WorklistApi(APIView):
    @extend_schema(responses=WorklistRowSerializer(many=True))
    def get(self, request):
        return Response(WorklistRowSerializer(selectors.worklist_for_reader(request.user), many=True).data)


class MyReadApi(APIView):
    """The requesting reader's current read of a case: GET it, POST to open it (starts the clock)."""

    @extend_schema(responses=ReadSerializer)
    def get(self, request, case_id):
        case = access.case_get_for(request.user, case_id)
        read = selectors.current_read_for(request.user, case, context=access.reading_context(request.user, case))
        if read is None:
            return Response({"detail": "no read yet; POST to open one"}, status=404)
        return read_response(read)

    @extend_schema(request=None, responses=ReadSerializer)
    def post(self, request, case_id):
        case = access.case_get_for(request.user, case_id)
        context = access.reading_context(request.user, case)
        return read_call(lambda: services.read_open(case=case, reader=request.user, context=context))


class MyReadDraftApi(APIView):
    """Autosave: called every few seconds by the reading page, so it answers with a short receipt, not the read."""

    @extend_schema(request=ReadInputSerializer, responses=DraftReceiptSerializer)
    def put(self, request, case_id):
        data = validated(ReadInputSerializer, request)
        read = access.own_read_for_update(request.user, case_id)
        try:
            read = services.read_save_draft(read=read, reader=request.user,
                                            findings=finding_inputs(data) or [],
                                            active_seconds=data.get("active_seconds"))
        except services.ReadingError as error:
            return error_response(error)
        return Response(DraftReceiptSerializer(read).data)


class MyReadSubmitApi(APIView):
    @extend_schema(request=ReadInputSerializer, responses=ReadSerializer)
    def post(self, request, case_id):
        case = access.case_get_for(request.user, case_id)
        data = validated(ReadInputSerializer, request)
        read = selectors.current_read_for(request.user, case, context=access.reading_context(request.user, case))
        if read is None:
            return Response({"detail": "open the read first"}, status=404)
        return read_call(lambda: services.read_submit(read=read, reader=request.user, findings=finding_inputs(data),
                                                      active_seconds=data.get("active_seconds")))


class ReadDetailApi(APIView):
    @extend_schema(responses=ReadSerializer)
    def get(self, request, read_id):
        read = access.read_get_for(request.user, read_id)
        return Response(reads_for(request.user, read.case, [read])[0])


class ReadCorrectApi(APIView):
    @extend_schema(request=None, responses={201: ReadSerializer})
    def post(self, request, read_id):
        read = access.read_get_for(request.user, read_id)
        return read_call(lambda: services.read_correct(read=read, reader=request.user), status_code=201)


class CaseReadsApi(APIView):
    @extend_schema(responses=ReadSerializer(many=True))
    def get(self, request, case_id):
        case = access.case_get_for(request.user, case_id)
        reads = access.reads_visible_to(request.user, case).prefetch_related("findings").order_by("id")
        return Response(reads_for(request.user, case, reads))


class GroundTruthApi(APIView):
    @extend_schema(responses=GroundTruthSerializer(many=True))
    def get(self, request, case_id):
        case = access.case_get_for(request.user, case_id)
        return Response(GroundTruthSerializer(access.ground_truth_for(request.user, case), many=True).data)


class ModelFindingsApi(APIView):
    @extend_schema(responses=FindingSerializer(many=True))
    def get(self, request, case_id):
        case = access.case_get_for(request.user, case_id)
        if not access.model_findings_visible_to(request.user, case):
            return Response({"detail": "no pre-annotations visible"}, status=404)
        return Response(FindingSerializer(selectors.model_findings_for(case), many=True).data)


def adjudication_data(user, adjudication) -> dict:
    hide = not access.reader_identities_visible_to(user, adjudication.case)
    return AdjudicationSerializer(adjudication, context={"hide_reader": hide}).data


class AdjudicationListApi(APIView):
    @extend_schema(responses=AdjudicationListSerializer(many=True))
    def get(self, request):
        queue = access.adjudication_queue_for(request.user).prefetch_related("items")
        return Response(AdjudicationListSerializer(queue, many=True).data)


class AdjudicationDetailApi(APIView):
    @extend_schema(responses=AdjudicationSerializer)
    def get(self, request, adjudication_id):
        adjudication = access.adjudication_get_for(request.user, adjudication_id)
        return Response(adjudication_data(request.user, adjudication))


class AdjudicationResolveApi(APIView):
    @extend_schema(request=ResolveSerializer, responses=AdjudicationSerializer)
    def post(self, request, adjudication_id):
        adjudication = access.adjudication_get_for(request.user, adjudication_id)
        if not access.may_resolve(request.user, adjudication):
            raise Http404("no such adjudication")  # a coordinator may look; only the case's senior decides
        data = validated(ResolveSerializer, request)
        decisions = [
            services.DecisionInput(item_id=d["item"], choice=d["choice"], value=d.get("value"),
                                   box=tuple(d["box"]) if d.get("box") else None, reason=d.get("reason", ""))
            for d in data["decisions"]
        ]
        try:
            adjudication = services.adjudication_resolve(adjudication=adjudication, senior=request.user,
                                                         decisions=decisions)
        except services.ReadingError as error:
            return error_response(error)
        return Response(adjudication_data(request.user, adjudication))


class ProjectProgressApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, slug):
        return Response(selectors.project_progress(access.project_coordinated_get_for(request.user, slug)))


class BalancedAssignApi(APIView):
    @extend_schema(request=BalancedAssignSerializer, responses={200: dict})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(BalancedAssignSerializer, request)
        try:
            readers = selectors.users_with_role(data["readers"], "reader", project=project)
            seniors = selectors.users_with_role(data["seniors"], "senior", project=project)
            count = services.cases_assign_balanced(project=project, readers=readers, seniors=seniors,
                                                   seed=data["seed"], actor=request.user)
        except ValueError as error:
            return error_response(error)
        return Response({"assigned_cases": count})


class ReassignApi(APIView):
    @extend_schema(request=ReassignSerializer, responses={200: dict})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(ReassignSerializer, request)
        try:
            case = access.cases_visible_to(request.user, project=project).get(pk=data["case"])
            from_user = selectors.user_named(data["from_user"])
            to_user = selectors.users_with_role([data["to_user"]], data["role"], project=project)[0]
            services.case_reassign(case=case, from_user=from_user, to_user=to_user, role=data["role"],
                                   actor=request.user)
        except Case.DoesNotExist:
            return Response({"detail": "no such case in this project"}, status=404)
        except ValueError as error:
            return error_response(error)
        return Response({"case": case.pk, "role": data["role"], "user": data["to_user"]})
