"""GitHub through PyGithub, authenticated as a GitHub App installation (or with ``GITHUB_TOKEN``).

Credentials come only from the environment:

* ``GH_APP_ID`` + ``GH_APP_PRIVATE_KEY`` (PEM text) or ``GH_APP_PRIVATE_KEY_PATH``, optionally
  ``GH_APP_INSTALLATION_ID`` (else looked up from the repository) and ``GH_APP_SLUG`` (the App's
  bot login is ``<slug>[bot]``); ``GITHUB_APP_*`` are accepted as aliases → an installation
  token, refreshed ``github_token_refresh_margin_seconds`` before it expires and again whenever
  GitHub answers 401 (a token can outlive its welcome during a long GPU run);
* otherwise ``GITHUB_TOKEN`` (or ``GH_TOKEN``).

``GITHUB_API_URL`` (set by Actions; the emulator's URL in tests) is the REST base URL. Rate limits
are honoured by PyGithub's :class:`GithubRetry`: secondary limits wait ``Retry-After``, primary
limits wait for ``X-RateLimit-Reset`` up to ``github_max_rate_limit_wait_seconds``; beyond that a
:class:`ForgeError` says when to try again. Tokens never appear in messages or logs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from github import Auth, Github, GithubException, GithubIntegration, GithubRetry
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededException,
    UnknownObjectException,
)

from bot.config import GITHUB_API_DEFAULT, Settings, github_api_base
from bot.errors import ConfigError, ForgeError
from bot.forge.base import (
    STATUS_STATES,
    ChangedFile,
    Comment,
    Forge,
    ForgeInfo,
    Issue,
    LabelEvent,
    PullRequest,
    Review,
    StatusReport,
    WorkflowRun,
)

T = TypeVar("T")
DEFAULT_API_URL = GITHUB_API_DEFAULT


class InstallationTokens:
    """Installation access tokens of one GitHub App installation, refreshed before expiry."""

    def __init__(
        self,
        app_id: str,
        private_key: str,
        *,
        base_url: str,
        installation_id: int | None = None,
        repo: str = "",
        margin_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ):
        self.app_id = app_id
        self.base_url = base_url
        self.repo = repo
        self.margin = margin_seconds
        self.clock = clock
        self.refreshes = 0
        self._installation_id = installation_id
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        try:
            self._integration = GithubIntegration(
                auth=Auth.AppAuth(int(app_id), private_key), base_url=base_url
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"GH_APP_ID must be a number, not {app_id!r}") from exc

    @property
    def expires_at(self) -> float:
        return self._expires_at

    def app_slug(self) -> str:
        """The App's slug (``GET /app`` with the JWT); its bot user is ``<slug>[bot]``."""
        try:
            return str(self._integration.get_app().slug)
        except GithubException as exc:
            raise ForgeError(
                f"cannot read GitHub App {self.app_id} (HTTP {exc.status}: {_message(exc)})"
            ) from exc

    def installation_id(self) -> int:
        if self._installation_id is None:
            if "/" not in self.repo:
                raise ConfigError("GH_APP_INSTALLATION_ID is not set and no repository to look it up from")
            owner, name = self.repo.split("/", 1)
            try:
                self._installation_id = int(self._integration.get_repo_installation(owner, name).id)
            except GithubException as exc:
                raise ForgeError(
                    f"the GitHub App {self.app_id} is not installed on {self.repo} (HTTP {exc.status}: {_message(exc)})"
                ) from exc
        return self._installation_id

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - self.margin:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _refresh(self) -> None:
        try:
            auth = self._integration.get_access_token(self.installation_id())
        except GithubException as exc:
            raise ForgeError(
                f"cannot get an installation token for GitHub App {self.app_id} "
                f"(HTTP {exc.status}: {_message(exc)}); check GH_APP_ID and GH_APP_PRIVATE_KEY"
            ) from exc
        self._token = auth.token
        expires = auth.expires_at
        if expires is None:
            self._expires_at = self.clock() + 3600
        else:
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            self._expires_at = expires.timestamp()
        self.refreshes += 1


class _InstallationAuth(Auth.Auth):
    """PyGithub auth whose token is asked for on every request (so refreshes are seamless)."""

    def __init__(self, tokens: InstallationTokens):
        self._tokens = tokens

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._tokens.token()

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        return str(data.get("message") or data)
    return str(data)[:200]


def app_env(env: Mapping[str, str], name: str) -> str:
    """``GH_APP_<name>`` (what the workflows set) or its alias ``GITHUB_APP_<name>``."""
    return (env.get(f"GH_APP_{name}") or env.get(f"GITHUB_APP_{name}") or "").strip()


def read_private_key(env: Mapping[str, str]) -> str | None:
    text = app_env(env, "PRIVATE_KEY")
    if text:
        return text.replace("\\n", "\n") if "\\n" in text and "\n" not in text else text
    path = app_env(env, "PRIVATE_KEY_PATH")
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read the App private key: {exc.strerror}", path=path) from exc
    return None


def repository_from(settings: Settings, env: Mapping[str, str]) -> str:
    repo = settings.github_repository or env.get("GITHUB_REPOSITORY", "")
    if not repo or repo.count("/") != 1:
        raise ConfigError(
            "no GitHub repository: set github_repository (owner/name) or GITHUB_REPOSITORY",
            field="github_repository",
        )
    return repo


def has_github_credentials(env: Mapping[str, str]) -> bool:
    return bool(app_env(env, "ID") or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN"))


class GitHubForge(Forge):
    """The forge interface over the GitHub REST API."""

    def __init__(
        self,
        repo: str,
        *,
        token: str | None = None,
        tokens: InstallationTokens | None = None,
        base_url: str = DEFAULT_API_URL,
        settings: Settings | None = None,
        bot_login: str = "",
    ):
        if token is None and tokens is None:
            raise ConfigError(
                "no GitHub credentials: set GH_APP_ID + GH_APP_PRIVATE_KEY (a GitHub App) or GITHUB_TOKEN"
            )
        s = settings or Settings()
        self.repo = repo
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._static_token = token
        self._bot_login = bot_login
        auth: Auth.Auth = _InstallationAuth(tokens) if tokens is not None else Auth.Token(token or "")
        retry = GithubRetry(
            total=6,
            backoff_factor=0.5,
            secondary_rate_wait=s.github_secondary_rate_wait_seconds,
            max_rate_limit_wait=s.github_max_rate_limit_wait_seconds,
        )
        self._gh = Github(
            auth=auth,
            base_url=self.base_url,
            retry=retry,
            per_page=100,
            timeout=30,
            seconds_between_requests=s.github_seconds_between_requests or None,
            seconds_between_writes=s.github_seconds_between_writes or None,
        )
        self._repo_obj: Any = None

    @classmethod
    def from_env(cls, settings: Settings, env: Mapping[str, str] | None = None) -> GitHubForge:
        env = os.environ if env is None else env
        repo = repository_from(settings, env)
        base_url = github_api_base(settings, env)
        app_id = app_env(env, "ID")
        if app_id:
            key = read_private_key(env)
            if not key:
                raise ConfigError("GH_APP_ID is set but GH_APP_PRIVATE_KEY(_PATH) is not")
            inst = app_env(env, "INSTALLATION_ID")
            if inst and not inst.isdigit():
                raise ConfigError(f"GH_APP_INSTALLATION_ID must be a number, not {inst!r}")
            tokens = InstallationTokens(
                app_id,
                key,
                base_url=base_url,
                installation_id=int(inst) if inst else None,
                repo=repo,
                margin_seconds=settings.github_token_refresh_margin_seconds,
            )
            slug = app_env(env, "SLUG")
            return cls(
                repo,
                tokens=tokens,
                base_url=base_url,
                settings=settings,
                bot_login=f"{slug}[bot]" if slug else "",
            )
        token = (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip()
        if not token:
            raise ConfigError(
                "no GitHub credentials: set GH_APP_ID + GH_APP_PRIVATE_KEY (a GitHub App) or GITHUB_TOKEN"
            )
        # In Actions, GITHUB_TOKEN acts as github-actions[bot] (and cannot call GET /user).
        login = "github-actions[bot]" if env.get("GITHUB_ACTIONS") == "true" and "GITHUB_TOKEN" in env else ""
        return cls(repo, token=token, base_url=base_url, settings=settings, bot_login=login)

    # ------------------------------------------------------------------ plumbing
    @property
    def tokens(self) -> InstallationTokens | None:
        return self._tokens

    def info(self) -> ForgeInfo:
        return ForgeInfo(
            "github", self.repo, self._bot_login, "app" if self._tokens else "token", {"api": self.base_url}
        )

    @property
    def bot_login(self) -> str:
        if not self._bot_login:
            if self._tokens is not None:
                # GET /app answers with the slug; the installation acts as "<slug>[bot]".
                self._bot_login = f"{self._tokens.app_slug()}[bot]"
            else:
                self._bot_login = self._call("GET /user", lambda: self._gh.get_user().login)
        return self._bot_login

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one API operation: refresh the token once on 401, translate errors."""
        for attempt in (1, 2):
            try:
                return fn()
            except BadCredentialsException as exc:
                if self._tokens is not None and attempt == 1:
                    self._tokens.invalidate()
                    continue
                raise ForgeError(f"{what}: GitHub rejected the credentials ({_message(exc)})") from exc
            except RateLimitExceededException as exc:
                reset = (exc.headers or {}).get("X-RateLimit-Reset") or (exc.headers or {}).get(
                    "x-ratelimit-reset"
                )
                when = ""
                if reset and str(reset).isdigit():
                    when = " until " + datetime.fromtimestamp(int(reset), tz=UTC).strftime("%H:%M:%S UTC")
                raise ForgeError(f"{what}: GitHub rate limit exceeded{when} ({_message(exc)})") from exc
            except UnknownObjectException as exc:
                raise ForgeError(f"{what}: not found on {self.repo}") from exc
            except GithubException as exc:
                raise ForgeError(f"{what}: HTTP {exc.status}: {_message(exc)}") from exc
            except OSError as exc:
                raise ForgeError(f"{what}: cannot reach {self.base_url}: {exc}") from exc
        raise AssertionError("unreachable")

    @property
    def _repo(self) -> Any:
        if self._repo_obj is None:
            self._repo_obj = self._call(f"GET repos/{self.repo}", lambda: self._gh.get_repo(self.repo))
        return self._repo_obj

    def _to_pr(self, p: Any) -> PullRequest:
        head_repo = p.head.repo.full_name if p.head.repo is not None else ""
        return PullRequest(
            number=p.number,
            title=p.title or "",
            body=p.body or "",
            author=p.user.login if p.user else "",
            head_sha=p.head.sha,
            head_ref=p.head.ref,
            head_repo=head_repo,
            base_ref=p.base.ref,
            base_repo=p.base.repo.full_name if p.base.repo is not None else self.repo,
            labels=tuple(lb.name for lb in p.labels),
            state=p.state,
            merged=bool(p.merged),
            url=p.html_url or "",
            draft=bool(p.draft),
        )

    # ------------------------------------------------------------------ pull requests
    def get_pr(self, number: int) -> PullRequest:
        return self._call(f"GET pull #{number}", lambda: self._to_pr(self._repo.get_pull(number)))

    def list_open_prs(self, branch_prefix: str = "") -> list[PullRequest]:
        def go() -> list[PullRequest]:
            return [
                self._to_pr(p)
                for p in self._repo.get_pulls(state="open", sort="created", direction="asc")
                if p.head.ref.startswith(branch_prefix)
            ]

        return self._call("GET pulls", go)

    def changed_files(self, number: int) -> list[ChangedFile]:
        def go() -> list[ChangedFile]:
            return [
                ChangedFile(f.filename, f.status, f.additions, f.deletions)
                for f in self._repo.get_pull(number).get_files()
            ]

        return self._call(f"GET pull #{number} files", go)

    def read_file(self, path: str, ref: str) -> bytes | None:
        def go() -> bytes | None:
            try:
                c = self._repo.get_contents(path, ref=ref)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise
            if isinstance(c, list):
                raise ForgeError(f"{path} at {ref} is a folder, not a file")
            return bytes(c.decoded_content)

        return self._call(f"GET contents {path}@{ref}", go)

    def open_pr(
        self, head: str, base: str, title: str, body: str, labels: list[str] | None = None
    ) -> PullRequest:
        def go() -> PullRequest:
            p = self._repo.create_pull(base=base, head=head, title=title, body=body)
            if labels:
                p.add_to_labels(*labels)
                p = self._repo.get_pull(p.number)
            return self._to_pr(p)

        return self._call(f"POST pull {head} → {base}", go)

    def merge_pr(self, number: int, sha: str, message: str = "") -> str:
        def go() -> str:
            p = self._repo.get_pull(number)
            kwargs: dict[str, Any] = {"sha": sha, "merge_method": "merge"}
            if message:
                kwargs["commit_title"] = message
            status = p.merge(**kwargs)
            if not status.merged:
                raise ForgeError(f"PR #{number} was not merged: {status.message}")
            return str(status.sha)

        return self._call(f"PUT pull #{number} merge", go)

    # ------------------------------------------------------------------ comments
    @staticmethod
    def _to_comment(c: Any) -> Comment:
        user = c.user
        return Comment(
            id=int(c.id),
            body=c.body or "",
            author=user.login if user else "",
            author_is_bot=bool(user and (user.type == "Bot" or user.login.endswith("[bot]"))),
            url=c.html_url or "",
        )

    def find_issues(self, label: str, state: str = "open") -> list[Issue]:
        def go() -> list[Issue]:
            out = []
            for i in self._repo.get_issues(state=state, labels=[label]):
                if i.pull_request is not None:
                    continue
                out.append(
                    Issue(int(i.number), i.title or "", i.user.login if i.user else "", i.state, i.body or "",
                          i.html_url or "")
                )  # fmt: skip
            return out

        return self._call(f"GET issues labelled {label}", go)

    def create_issue(self, title: str, body: str, labels: list[str] | None = None) -> Issue:
        def go() -> Issue:
            i = self._repo.create_issue(title=title, body=body, labels=list(labels or []))
            return Issue(int(i.number), i.title or "", i.user.login if i.user else "", i.state, i.body or "",
                         i.html_url or "")  # fmt: skip

        return self._call("POST issue", go)

    def list_comments(self, number: int) -> list[Comment]:
        return self._call(
            f"GET comments #{number}",
            lambda: [self._to_comment(c) for c in self._repo.get_issue(number).get_comments()],
        )

    def create_comment(self, number: int, body: str) -> Comment:
        return self._call(
            f"POST comment #{number}",
            lambda: self._to_comment(self._repo.get_issue(number).create_comment(body)),
        )

    def update_comment(self, number: int, comment_id: int, body: str) -> Comment:
        def go() -> Comment:
            c = self._repo.get_issue(number).get_comment(comment_id)
            c.edit(body)
            return self._to_comment(c)

        return self._call(f"PATCH comment {comment_id}", go)

    # ------------------------------------------------------------------ labels
    def labels(self, number: int) -> list[str]:
        return self._call(
            f"GET labels #{number}", lambda: [lb.name for lb in self._repo.get_issue(number).get_labels()]
        )

    def add_label(self, number: int, label: str) -> None:
        self._call(f"POST label {label} #{number}", lambda: self._repo.get_issue(number).add_to_labels(label))

    def remove_label(self, number: int, label: str) -> bool:
        def go() -> bool:
            try:
                self._repo.get_issue(number).remove_from_labels(label)
            except GithubException as exc:
                if exc.status == 404:  # "Label does not exist"
                    return False
                raise
            return True

        return self._call(f"DELETE label {label} #{number}", go)

    # ------------------------------------------------------------------ trust and statuses
    def permission(self, user: str) -> str:
        def go() -> str:
            try:
                return str(self._repo.get_collaborator_role_name(user))
            except GithubException as exc:
                if exc.status == 404:  # not a GitHub user at all
                    return "none"
                raise

        return self._call(f"GET permission of {user}", go)

    def set_status(self, report: StatusReport) -> None:
        if report.state not in STATUS_STATES:
            raise ForgeError(f"status state must be one of {STATUS_STATES}, not {report.state!r}")

        def go() -> None:
            commit = self._repo.get_commit(report.sha)
            kwargs: dict[str, Any] = {"context": report.context}
            if report.description:
                kwargs["description"] = report.description[:140]
            if report.target_url:
                kwargs["target_url"] = report.target_url
            commit.create_status(report.state, **kwargs)

        self._call(f"POST status {report.sha[:12]}", go)

    # ------------------------------------------------------------------ the research branch and PR
    def default_branch(self) -> str:
        return str(self._repo.default_branch)

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None, state: str | None = None
    ) -> PullRequest:
        def go() -> PullRequest:
            p = self._repo.get_pull(number)
            kwargs: dict[str, Any] = {}
            if title is not None:
                kwargs["title"] = title
            if body is not None:
                kwargs["body"] = body
            if state is not None:
                kwargs["state"] = state
            p.edit(**kwargs)
            return self._to_pr(self._repo.get_pull(number))

        return self._call(f"PATCH pull #{number}", go)

    def put_branch_file(
        self,
        branch: str,
        base: str,
        path: str,
        data: bytes,
        message: str,
        *,
        expected_head: str | None = None,
    ) -> str:
        def go() -> str:
            base_sha = self._repo.get_branch(base).commit.sha
            try:
                ref = self._repo.get_git_ref(f"heads/{branch}")
            except GithubException as exc:
                if exc.status != 404:
                    raise
                ref = None
            if ref is not None:
                if expected_head is not None and ref.object.sha != expected_head:
                    raise ForgeError(
                        f"branch {branch} is at {ref.object.sha[:12]}, not at the commit pgolf last wrote "
                        f"({(expected_head or 'none')[:12]}); someone else pushed to it, so it is left alone"
                    )
                ref.edit(base_sha, force=True)
            else:
                self._repo.create_git_ref(f"refs/heads/{branch}", base_sha)
            try:
                current = self._repo.get_contents(path, ref=branch)
            except GithubException as exc:
                if exc.status != 404:
                    raise
                current = None
            if isinstance(current, list):
                raise ForgeError(f"{path} on {branch} is a folder, not a file")
            if current is None:
                result = self._repo.create_file(path, message, data, branch=branch)
            else:
                result = self._repo.update_file(path, message, data, current.sha, branch=branch)
            return str(result["commit"].sha)

        return self._call(f"PUT {path} on {branch}", go)

    def reviews(self, number: int) -> list[Review]:
        def go() -> list[Review]:
            out = []
            for r in self._repo.get_pull(number).get_reviews():
                user = r.user
                out.append(
                    Review(
                        user=user.login if user else "",
                        state=str(r.state or ""),
                        user_type=str(user.type) if user else "User",
                        submitted_at=r.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ") if r.submitted_at else "",
                        commit_id=str(r.commit_id or ""),
                    )
                )
            return out

        return self._call(f"GET reviews #{number}", go)

    def label_events(self, number: int) -> list[LabelEvent]:
        def go() -> list[LabelEvent]:
            out = []
            for e in self._repo.get_issue(number).get_events():
                if e.event not in ("labeled", "unlabeled") or e.label is None:
                    continue
                actor = e.actor
                out.append(
                    LabelEvent(
                        label=str(e.label.name),
                        action=str(e.event),
                        actor=actor.login if actor else "",
                        actor_type=str(actor.type) if actor else "User",
                        created_at=e.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if e.created_at else "",
                    )
                )
            return out

        return self._call(f"GET events #{number}", go)

    # ------------------------------------------------------------------ Actions
    def workflow_run(self, run_id: int) -> WorkflowRun:
        def go() -> WorkflowRun:
            run = self._repo.get_workflow_run(run_id)
            head = run.head_repository
            return WorkflowRun(
                id=int(run.id),
                name=run.name or "",
                path=run.path or "",
                event=run.event or "",
                conclusion=run.conclusion or "",
                head_sha=run.head_sha or "",
                head_branch=run.head_branch or "",
                head_repo=head.full_name if head is not None else "",
                pull_requests=tuple(int(p.number) for p in run.pull_requests or []),
            )

        return self._call(f"GET actions run {run_id}", go)

    def run_artifact(self, run_id: int, name: str, max_bytes: int) -> bytes | None:
        """Download artifact ``name`` of run ``run_id``: the API answers 302 to a storage URL,
        which is fetched WITHOUT our token (it is signed; the token must not leave GitHub)."""
        import httpx

        def find() -> Any:
            for art in self._repo.get_workflow_run(run_id).get_artifacts():
                if art.name == name:
                    return art
            return None

        art = self._call(f"GET artifacts of run {run_id}", find)
        if art is None:
            return None
        if art.expired:
            raise ForgeError(f"artifact {name!r} of run {run_id} has expired")
        if int(art.size_in_bytes or 0) > max_bytes:
            raise ForgeError(
                f"artifact {name!r} of run {run_id} is {art.size_in_bytes} bytes (limit {max_bytes})"
            )
        token = self._tokens.token() if self._tokens is not None else (self._static_token or "")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
        try:
            with httpx.Client(timeout=60, follow_redirects=False) as client:
                resp = client.get(art.archive_download_url, headers=headers)
                if resp.is_redirect:
                    resp = _capped_get(client, resp.headers["location"], max_bytes)
                if resp.status_code != 200:
                    raise ForgeError(f"artifact {name!r} of run {run_id}: HTTP {resp.status_code}")
                if len(resp.content) > max_bytes:
                    raise ForgeError(f"artifact {name!r} of run {run_id} exceeds {max_bytes} bytes")
                return resp.content
        except httpx.HTTPError as exc:
            raise ForgeError(f"artifact {name!r} of run {run_id}: {type(exc).__name__}") from None


def _capped_get(client: Any, url: str, max_bytes: int) -> Any:
    """GET ``url`` with no credentials, reading at most ``max_bytes`` + 1 bytes."""
    import httpx

    with client.stream("GET", url) as resp:
        chunks: list[bytes] = []
        total = 0
        for chunk in resp.iter_bytes():
            total += len(chunk)
            chunks.append(chunk)
            if total > max_bytes:
                break
        return httpx.Response(resp.status_code, content=b"".join(chunks))
