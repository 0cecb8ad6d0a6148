from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from marketplace.accounts.deps import CurrentCaller
from marketplace.errors import problem_responses
from marketplace.params import MAX_ID
from marketplace.sessions import SessionDep
from marketplace.stats import service as stats
from marketplace.stats.models import ConversionStats, StatsFormat, StatsGroup

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get(
    "/stats",
    response_model=ConversionStats,
    responses={
        **problem_responses(401, 403, 422),
        200: {
            "content": {
                "text/csv": {
                    "example": "group,patents,licensed_patents,licensed_patent_ratio,...\n"
                    "2024,120,9,0.075,...\ntotal,410,31,0.0756,...\n"
                }
            }
        },
    },
    summary="Conversion statistics: patents, listings and licenses by year, region, IPC "
    "section or department (licensors: their own; platform admins: all or one licensor)",
)
def conversion_stats(
    caller: CurrentCaller,
    session: SessionDep,
    group_by: StatsGroup = StatsGroup.year,
    period_start: Annotated[
        date | None,
        Query(alias="from", description="First day of the period (publications, licenses)."),
    ] = None,
    period_end: Annotated[date | None, Query(alias="to", description="Last day.")] = None,
    owner_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Platform admins: one licensor; default all."),
    ] = None,
    output: Annotated[
        StatsFormat, Query(alias="format", description="`csv` for a spreadsheet.")
    ] = StatsFormat.json,
) -> ConversionStats | Response:
    report = stats.conversion_stats(
        session=session,
        owner_id=stats.report_scope(caller=caller, owner_id=owner_id),
        group_by=group_by,
        period_start=period_start,
        period_end=period_end,
    )
    if output is StatsFormat.csv:
        return Response(
            content=stats.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="conversion-{group_by.value}.csv"'
            },
        )
    return report
