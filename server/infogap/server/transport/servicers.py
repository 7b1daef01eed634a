"""The four InfoGap gRPC services. Each method translates its request, calls the core and
translates the answer; errors are mapped by ``status.DomainErrorInterceptor``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import grpc

from infogap.server.core.domain import RecordResult
from infogap.server.core.errors import Cancelled
from infogap.server.core.service import InfoGap
from infogap.server.transport import convert
from infogap.server.transport.pseudonyms import Pseudonyms
from infogap.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    entities_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    profile_service_pb2,
    profile_service_pb2_grpc,
    recommend_service_pb2,
    recommend_service_pb2_grpc,
)

# EvaluateModels' defaults for unset fields.
DEFAULT_EVALUATION_K = 10
DEFAULT_EVALUATION_USERS = 1000
DEFAULT_EVALUATION_SEED = 42


def _still_wanted(context: grpc.ServicerContext, step: str) -> None:
    """Between the steps of a long call: stops the work once its caller has gone."""
    if not context.is_active():
        raise Cancelled(f"the caller went away before {step!r}")


class FeedbackServicer(feedback_service_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, core: InfoGap, pseudonyms: Pseudonyms) -> None:
        self._core = core
        self._ids = pseudonyms

    def RecordEvents(
        self, request: feedback_service_pb2.RecordEventsRequest, context: grpc.ServicerContext
    ) -> feedback_service_pb2.RecordEventsResponse:
        return convert.record_response(self._record(request.events))

    def _record(self, events: Sequence[entities_pb2.Event]) -> RecordResult:
        batch = convert.event_batch(events)
        batch.user_ids[:] = self._ids.of_all(batch.user_ids)
        return self._core.record_events(batch)

    def StreamEvents(
        self,
        request_iterator: Iterator[feedback_service_pb2.StreamEventsRequest],
        context: grpc.ServicerContext,
    ) -> feedback_service_pb2.StreamEventsResponse:
        response = feedback_service_pb2.StreamEventsResponse()
        for request in request_iterator:
            result = self._record(request.events)
            response.stored_count += result.stored_count
            response.duplicate_count += result.duplicate_count
            response.batch_count += 1
        return response


class ProfileServicer(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self, core: InfoGap, pseudonyms: Pseudonyms) -> None:
        self._core = core
        self._ids = pseudonyms

    def UpsertUsers(
        self, request: profile_service_pb2.UpsertUsersRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.UpsertUsersResponse:
        users = [replace(u, user_id=self._ids.of(u.user_id)) for u in convert.users(request.users)]
        count = self._core.upsert_users(users)
        return profile_service_pb2.UpsertUsersResponse(upserted_count=count)

    def PatchUsers(
        self, request: profile_service_pb2.PatchUsersRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.PatchUsersResponse:
        patches = [
            replace(p, user_id=self._ids.of(p.user_id))
            for p in convert.user_patches(request.patches)
        ]
        count = self._core.patch_users(patches)
        return profile_service_pb2.PatchUsersResponse(patched_count=count)

    def UpsertItems(
        self, request: profile_service_pb2.UpsertItemsRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.UpsertItemsResponse:
        count = self._core.upsert_items(convert.items(request.items))
        return profile_service_pb2.UpsertItemsResponse(upserted_count=count)

    def GetProfile(
        self, request: profile_service_pb2.GetProfileRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.GetProfileResponse:
        as_of = convert.optional_time(request, "as_of_time")
        profile = self._core.profile(self._ids.of(request.user_id), as_of)
        message = convert.profile(profile)
        message.user_id = request.user_id  # the caller's own id, not the pseudonym
        return profile_service_pb2.GetProfileResponse(profile=message)

    def GetProfiles(
        self, request: profile_service_pb2.GetProfilesRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.GetProfilesResponse:
        as_of = convert.optional_time(request, "as_of_time")
        raw_of = {self._ids.of(raw): raw for raw in request.user_ids}
        profiles, missing = self._core.profiles(list(raw_of), as_of)
        messages = [convert.profile(p) for p in profiles]
        for message in messages:
            message.user_id = raw_of[message.user_id]
        return profile_service_pb2.GetProfilesResponse(
            profiles=messages, missing_user_ids=[raw_of[m] for m in missing]
        )

    def DefineSegment(
        self, request: profile_service_pb2.DefineSegmentRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.DefineSegmentResponse:
        segment = self._core.define_segment(request.name, request.rule, request.description)
        return profile_service_pb2.DefineSegmentResponse(segment=convert.segment(segment))

    def DeleteSegment(
        self, request: profile_service_pb2.DeleteSegmentRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.DeleteSegmentResponse:
        self._core.delete_segment(request.name)
        return profile_service_pb2.DeleteSegmentResponse()

    def ListSegments(
        self, request: profile_service_pb2.ListSegmentsRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.ListSegmentsResponse:
        segments = self._core.list_segments()
        return profile_service_pb2.ListSegmentsResponse(
            segments=[convert.segment(s) for s in segments]
        )

    def GetSegmentMembers(
        self, request: profile_service_pb2.GetSegmentMembersRequest, context: grpc.ServicerContext
    ) -> profile_service_pb2.GetSegmentMembersResponse:
        members, token = self._core.segment_members(
            request.name, request.page_size, request.page_token
        )
        return profile_service_pb2.GetSegmentMembersResponse(
            user_ids=members, next_page_token=token
        )


class RecommendServicer(recommend_service_pb2_grpc.RecommendServiceServicer):
    def __init__(self, core: InfoGap, pseudonyms: Pseudonyms) -> None:
        self._core = core
        self._ids = pseudonyms

    def Recommend(
        self, request: recommend_service_pb2.RecommendRequest, context: grpc.ServicerContext
    ) -> recommend_service_pb2.RecommendResponse:
        result = self._core.recommend(
            self._ids.of(request.user_id),
            request.catalog,
            request.count,
            convert.item_filter(request.filter),
            request.include_seen,
            convert.diversity(request),
        )
        response = recommend_service_pb2.RecommendResponse(
            recommendation_id=result.recommendation_id,
            model_version=result.model_version,
            strategy=result.strategy,
            experiment=result.experiment,
            variant=result.variant,
        )
        convert.add_scored_items(response.items, result)
        return response

    def SimilarItems(
        self, request: recommend_service_pb2.SimilarItemsRequest, context: grpc.ServicerContext
    ) -> recommend_service_pb2.SimilarItemsResponse:
        result = self._core.similar_items(
            request.item_id, request.catalog, request.count, convert.item_filter(request.filter)
        )
        response = recommend_service_pb2.SimilarItemsResponse(
            model_version=result.model_version, strategy=result.strategy
        )
        convert.add_scored_items(response.items, result)
        return response

    def RankItems(
        self, request: recommend_service_pb2.RankItemsRequest, context: grpc.ServicerContext
    ) -> recommend_service_pb2.RankItemsResponse:
        result = self._core.rank_items(
            self._ids.of(request.user_id), request.catalog, list(request.item_ids)
        )
        response = recommend_service_pb2.RankItemsResponse(
            recommendation_id=result.recommendation_id,
            model_version=result.model_version,
            strategy=result.strategy,
            experiment=result.experiment,
            variant=result.variant,
        )
        convert.add_scored_items(response.items, result)
        return response


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, core: InfoGap, pseudonyms: Pseudonyms) -> None:
        self._core = core
        self._ids = pseudonyms

    def Train(
        self, request: admin_service_pb2.TrainRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.TrainResponse:
        report = self._core.train(request.catalog)
        return admin_service_pb2.TrainResponse(
            models=[convert.model_info(m) for m in report.models],
            total_seconds=report.total_seconds,
            decision=convert.training_decision(report.decision),
        )

    def GetModelInfo(
        self, request: admin_service_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.GetModelInfoResponse:
        infos, decision, plan = self._core.model_info(request.catalog)
        return admin_service_pb2.GetModelInfoResponse(
            models=[convert.model_info(m) for m in infos],
            last_decision=convert.training_decision(decision),
            serving_plan=convert.serving_plan(plan),
        )

    def DeleteUser(
        self, request: admin_service_pb2.DeleteUserRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.DeleteUserResponse:
        receipt = self._core.delete_user(self._ids.of(request.user_id))
        return convert.erasure_receipt(receipt)

    def ListPlugins(
        self, request: admin_service_pb2.ListPluginsRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.ListPluginsResponse:
        return admin_service_pb2.ListPluginsResponse(
            plugins=[convert.plugin_info(p) for p in self._core.plugins()]
        )

    def GetPrivacyBudget(
        self, request: admin_service_pb2.GetPrivacyBudgetRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.GetPrivacyBudgetResponse:
        return convert.privacy_budget(self._core.privacy_budget(request.catalog))

    def EvaluateModels(
        self, request: admin_service_pb2.EvaluateModelsRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.EvaluateModelsResponse:
        report = self._core.evaluate_history(
            request.catalog,
            split=convert.evaluation_split(request.split),
            k=request.k or DEFAULT_EVALUATION_K,
            candidates=list(request.candidates),
            max_users=request.max_users or DEFAULT_EVALUATION_USERS,
            seed=request.seed if request.HasField("seed") else DEFAULT_EVALUATION_SEED,
            include_privacy=request.include_privacy,
            progress=lambda step: _still_wanted(context, step),
        )
        return convert.evaluation_report(report)

    def CreateExperiment(
        self, request: admin_service_pb2.CreateExperimentRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.CreateExperimentResponse:
        created = self._core.create_experiment(convert.experiment_definition(request.experiment))
        return admin_service_pb2.CreateExperimentResponse(experiment=convert.experiment(created))

    def StartExperiment(
        self, request: admin_service_pb2.StartExperimentRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.StartExperimentResponse:
        started = self._core.start_experiment(request.name)
        return admin_service_pb2.StartExperimentResponse(experiment=convert.experiment(started))

    def StopExperiment(
        self, request: admin_service_pb2.StopExperimentRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.StopExperimentResponse:
        stopped = self._core.stop_experiment(request.name)
        return admin_service_pb2.StopExperimentResponse(experiment=convert.experiment(stopped))

    def ListExperiments(
        self, request: admin_service_pb2.ListExperimentsRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.ListExperimentsResponse:
        return admin_service_pb2.ListExperimentsResponse(
            experiments=[convert.experiment(e) for e in self._core.experiments()]
        )

    def GetExperimentReport(
        self, request: admin_service_pb2.GetExperimentReportRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.GetExperimentReportResponse:
        return convert.experiment_report(self._core.experiment_report(request.name))
