"""The blocking client's AdminService methods."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from infogap.v1.admin_service_pb2 import (
    DeleteUserResponse,
    EvaluateModelsResponse,
    Experiment,
    GetExperimentReportResponse,
    GetModelInfoResponse,
    GetPrivacyBudgetResponse,
    ListPluginsResponse,
    TrainResponse,
)

from . import _requests as build
from ._client_base import ClientBase
from ._convert import VariantLike
from ._defaults import EVALUATE_TIMEOUT, TRAIN_TIMEOUT


class AdminMethods(ClientBase):
    """Training, models, erasure, privacy, plugins, evaluation and experiments."""

    # --- AdminService -------------------------------------------------------------------------

    def train(self, catalog: str = "", *, timeout: float = TRAIN_TIMEOUT) -> TrainResponse:
        """Trains a catalog's models on its stored events and starts serving them.

        Returns once the new models serve. Not retried automatically.

        Raises:
            FailedPreconditionError: The catalog has no events yet.
        """
        return self._call(self._admin.Train, build.train_request(catalog), timeout)

    def model_info(
        self, catalog: str = "", *, timeout: float | None = None
    ) -> GetModelInfoResponse:
        """The models serving a catalog, in serving order.

        Raises:
            NotFoundError: The catalog was never trained.
        """
        return self._call(self._admin.GetModelInfo, build.model_info_request(catalog), timeout)

    def delete_user(self, user_id: str, *, timeout: float | None = None) -> DeleteUserResponse:
        """Forgets a user everywhere (right to be forgotten); returns the receipt.

        Not retried automatically: a repeat after success answers NOT_FOUND.

        Raises:
            NotFoundError: The user is unknown.
        """
        return self._call(self._admin.DeleteUser, build.delete_user_request(user_id), timeout)

    def privacy_budget(
        self, catalog: str = "", *, timeout: float | None = None
    ) -> GetPrivacyBudgetResponse:
        """The differential-privacy budget of a catalog in the current window.

        Raises:
            FailedPreconditionError: The privacy plugin is off.
        """
        request = build.privacy_budget_request(catalog)
        return self._call(self._admin.GetPrivacyBudget, request, timeout)

    def list_plugins(self, *, timeout: float | None = None) -> ListPluginsResponse:
        """Every plugin the server found, enabled or not."""
        return self._call(self._admin.ListPlugins, build.list_plugins_request(), timeout)

    def evaluate_models(
        self,
        catalog: str = "",
        *,
        split: str = "random",
        k: int = 10,
        candidates: Iterable[str] = (),
        max_users: int = 0,
        seed: int | None = None,
        include_privacy: bool = False,
        timeout: float = EVALUATE_TIMEOUT,
    ) -> EvaluateModelsResponse:
        """Evaluates candidates offline on the catalog's stored history (as ``infogap eval``).

        Args:
            split: ``"random"``, ``"temporal"``, ``"cold-users"`` or ``"cold-items"``.
            candidates: Candidate keys (e.g. ``"popularity"``, ``"lightfm"``); empty: all.
            max_users: Test users evaluated at most; 0 means the server's default (1,000).
            include_privacy: Also measure differentially private popularity per epsilon.

        ``report_html`` of the response is a self-contained page: write it to a file and open
        it. Not retried automatically.

        Raises:
            FailedPreconditionError: The catalog has too little history to split.
        """
        request = build.evaluate_models_request(
            catalog,
            split=split,
            k=k,
            candidates=candidates,
            max_users=max_users,
            seed=seed,
            include_privacy=include_privacy,
        )
        return self._call(self._admin.EvaluateModels, request, timeout)

    def create_experiment(
        self,
        name: str,
        variants: Iterable[VariantLike],
        *,
        catalog: str = "",
        description: str = "",
        attribution_window: timedelta | None = None,
        timeout: float | None = None,
    ) -> Experiment:
        """Defines an experiment as a draft; the first variant is the control.

        Example::

            client.create_experiment("home-v2", [
                {"name": "control", "share": 0.5},
                {"name": "popular", "share": 0.5, "strategies": ["popularity"]},
            ])

        Raises:
            AlreadyExistsError: The name is taken.
            InvalidArgumentError: A bad share, strategy or model version (the field is named).
        """
        request = build.create_experiment_request(
            name,
            variants,
            catalog=catalog,
            description=description,
            attribution_window=attribution_window,
        )
        return self._call(self._admin.CreateExperiment, request, timeout).experiment

    def start_experiment(self, name: str, *, timeout: float | None = None) -> Experiment:
        """Starts a draft experiment: its catalog's traffic is split between its variants.

        Raises:
            FailedPreconditionError: It is not a draft, or another one runs on its catalog.
        """
        request = build.start_experiment_request(name)
        return self._call(self._admin.StartExperiment, request, timeout).experiment

    def stop_experiment(self, name: str, *, timeout: float | None = None) -> Experiment:
        """Stops a running experiment; its report stays available.

        Raises:
            FailedPreconditionError: It is not running.
        """
        request = build.stop_experiment_request(name)
        return self._call(self._admin.StopExperiment, request, timeout).experiment

    def list_experiments(self, *, timeout: float | None = None) -> list[Experiment]:
        """Every experiment, newest first."""
        request = build.list_experiments_request()
        return list(self._call(self._admin.ListExperiments, request, timeout).experiments)

    def experiment_report(
        self, name: str, *, timeout: float | None = None
    ) -> GetExperimentReportResponse:
        """Per-variant users, impressions, CTR, conversion and revenue with confidence
        intervals, lift against the control, significance, and the winner.

        Raises:
            NotFoundError: No experiment has that name.
        """
        request = build.experiment_report_request(name)
        return self._call(self._admin.GetExperimentReport, request, timeout)
