"""The ``/session`` routes: sessions, prompts, transcripts, status, abort, todo, diff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opencode_orchestrator.sim.agents.scripted import COMPACTION_AGENT
from opencode_orchestrator.sim.engine.sessions import TurnInterruptedError
from opencode_orchestrator.sim.engine.shell import run_shell
from opencode_orchestrator.sim.engine.turn_writer import PromptRequest
from opencode_orchestrator.sim.http.bodies import (
    CommandBody,
    PatchSessionBody,
    PromptBody,
    SessionCreateBody,
    ShellBody,
    SummarizeBody,
)
from opencode_orchestrator.sim.http.context import (
    BodyError,
    MalformedBodyError,
    SimContext,
    context_of,
    directory_of,
    parse_body,
    read_body,
)
from opencode_orchestrator.sim.http.responses import (
    JsonResponse,
    bad_request,
    cut_connection,
    no_content,
    not_found,
    session_busy,
    unexpected_error,
)
from opencode_orchestrator.sim.state.records import Json

__all__ = ["DEFAULT_AGENT", "create_in", "find_session", "prompt_async_in", "session_routes"]

DEFAULT_AGENT = "build"
_Handler = Callable[[Request], Awaitable[Response]]


def _session_or_404(request: Request) -> Json | Response:
    return find_session(context_of(request), request.path_params["sessionID"])


def find_session(ctx: SimContext, sid: str) -> Json | Response:
    """The session ``sid``, or the answer OpenCode gives when there is none."""
    if not sid.startswith("ses"):
        return unexpected_error()
    info = ctx.hub.sessions.get(sid)
    return info if info is not None else not_found(f"Session not found: {sid}")


def _with_session(handler: Callable[[Request, Json], Awaitable[Response]]) -> _Handler:
    async def wrapped(request: Request) -> Response:
        found = _session_or_404(request)
        if isinstance(found, Response):
            return found
        try:
            return await handler(request, found)
        except BodyError as exc:
            return bad_request(str(exc))
        except MalformedBodyError:
            return unexpected_error()

    return wrapped


async def list_sessions(request: Request) -> Response:
    """``GET /session``: the addressed project's sessions, most recently updated first."""
    hub, query = context_of(request).hub, request.query_params
    directory = directory_of(request)
    found = [s for s in hub.sessions.values() if s["directory"] == directory]
    if query.get("roots") == "true":
        found = [s for s in found if "parentID" not in s]
    if search := query.get("search"):
        found = [s for s in found if search.lower() in s["title"].lower()]
    if (start := query.get("start")) and start.isdigit():
        found = [s for s in found if s["time"]["updated"] >= int(start)]
    found.sort(key=lambda s: s["time"]["updated"], reverse=True)
    if (limit := query.get("limit")) and limit.isdigit():
        found = found[: int(limit)]
    return JsonResponse(found)


async def create_session(request: Request) -> Response:
    """``POST /session``."""
    return await create_in(context_of(request), directory_of(request), await request.body())


async def create_in(ctx: SimContext, directory: str, raw: bytes) -> Response:
    """``POST /session`` in ``directory`` with body ``raw``; also the fast path's (:mod:`.fast`)."""
    try:
        body = parse_body(raw, SessionCreateBody, optional=True)
    except BodyError as exc:
        return bad_request(str(exc))
    except MalformedBodyError:
        return unexpected_error()
    # OpenCode 1.18.33 takes any parentID, even of a session deleted or never made
    # (tests/contract/test_sessions.py): so does the simulator.
    info = await ctx.hub.create(directory, body.model_dump(exclude_none=True))
    return JsonResponse(info)


async def session_status(request: Request) -> Response:
    """``GET /session/status``."""
    return JsonResponse(context_of(request).hub.statuses(directory_of(request)))


@_with_session
async def get_session(_request: Request, info: Json) -> Response:
    """``GET /session/{id}``."""
    return JsonResponse(info)


@_with_session
async def delete_session(request: Request, info: Json) -> Response:
    """``DELETE /session/{id}``: children too."""
    await context_of(request).hub.delete(info["id"])
    return JsonResponse(True)


@_with_session
async def patch_session(request: Request, info: Json) -> Response:
    """``PATCH /session/{id}``."""
    body = await read_body(request, PatchSessionBody)
    return JsonResponse(
        await context_of(request).hub.update(info["id"], body.model_dump(exclude_none=True))
    )


@_with_session
async def children(request: Request, info: Json) -> Response:
    """``GET /session/{id}/children``."""
    return JsonResponse(context_of(request).hub.children(info["id"]))


def _prompt_request(body: PromptBody, info: Json) -> PromptRequest:
    parts = tuple(p.model_dump(exclude_none=True) for p in body.parts)
    text = "\n".join(p.text for p in body.parts if p.type == "text" and p.text is not None)
    return PromptRequest(
        text=text,
        parts=tuple(p for p in parts if p["type"] == "text"),
        agent=body.agent or DEFAULT_AGENT,  # OpenCode ignores the session's last agent
        message_id=body.messageID,
        format=body.format,
        system=body.system,
        tools=body.tools,
        no_reply=body.noReply,
    )


async def _result(request: Request, info: Json, prompt: PromptRequest) -> Json | None:
    """The turn's ``{info, parts}``.

    Raises:
        TurnInterruptedError: the simulator stopped under the turn; the route
            must cut the connection (:func:`cut_connection`), not answer.
    """
    hub = context_of(request).hub
    result = await hub.prompt(info["id"], prompt, wait=True)
    if result is None:
        # Aborted while queued, or the server is stopping: the last answer there is.
        transcript = await hub.store.messages(info["id"])
        answers = [m for m in transcript if m["info"]["role"] == "assistant"]
        result = answers[-1] if answers else None
    return result


async def _answer(request: Request, info: Json, prompt: PromptRequest) -> Response:
    try:
        result = await _result(request, info, prompt)
    except TurnInterruptedError:
        return cut_connection()
    if result is None:
        return not_found(f"Session {info['id']} stopped before answering")
    return JsonResponse(result)


@_with_session
async def prompt_blocking(request: Request, info: Json) -> Response:
    """``POST /session/{id}/message``: returns when the turn ends."""
    body = await read_body(request, PromptBody)
    return await _answer(request, info, _prompt_request(body, info))


@_with_session
async def prompt_async(request: Request, info: Json) -> Response:
    """``POST /session/{id}/prompt_async``: 204 at once; events tell the rest."""
    return await prompt_async_in(context_of(request), info, await request.body())


async def prompt_async_in(ctx: SimContext, info: Json, raw: bytes) -> Response:
    """``prompt_async`` to the session ``info`` with body ``raw``; also the fast path's."""
    try:
        body = parse_body(raw, PromptBody)
    except BodyError as exc:
        return bad_request(str(exc))
    except MalformedBodyError:
        return unexpected_error()
    await ctx.hub.prompt(info["id"], _prompt_request(body, info), wait=False)
    return no_content()


@_with_session
async def list_messages(request: Request, info: Json) -> Response:
    """``GET /session/{id}/message`` (``?limit=`` keeps the newest)."""
    transcript = await context_of(request).hub.store.messages(info["id"])
    if (limit := request.query_params.get("limit")) and limit.isdigit():
        transcript = transcript[-int(limit) :] if int(limit) else []
    for index, message in enumerate(transcript):
        if "format" in message["info"]:
            return _format_encoding_bug(index, message["info"]["format"])
    return JsonResponse(transcript)


def _format_encoding_bug(index: int, stored: Json) -> Response:
    # OpenCode 1.18.33 stores a prompt's `format` with `retryCount` added and
    # then fails to encode it, so any list holding such a message answers 400
    # (docs/opencode-observed.md). Reproduced so the engine is built to survive it.
    shown = {**stored, "retryCount": stored.get("retryCount", 2)}
    return bad_request(
        f"Expected OutputFormatJsonSchema, got {orjson.dumps(shown).decode()}\n"
        f'  at [{index}]["info"]["format"]',
        kind="Body",
    )


@_with_session
async def get_message(request: Request, info: Json) -> Response:
    """``GET /session/{id}/message/{mid}``."""
    mid = request.path_params["messageID"]
    found = await context_of(request).hub.store.messages(info["id"], mid)
    return JsonResponse(found[0]) if found else not_found(f"Message not found: {mid}")


async def abort(request: Request) -> Response:
    """``POST /session/{id}/abort``: ``true`` even for an unknown session, as OpenCode answers."""
    return JsonResponse(context_of(request).hub.abort(request.path_params["sessionID"]))


@_with_session
async def summarize(request: Request, info: Json) -> Response:
    """``POST /session/{id}/summarize``: a compaction turn, then ``session.compacted``."""
    await read_body(request, SummarizeBody)
    hub = context_of(request).hub
    prompt = PromptRequest(text="Summarize the session so far.", parts=(), agent=COMPACTION_AGENT)
    await hub.prompt(info["id"], prompt, wait=True)
    hub.emit(info["directory"], "session.compacted", {"sessionID": info["id"]})
    return JsonResponse(True)


@_with_session
async def shell(request: Request, info: Json) -> Response:
    """``POST /session/{id}/shell``: 409 while a turn runs."""
    body = await read_body(request, ShellBody)
    hub = context_of(request).hub
    if hub.is_busy(info["id"]):
        return session_busy(info["id"])
    async with hub.occupied(info["id"]):
        result = await run_shell(hub, info, body.agent, body.command)
    return JsonResponse(result)


@_with_session
async def command(request: Request, info: Json) -> Response:
    """``POST /session/{id}/command``: the arguments are the prompt, then ``command.executed``."""
    body = await read_body(request, CommandBody)
    prompt = PromptRequest(
        text=body.arguments,
        parts=({"type": "text", "text": body.arguments},),
        agent=body.agent or DEFAULT_AGENT,  # OpenCode ignores the session's last agent
        message_id=body.messageID,
    )
    try:
        result = await _result(request, info, prompt)
    except TurnInterruptedError:
        return cut_connection()
    if result is None:
        return not_found(f"Session {info['id']} stopped before answering")
    context_of(request).hub.emit(
        info["directory"],
        "command.executed",
        {
            "name": body.command,
            "sessionID": info["id"],
            "arguments": body.arguments,
            "messageID": result["info"].get("parentID", result["info"]["id"]),
        },
    )
    return JsonResponse(result)


@_with_session
async def todo(request: Request, info: Json) -> Response:
    """``GET /session/{id}/todo``."""
    return JsonResponse(await context_of(request).hub.store.todos(info["id"]))


@_with_session
async def diff(request: Request, info: Json) -> Response:
    """``GET /session/{id}/diff``."""
    return JsonResponse(await context_of(request).hub.store.diff(info["id"]))


def session_routes() -> list[Route]:
    """The routes, literal paths before parameterised ones.

    Creating sessions and prompting them are most of the requests a mission
    makes, and no other route matches their method and path: they go first.
    """
    sid = "/session/{sessionID}"
    return [
        Route("/session", create_session, methods=["POST"]),
        Route(f"{sid}/prompt_async", prompt_async, methods=["POST"]),
        Route("/session", list_sessions, methods=["GET"]),
        Route("/session/status", session_status, methods=["GET"]),
        Route(sid, get_session, methods=["GET"]),
        Route(sid, delete_session, methods=["DELETE"]),
        Route(sid, patch_session, methods=["PATCH"]),
        Route(f"{sid}/children", children, methods=["GET"]),
        Route(f"{sid}/message", prompt_blocking, methods=["POST"]),
        Route(f"{sid}/message", list_messages, methods=["GET"]),
        Route(f"{sid}/message/{{messageID}}", get_message, methods=["GET"]),
        Route(f"{sid}/abort", abort, methods=["POST"]),
        Route(f"{sid}/summarize", summarize, methods=["POST"]),
        Route(f"{sid}/shell", shell, methods=["POST"]),
        Route(f"{sid}/command", command, methods=["POST"]),
        Route(f"{sid}/todo", todo, methods=["GET"]),
        Route(f"{sid}/diff", diff, methods=["GET"]),
    ]
