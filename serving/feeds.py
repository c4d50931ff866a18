"""Feed endpoints: home, related, trending, category, fresh. Read-only: one Redis GET per request (+ the
time-boxed overlay; + one pipelined GET when a list holds videos this process has not met yet in that version:
the display fields are joined from memory, ``vidrec.recstore.catalog``; + the home feed's reaction,
``serving.reaction``, and the category feed's own-list read).

Fallbacks, in order:
- home: the user's list -> the hourly list of a user new since the nightly -> the region's cold-start list ->
  the global cold-start list -> global trending;
- related: the video's list -> global trending (the seed video removed);
- trending: the region's list -> the global list;
- Redis unreachable: the last trending list this process read successfully, with ``"degraded": true``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from serving import policy, reaction, request_context
from serving.context import Services
from serving.overlay import EMPTY, visible
from serving.render import feed_json
from serving.schemas import DEFAULT_REGION, BadParam, parse_query
from vidrec.context import request_context as request_context_of
from vidrec.recstore.codec import Found
from vidrec.recstore.keys import (CATEGORY, COLDSTART, FOLDED, FRESH, HOME, IX_CATEGORY, RELATED, TRENDING,
                                  StoreUnavailable)


def respond(rows: Sequence | None, positions: Sequence, version: str | None, *, degraded: bool = False,
            overlay: bool = False, **echo) -> Response:
    """The items at ``positions`` of ``rows`` (``rows`` None: ``positions`` are ``reaction.blend``'s picks) and
    the rest, as JSON (``serving.render``)."""
    return Response(feed_json(rows, positions, version=version, degraded=degraded, overlay=overlay, **echo),
                    media_type="application/json")


def bad_request(exc: BadParam) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=400)


async def first_found(svc: Services, candidates: list[tuple[str, str]], arm_version: str | None = None,
                      active: str | None = None) -> tuple[tuple[str, str], Found] | None:
    """The first list that exists among (collection, entity) candidates, all read from one version: the arm's
    (``arm_version``) when it is published, else the served one (``active``, if the caller has just read it; the
    one ``Services.noticed`` is told of; a layer's lists come from it or its base)."""
    version = active or await svc.store.active_version()
    if arm_version is not None:
        if await svc.store.learn(arm_version):
            version = arm_version
        else:
            svc.count("arm_version_missing")  # expired or never published: the arm gets the served version
    if version is None:
        return None
    if version is not arm_version:
        svc.noticed(version)
    for candidate in dict.fromkeys(candidates):  # home: region == global asks once
        found = await svc.store.get_list(*candidate, version)
        if found is not None:
            return candidate, found
    return None


async def serve(svc: Services, surface: str, viewer: str | None, candidates: list[tuple[str, str]], count: int, *,
                fallback_region: str, exclude: str | None = None, react: bool = False, within: str | None = None,
                context: dict | None = None, **echo) -> Response:
    """Look up the first existing list (in the version of the viewer's experiment arm), apply the overlay (and
    with ``react``, ``serving.reaction``) and the arm's policy, log what is served, answer; degrade when Redis
    fails us. ``within`` (a category): the viewer's own list's videos of it lead. ``context`` (the request's,
    ``vidrec.context.request_context``): a home list is re-sorted by its version's context model, the session's
    depth counted from the overlay when the app did not say it."""
    state_task = asyncio.ensure_future(svc.overlay_state(viewer)) if viewer else None
    try:  # the pointer and the canary (re-read when due) before the user is assigned
        active = await svc.store.active_version()
    except StoreUnavailable:  # (counted below, when first_found fails too)
        active = None
    arm, rec_id = svc.assign(surface, viewer)
    if arm.policy and arm.policy.get("serve") == TRENDING:  # the popularity baseline (experiments.SERVE_LISTS)
        candidates = [(TRENDING, fallback_region), (TRENDING, DEFAULT_REGION)]
    try:
        hit = await first_found(svc, candidates, arm.version, active)
    except StoreUnavailable:
        svc.count("redis_errors")
        hit = None
    if hit is not None:
        (collection, entity), found = hit
        version, rows, degraded = found.version, found.rows, False
        if collection == TRENDING and arm.version is None:
            svc.remember(entity, found)
    else:  # Redis unreachable, or nothing published at all: the last trending list this process saw
        version, rows = svc.last_known(fallback_region)
        degraded = True
        svc.count("degraded")
    state, overlay_ok = await state_task if state_task else (EMPTY, False)
    if hit is not None and hit[0][0] == HOME and context is not None:
        context = request_context.with_depth(context, state if overlay_ok else None, int(time.time() * 1000))
        weight = arm.policy.get("context_weight") if arm.policy else None  # an A/B test of the model
        rows = request_context.resorted(rows, svc.context_model(version), context, weight)
    picks, positions = None, None
    reranks = bool(arm.policy) and not arm.policy.keys().isdisjoint(policy.RERANKS) and not degraded
    if within is not None and viewer and not degraded:
        rows = [*await own_of(svc, viewer, version, within), *rows]
        picks = reaction.blend(rows, [], state, count, exclude)  # each video once, hidden ones out
    elif react and overlay_ok and not degraded and state.reacts():
        share = arm.policy.get("blend_share", reaction.BLEND_SHARE) if arm.policy else reaction.BLEND_SHARE
        picks = reaction.blend(rows, await reacted(svc, version, state), state, count, exclude, share)
    else:
        positions = visible(rows, state, count * policy.WIDEN if reranks else count, exclude)
    if reranks:
        picks = await reranked(svc, version, arm.policy, picks, rows, positions, state, count, exclude)
    ids, shown = policy.served_ids(rows, positions) if picks is None else (policy.picked_ids(picks), None)
    svc.served.record(rec_id, viewer, arm.experiment, arm.arm, surface, version, ids, shown)
    return respond(rows if picks is None else None, positions if picks is None else picks, version,
                   degraded=degraded, overlay=overlay_ok, experiment=arm.experiment, arm=arm.arm, rec_id=rec_id,
                   **echo)


async def reacted(svc: Services, version: str, state) -> list:
    """``reaction.related_to`` within the overlay's budget; none when late or failing (fail open, as the overlay
    does)."""
    try:
        related = await reaction.related_to(svc.store, version, state, svc.settings.overlay_timeout_ms / 1000)
        svc.count("reactions")
        return related
    except (TimeoutError, StoreUnavailable):
        svc.count("reaction_failures")
        return []


async def reranked(svc: Services, version: str, arm_policy: dict, picks: list | None, rows, positions, state,
                   count: int, exclude: str | None) -> list:
    """The feed under the arm's policy (``serving.policy``): picks (with spares after a blended feed) re-ranked;
    exploration takes from the version's global new-release list, minus what the user hid."""
    wide = count * policy.WIDEN
    if picks is None:
        picks = policy.as_picks(rows, positions)
    else:
        taken = set(policy.picked_ids(picks))
        picks += [p for p in policy.as_picks(rows, visible(rows, state, wide, exclude))
                  if policy.picked_ids([p])[0] not in taken]
    explore = []
    if arm_policy.get("exploration_share"):
        try:
            found = await svc.store.held_list(FRESH, DEFAULT_REGION, version)
        except StoreUnavailable:
            svc.count("redis_errors")
            found = None
        if found is not None:
            explore = policy.as_picks(found.rows, visible(found.rows, state, wide, exclude))
    return policy.rerank(picks, count, arm_policy, svc.settings.creator_window, explore)


async def own_of(svc: Services, user_id: str, version: str, category: str) -> list:
    """The rows of the user's own home list whose video is of ``category`` (none when Redis fails)."""
    try:
        found = await svc.store.get_list(HOME, user_id, version)
    except StoreUnavailable:
        svc.count("redis_errors")
        return []
    return [] if found is None else [r for r in found.rows if r[IX_CATEGORY] == category]


async def home(request: Request) -> Response:
    """The user's list, re-sorted for the request's context (``device``, the time, ``session_depth``:
    ``vidrec.context``)."""
    try:
        q = parse_query(request.query_params, ("user_id",), ("count", "region", "device", "session_depth"))
    except BadParam as exc:
        return bad_request(exc)
    svc: Services = request.state.svc
    user, region = svc.user_key(q["user_id"]), q["region"]
    candidates = [(HOME, user), (FOLDED, user), (COLDSTART, region), (COLDSTART, DEFAULT_REGION),
                  (TRENDING, DEFAULT_REGION)]  # FOLDED: the hourly list of a user new since the nightly
    context = request_context_of(q["device"], dt.datetime.now(dt.timezone.utc), q["session_depth"])
    return await serve(svc, "home", user, candidates, q["count"], fallback_region=region, react=True,
                       context=context, user_id=q["user_id"])


async def related(request: Request) -> Response:
    try:
        q = parse_query(request.query_params, ("video_id",), ("user_id", "count"))
    except BadParam as exc:
        return bad_request(exc)
    video_id, svc = q["video_id"], request.state.svc
    return await serve(svc, "related", svc.user_key(q["user_id"]), [(RELATED, video_id), (TRENDING, DEFAULT_REGION)],
                       q["count"], fallback_region=DEFAULT_REGION, exclude=video_id, video_id=video_id)


async def trending(request: Request) -> Response:
    try:
        q = parse_query(request.query_params, optional=("region", "count", "user_id"))
    except BadParam as exc:
        return bad_request(exc)
    region = q["region"]
    candidates = [(TRENDING, region)] + ([(TRENDING, DEFAULT_REGION)] if region != DEFAULT_REGION else [])
    svc = request.state.svc
    return await serve(svc, "trending", svc.user_key(q["user_id"]), candidates, q["count"], fallback_region=region,
                       region=region)


async def fresh(request: Request) -> Response:
    """New releases of a region (the global list for a region without one; trending for a version published
    before new-release lists), exploration included."""
    try:
        q = parse_query(request.query_params, optional=("region", "count", "user_id"))
    except BadParam as exc:
        return bad_request(exc)
    region = q["region"]
    candidates = [(FRESH, region), (FRESH, DEFAULT_REGION), (TRENDING, DEFAULT_REGION)]
    svc = request.state.svc
    return await serve(svc, "fresh", svc.user_key(q["user_id"]), candidates, q["count"], fallback_region=region,
                       region=region)


async def category(request: Request) -> Response:
    """The videos of a category (``genre``), best first; with ``user_id``, that user's own list's videos of it
    first, in their order. 404 when the served version has no list for the genre."""
    try:
        q = parse_query(request.query_params, ("genre",), ("user_id", "count"))
    except BadParam as exc:
        return bad_request(exc)
    genre = q["genre"]
    svc: Services = request.state.svc
    try:
        version = await svc.store.active_version()
        if version is not None and not await svc.store.exists(CATEGORY, genre, version):
            return JSONResponse({"error": "not_found", "parameter": "genre",
                                 "message": f"no category list for genre {genre!r} in version {version}"}, 404)
    except StoreUnavailable:
        pass  # serve() answers from its fallback, marked degraded
    return await serve(svc, "category", svc.user_key(q["user_id"]), [(CATEGORY, genre)], q["count"],
                       fallback_region=DEFAULT_REGION, within=genre, genre=genre)
