"""Source contracts and parsers: what each raw feed looks like and how it becomes staged rows."""

from engagement_warehouse.sources.base import Source


def all_sources() -> list[Source]:
    """Every source the landing engine knows: the fixed ones and one per partner contract."""
    from engagement_warehouse.sources.clickstream import ClickstreamSource
    from engagement_warehouse.sources.partner import load_partner_sources
    from engagement_warehouse.sources.pinpoint_endpoints import PinpointEndpointsSource
    from engagement_warehouse.sources.pinpoint_events import PinpointEventsSource

    return [ClickstreamSource(), PinpointEventsSource(), PinpointEndpointsSource(), *load_partner_sources()]


def get_source(name: str) -> Source:
    """The source called `name` (e.g. `clickstream`, `partner_acme_loyalty`)."""
    for source in all_sources():
        if source.name == name:
            return source
    known = ", ".join(source.name for source in all_sources())
    raise KeyError(f"unknown source {name!r}; known sources: {known}")
