"""What every dashboard shares: the data source and label variables, the panel kinds, and the
mark of a panel that shows data only during an incident.

Every query selects on the $job variable (and $instance on the per-host dashboards), so a
dashboard works with any scrape job name; tests/integration/test_mixin_dashboards.py substitutes
them and runs every query through a real Prometheus."""

from __future__ import annotations

from typing import Optional

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import Dataquery as PromDataquery
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
JOB = 'job=~"$job"'
HOST = 'job=~"$job", instance=~"$instance"'
# The mark the test and the mixin's README rely on: such a panel may be empty on a quiet host.
INCIDENT_ONLY = "Shows data only during an incident"


def base(title: str, uid: str, description: str, per_host: bool) -> dashboard.Dashboard:
    """A dashboard with the datasource and job variables, and instance when per_host."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["aiops-agent"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .editable()
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("job")
            .label("Job")
            .datasource(DATASOURCE)
            .query("label_values(aiops_agent_build_info, job)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".+")
        )
    )
    if per_host:
        board = board.with_variable(
            dashboard.QueryVariable("instance")
            .label("Host")
            .datasource(DATASOURCE)
            .query('label_values(aiops_agent_build_info{job=~"$job"}, instance)')
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
        )
    return board


def query(expr: str, legend: str = "", instant: bool = False) -> prometheus.Dataquery:
    """A range query, or an instant one (tables and single numbers)."""
    built = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto")
    return built.instant() if instant else built.range()


def _describe(description: str, incident_only: bool) -> str:
    return f"{INCIDENT_ONLY}. {description}" if incident_only else description


def graph(
    title: str,
    description: str,
    queries: list[prometheus.Dataquery],
    *,
    unit: str = "short",
    width: int = 12,
    incident_only: bool = False,
    max_value: Optional[float] = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(_describe(description, incident_only))
        .datasource(DATASOURCE)
        .targets(list(queries))
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10)
        .show_points(common_model.VisibilityMode.NEVER)
    )
    return panel.max(max_value) if max_value is not None else panel


def single(
    title: str,
    description: str,
    expr: str,
    *,
    unit: str = "short",
    width: int = 4,
    red_above: Optional[float] = None,
) -> stat.Panel:
    """One number. red_above colours it red from that value (green below)."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query(expr, instant=True))
        .unit(unit)
        .span(width)
        .height(4)
        .graph_mode(common_model.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    )
    if red_above is not None:
        panel = panel.thresholds(
            dashboard.ThresholdsConfig()
            .mode(model.ThresholdsMode("absolute"))
            .steps(
                [
                    model.Threshold(value=None, color="green"),
                    model.Threshold(value=red_above, color="red"),
                ]
            )
        )
    return panel


def listing(
    title: str, description: str, expr: str, *, width: int = 12, incident_only: bool = False
) -> table.Panel:
    """An instant query as a table, one row per series (labels as columns)."""
    return (
        table.Panel()
        .title(title)
        .description(_describe(description, incident_only))
        .datasource(DATASOURCE)
        .with_target(query(expr, instant=True).format(PromQueryFormat("table")))
        .span(width)
        .height(8)
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True, "__name__": True}},
            )
        )
    )


def row(title: str, panels: list[Builder[model.Panel]]) -> dashboard.Row:
    built = dashboard.Row(title)
    for panel in panels:
        built = built.with_panel(panel)
    return built


def finish(board: dashboard.Dashboard) -> model.Dashboard:
    """The built dashboard as Grafana stores it: rows open (their panels follow them at the top
    level, where the builder already placed them on the grid), panel ids and query refIds set."""
    built = board.build()
    flat: list[model.Panel | model.RowPanel] = []
    for item in built.panels or []:
        flat.append(item)
        if isinstance(item, model.RowPanel):
            flat.extend(item.panels)
            item.panels = []
            item.collapsed = False
    for number, item in enumerate(flat, start=1):
        item.id_val = number
        if isinstance(item, model.Panel):
            for index, target in enumerate(item.targets or []):
                if isinstance(target, PromDataquery):
                    target.ref_id = chr(ord("A") + index)
    built.panels = flat
    return built
