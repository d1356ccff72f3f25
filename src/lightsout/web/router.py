"""Server-rendered HTML pages: the country list, an entity, an event; charts as SVG images.

``make_router(open_read_store)`` returns a FastAPI router that an application includes
(``app.include_router(make_router(...))``, with a ``prefix`` if it likes: every link is built
with ``url_for``, so it follows). Pages are Jinja2 templates with autoescaping on for every
value; charts are SVG drawn by matplotlib on the server and shown with ``<img>``, so no script
runs anywhere (the Content-Security-Policy allows none). The routes never raise: an unknown
entity or event is an HTML 404 page, a store that cannot be opened an HTML 503 page, so the
including application's JSON error handlers never see them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lightsout.apps.aggregate import BlockingEvent, blocking_events
from lightsout.apps.finding import clean
from lightsout.detect.noise import Judgement
from lightsout.detect.service import entities_touching, events_touching, list_events
from lightsout.errors import UserError
from lightsout.model import Affected, Entity, EntityKind, Event
from lightsout.notify.atom import make_atom_feed
from lightsout.report.context import (
    NormaliseCache,
    data_end,
    event_files,
    event_judgement,
    events_with_own_alerts,
    find_event,
    load_entity_context,
    load_event_context,
)
from lightsout.report.event_chart import ChartFormat, entity_chart_spec, event_chart_spec, render_chart
from lightsout.report.external import external_during, external_of
from lightsout.report.external import source_name as external_source_name
from lightsout.report.statement import (
    bin_text,
    local_start,
    make_statement,
    noise_filtered,
    pct,
    source_name,
    unit_words,
    what_text,
)
from lightsout.report.words import alerted_until, is_live, open_end
from lightsout.service.freshness import freshness, source_gaps
from lightsout.store import Store
from lightsout.web.status import country_statuses
from lightsout.web.worldmap import world_map

StoreOpener = Callable[[], Store] | Callable[[], AbstractContextManager[Store]]

HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "max-age=60",
}


@contextmanager
def _reading(open_read_store: StoreOpener) -> Iterator[Store]:
    """The store for one request: closed afterwards, or given back if the opener is a context manager."""
    opened = open_read_store()
    if isinstance(opened, AbstractContextManager):
        with opened as store:
            yield store
    else:
        try:
            yield opened
        finally:
            opened.close()


def make_environment() -> jinja2.Environment:
    """Templates from the package, every value autoescaped, undefined names an error."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lightsout.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _utc(moment: datetime | None, empty: str = "open") -> str:
    """A moment as the tables show it; ``empty`` for none. The default claims nothing: an event's
    open end is worded by :func:`_event_end` ("ongoing" needs live data)."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else empty


def _is_ongoing(event: Event, now: datetime | None = None) -> bool:
    """Whether the dashboard may call ``event`` ongoing: open where its data end, and those data
    live (:func:`lightsout.report.words.is_live`, judged where its latest alerted bin ends, as the feed
    does)."""
    return event.end is None and is_live(alerted_until(event), now)


def _event_end(event: Event, now: datetime | None = None) -> str:
    """An event's end in the tables: its time, else :func:`lightsout.report.words.open_end` of where
    its alerted data end ("ongoing" only when live, else "end of data")."""
    return _utc(event.end) if event.end is not None else open_end(alerted_until(event), now)


def make_router(
    open_read_store: StoreOpener, normalise_cache: NormaliseCache | None = None, base_url: str | None = None
) -> APIRouter:
    """The dashboard's routes. ``open_read_store`` is called once per request: a store it returns is
    closed when the response is ready; a context manager it returns (a pool's borrow) is exited.
    ``base_url``: where the dashboard is served, for the feed's absolute links; without it, the
    address of the server's own socket (never the request's Host header, which a client writes)."""
    env = make_environment()
    env.filters["utc"] = _utc
    env.filters["event_end"] = _event_end
    env.tests["ongoing"] = _is_ongoing
    env.filters["pct"] = pct
    env.filters["clean"] = clean  # measurement text: control and bidi characters replaced, length cut
    env.globals.update(
        source_name=source_name, bin_text=bin_text, what_text=what_text, local_start=local_start
    )
    cache = normalise_cache or NormaliseCache()
    blocking = BlockingCache()
    css = resources.files("lightsout.web").joinpath("static/lightsout.css").read_bytes()
    router = APIRouter(include_in_schema=False)

    def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        def url(name: str, **params: str) -> str:
            quoted = {k: quote(v, safe="/") for k, v in params.items()}
            return request.url_for(name, **quoted).path

        values.setdefault("freshness", getattr(request.state, "freshness", None))  # _freshness.html
        html = env.get_template(template).render(url=url, **values)
        return HTMLResponse(html, status_code=status_code, headers=HTML_HEADERS)

    def error(request: Request, status_code: int, message: str) -> HTMLResponse:
        return page(request, "error.html", status_code, code=status_code, message=message)

    def read(request: Request, job: Callable[[Store], Response]) -> Response:
        try:
            with _reading(open_read_store) as store:
                health = store.source_health()  # the live sources' banner, with their archive gaps
                gaps = source_gaps(store, [h.source for h in health])
                request.state.freshness = freshness(health, gaps=gaps)
                return job(store)
        except UserError as exc:
            return error(request, 503, f"The store cannot be read: {exc}")

    @router.get("/lightsout.css", name="web_style")
    def style() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("/", response_class=HTMLResponse, name="web_index")
    def index(request: Request) -> Response:
        def job(store: Store) -> Response:
            events = list_events(store)
            rows = country_statuses(store.entities(), events, store.series())
            latest = sorted(events, key=lambda e: e.start, reverse=True)[:50]
            ongoing_blocking = Counter(
                b.country for b in blocking.get(store) if b.ongoing and b.meets_bar and b.country
            )
            return page(
                request,
                "index.html",
                countries=rows,
                events=latest,
                blocking=ongoing_blocking,
                world=world_map(rows),
            )

        return read(request, job)

    @router.get("/entity/{entity_id:path}", response_class=HTMLResponse, name="web_entity")
    def entity_page(request: Request, entity_id: str) -> Response:
        def job(store: Store) -> Response:
            if store.entity(entity_id) is None:
                return error(request, 404, f"No entity {entity_id!r} in the store.")
            # only the events that can touch this entity (the same as filtering list_events(store)),
            # and only the entities of its tree (all that the page names)
            known = entities_touching(store, entity_id)
            every = events_touching(store, entity_id, entities=known)
            context = load_entity_context(store, entity_id, events=every, with_series=False, entities=known)
            entities = context.entities
            listed = {e.event_id for e in (*context.events, *context.affecting)}
            inside = [  # a country's regional and network events (a region's: its counties')
                e
                for e in every
                if e.event_id not in listed
                and e.entity_id != entity_id
                and _descends(entities.get(e.entity_id), entity_id, entities)
            ]
            children = sorted(
                (e for e in entities.values() if e.parent_id == entity_id),
                key=lambda e: (_KIND_RANK.get(e.kind, 9), e.name),
            )
            # the children to mark: affected by an event of this entity that is ongoing (live data)
            ongoing_ids = {a.entity_id for ev in context.events if _is_ongoing(ev) for a in ev.affected}
            return page(
                request,
                "entity.html",
                context=context,
                entity=context.entity,
                ancestors=_ancestors(context.entity, entities),
                children=children,
                ongoing_ids=ongoing_ids,
                affected=_affected_rows(context.events, entities),
                kind_label=_kind_label,
                blocking=_entity_blocking(context.entity, blocking.get(store)),
                inside=sorted(inside, key=lambda e: e.start, reverse=True),
                external=external_of(store, context.entity),
                external_place=context.entity.name,
                external_source_name=external_source_name,
            )

        return read(request, job)

    @router.get("/event/{event_id}", response_class=HTMLResponse, name="web_event")
    def event_page(request: Request, event_id: str) -> Response:
        def job(store: Store) -> Response:
            judgements: dict[str, Judgement] = {}
            events = list_events(store, judgements=judgements)
            try:
                event = find_event(events, event_id)
            except UserError:
                return error(request, 404, f"No event {event_id!r} in the store.")
            entities = {e.entity_id: e for e in store.entities()}
            summaries = store.series(event.entity_id)
            # what the judgement against noise measured when list_events made the event
            judged = event_judgement(store, event, judgements)
            own, noise, kept = judged.own_alerts, judged.noise, judged.kept
            files = event_files(store, event, own)
            end = data_end(summaries)
            statement = make_statement(event, entities, files, end, own_alerts=own, noise=noise, kept=kept)
            return page(
                request,
                "event.html",
                event=event,
                statement=statement,
                entity=entities.get(event.entity_id),
                # the sub-entities beyond their own ordinary swing, as the statement names them
                affected=_affected_rows([noise_filtered(event, noise, entities)[0]], entities),
                kind_label=_kind_label,
                external=external_during(store, event),
                external_place=f"{event.entity_name} during this event",
                external_source_name=external_source_name,
                # "ongoing" needs live data: an open end in historical data is the end of the data
                open_end=open_end(end),
            )

        return read(request, job)

    @router.get("/chart/entity/{entity_id:path}.svg", name="web_entity_chart")
    def entity_chart(request: Request, entity_id: str) -> Response:
        def job(store: Store) -> Response:
            if store.entity(entity_id) is None:
                return error(request, 404, f"No entity {entity_id!r} in the store.")
            context = load_entity_context(store, entity_id, cache=cache)
            svg = render_chart(entity_chart_spec(context), ChartFormat.SVG)
            return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)

        return read(request, job)

    @router.get("/chart/event/{event_id}.svg", name="web_event_chart")
    def event_chart(request: Request, event_id: str) -> Response:
        def job(store: Store) -> Response:
            try:
                context = load_event_context(store, event_id, cache=cache)
            except UserError:
                return error(request, 404, f"No event {event_id!r} in the store.")
            statement = make_statement(
                context.event,
                context.entities,
                context.files,
                context.data_end,
                own_alerts=context.own_alerts,
                noise=context.noise,
                kept=context.kept,
            )
            svg = render_chart(event_chart_spec(context, statement), ChartFormat.SVG)
            return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)

        return read(request, job)

    @router.get("/feed.atom", name="web_feed")
    def feed(request: Request) -> Response:
        def job(store: Store) -> Response:
            base = _feed_base(request, base_url)
            entities = {e.entity_id: e for e in store.entities()}
            events = list_events(store)
            body = make_atom_feed(events, base, entities, own_alerts=events_with_own_alerts(store, events))
            headers = {"X-Content-Type-Options": "nosniff"}
            return Response(body, media_type="application/atom+xml", headers=headers)

        return read(request, job)

    return router


def _feed_base(request: Request, base_url: str | None) -> str:
    """The feed's base URL: the configured one, else the listening socket's address and the
    router's mount path; the Host header is never used (``Host: evil.example`` changes nothing)."""
    if base_url:
        return base_url.rstrip("/")
    server = request.scope.get("server") or ("127.0.0.1", 80)
    host, port = str(server[0]), int(server[1] or 80)
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if request.scope.get("scheme") == "https" else "http"
    default = 443 if scheme == "https" else 80
    root = f"{scheme}://{host}" + ("" if port == default else f":{port}")
    return (root + request.url_for("web_index").path).rstrip("/")


class BlockingCache:
    """Every blocking event of the store, kept between requests.

    Verdicts come from OONI measurements only, and measurements only arrive by an ingest, which
    adds a row to the store's sources table: (number of files, last ingest time) names one state
    of the measurements (as for :class:`NormaliseCache`). The key is read before the measurements,
    so events that may have missed an ingest landing meanwhile carry the older key and are
    judged again on the next request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[tuple[int, datetime | None], list[BlockingEvent]] | None = None

    def get(self, store: Store) -> list[BlockingEvent]:
        key = store.ingest_state()
        with self._lock:  # one judgement at a time; the others wait for it
            if self._value is not None and self._value[0] == key:
                return self._value[1]
            events = blocking_events(store)
            self._value = (key, events)
            return events


def _entity_blocking(entity: Entity, events: list[BlockingEvent]) -> list[BlockingEvent]:
    """A country's blocking events (by the probes' country) or a network's (by its AS number),
    ongoing first, then the latest first; none for regions and counties (OONI knows no region)."""
    if entity.kind == EntityKind.COUNTRY:
        mine = [e for e in events if e.country is not None and e.country == entity.country_code]
    elif entity.kind == EntityKind.NETWORK and entity.asn is not None:
        mine = [e for e in events if e.asn == entity.asn]
    else:
        mine = []
    mine.sort(key=lambda e: e.start, reverse=True)
    mine.sort(key=lambda e: not e.ongoing)
    return mine


def _descends(entity: Entity | None, ancestor_id: str, entities: dict[str, Entity]) -> bool:
    """Whether ``entity`` lies inside ``ancestor_id`` (a network by its country)."""
    if entity is None:
        return False
    ancestor = entities.get(ancestor_id)
    if entity.kind == EntityKind.NETWORK:
        return (
            ancestor is not None
            and ancestor.kind == EntityKind.COUNTRY
            and entity.country_code == ancestor.country_code
        )
    return any(a.entity_id == ancestor_id for a in _ancestors(entity, entities))


def _ancestors(entity: Entity, entities: dict[str, Entity]) -> list[Entity]:
    chain: list[Entity] = []
    parent = entities.get(entity.parent_id) if entity.parent_id else None
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = entities.get(parent.parent_id) if parent.parent_id else None
    return list(reversed(chain))


def _kind_label(entity: Entity | None, entity_id: str) -> str:
    if entity is None:
        return entity_id.split("/", 1)[0]
    singular, _ = unit_words(entity.kind, [entity])
    return singular if entity.kind != EntityKind.COUNTRY else "country"


_KIND_RANK = {EntityKind.COUNTRY: 0, EntityKind.REGION: 1, EntityKind.COUNTY: 2, EntityKind.NETWORK: 3}


@dataclass(frozen=True, slots=True)
class AffectedRow:
    affected: Affected  # the deepest of its listings
    entity: Entity | None
    event: Event  # the event that listed it at that depth


def _affected_rows(events: list[Event], entities: dict[str, Entity]) -> list[AffectedRow]:
    """Every sub-entity affected in ``events``, once, at its deepest level over them."""
    rows: dict[str, AffectedRow] = {}
    for event in events:
        for a in event.affected:
            row = rows.get(a.entity_id)
            if row is None or a.min_ratio < row.affected.min_ratio:
                rows[a.entity_id] = AffectedRow(a, entities.get(a.entity_id), event)
    return sorted(
        rows.values(), key=lambda r: (_KIND_RANK.get(r.entity.kind, 9) if r.entity else 9, r.affected.name)
    )
