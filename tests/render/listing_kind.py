"""A test-only render kind, registered from the tests alone (SAMPLEMILL_EXTRA_STAGES): it writes
the sample ids of a subset's members, in the asked order, one per line. Runs on the cpu queue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.errors import ConfigError
from core.render_kinds import RenderKind, RenderParams, register_kind
from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import subset_clips, subset_row
from worker.context import TargetContext
from worker.render.members import MemberSort, order_members


class ListingParams(RenderParams):
    kind: Literal["listing"] = "listing"
    sort: MemberSort = "position=asc"
    fail: bool = Field(False, description="Raise a deterministic error instead of writing.")


def check(params: ListingParams, spec: dict[str, Any]) -> None:
    if params.resolved_name == "forbidden":
        raise ConfigError("name: 'forbidden' is not a name for a listing")


def handle(ctx: TargetContext, params: ListingParams) -> None:
    if params.fail:
        raise ConfigError("listing asked to fail")
    with session_scope(ctx.engine) as session:
        subset_id = subset_row(session, ctx.job_id, params.subset).id
        members = subset_clips(session, ctx.job_id, params.subset)
    order = order_members([m.values for m in members], params.sort)
    out = ctx.output_path(f"{params.resolved_name}.txt")
    out.write_text("".join(f"{members[i].sample_id}\n" for i in order))
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind=params.kind,
                        name=params.resolved_name, path=out, duration=None,
                        params=params.model_dump(mode="json"))


register_kind(RenderKind(name="listing", params=ListingParams,
                         handler="tests.render.listing_kind:handle", check=check, queue="cpu"))
