"""The textfile collector and its text-format reader: what node_exporter accepts is served, a
broken file is skipped whole with node_textfile_scrape_error 1 while the others are served,
conflicts across files and with the agent's own families are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiops_agent.base.model import MetricFamily
from aiops_agent.collectors import build_collectors
from aiops_agent.collectors.host import HostPaths
from aiops_agent.collectors.textfile import MAX_FILE_BYTES, TextfileCollector
from aiops_agent.config.schema import CollectorsSection
from aiops_agent.config.schema import TextfileCollector as TextfileSettings
from aiops_agent.exposition import render
from aiops_agent.textformat import TextFormatError, parse
from tests import promtext


def collect(directory: Path) -> dict[str, MetricFamily]:
    collector = TextfileCollector(TextfileSettings(directory=str(directory)))
    families = collector.collect()
    promtext.parse(render(families))  # never a duplicate series or family
    return {family.name: family for family in families}


def value(families: dict[str, MetricFamily], name: str, **labels: str) -> float:
    for sample in families[name].samples:
        if dict(sample.labels) == labels and not sample.suffix:
            return sample.value
    raise AssertionError(f"{name}{labels} not in {families[name].samples}")


def test_files_are_served_with_mtime_and_no_error(tmp_path: Path) -> None:
    (tmp_path / "backup.prom").write_text(
        "# HELP backup_last_success_timestamp_seconds Last good backup.\n"
        "# TYPE backup_last_success_timestamp_seconds gauge\n"
        'backup_last_success_timestamp_seconds{job="db"} 1.7e9\n'
        'backup_last_success_timestamp_seconds{job="files"} 1.6e9\n'
    )
    (tmp_path / "reboot.prom").write_text("node_reboot_required 1\n")
    (tmp_path / "notes.txt").write_text("not a metrics file\n")
    os.utime(tmp_path / "reboot.prom", (1_700_000_000.7, 1_700_000_000.7))
    families = collect(tmp_path)
    assert value(families, "backup_last_success_timestamp_seconds", job="db") == 1.7e9
    assert families["backup_last_success_timestamp_seconds"].kind == "gauge"
    assert families["backup_last_success_timestamp_seconds"].help == "Last good backup."
    reboot = families["node_reboot_required"]
    assert reboot.kind == "untyped"
    assert reboot.help == f"Metric read from {tmp_path / 'reboot.prom'}"
    assert value(families, "node_textfile_mtime_seconds", file=str(tmp_path / "reboot.prom")) == (
        1_700_000_000
    )
    assert value(families, "node_textfile_scrape_error") == 0


def test_a_broken_file_is_skipped_and_the_others_served(tmp_path: Path) -> None:
    (tmp_path / "a_good.prom").write_text("good_metric 1\n")
    (tmp_path / "b_broken.prom").write_text("half_written_metric 1\nhalf_writ")
    (tmp_path / "c_bad_value.prom").write_text("other_metric one\n")
    families = collect(tmp_path)
    assert value(families, "good_metric") == 1
    assert "half_written_metric" not in families and "other_metric" not in families
    assert value(families, "node_textfile_scrape_error") == 1
    files = {dict(s.labels)["file"] for s in families["node_textfile_mtime_seconds"].samples}
    assert files == {str(tmp_path / "a_good.prom")}


def test_histograms_summaries_and_missing_labels(tmp_path: Path) -> None:
    (tmp_path / "h.prom").write_text(
        "# TYPE job_seconds histogram\n"
        'job_seconds_bucket{le="1"} 2\njob_seconds_bucket{le="+Inf"} 3\n'
        "job_seconds_sum 4.5\njob_seconds_count 3\n"
        "# TYPE lag summary\n"
        'lag{quantile="0.5"} 1\nlag_sum 10\nlag_count 5\n'
        'disks_ok{disk="sda"} 1\ndisks_ok 0\n'
    )
    families = collect(tmp_path)
    histogram = families["job_seconds"]
    assert histogram.kind == "histogram"
    assert {s.suffix for s in histogram.samples} == {"_bucket", "_sum", "_count"}
    assert families["lag"].kind == "summary"
    # node_exporter gives every sample every label name of its family, empty where absent.
    assert value(families, "disks_ok", disk="") == 0
    assert value(families, "node_textfile_scrape_error") == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("# TYPE shared counter\nshared 1\n", "# TYPE shared gauge\nshared 2\n"),
        ("# HELP shared One.\nshared 1\n", '# HELP shared Two.\nshared{x="y"} 2\n'),
        ('shared{a="1"} 1\n', 'shared{b="1"} 2\n'),
        ('shared{a="1"} 1\n', 'shared{a="1"} 2\n'),
    ],
    ids=["type", "help", "label-names", "same-series"],
)
def test_conflicting_families_across_files_are_refused(
    tmp_path: Path, first: str, second: str
) -> None:
    (tmp_path / "1.prom").write_text(first)
    (tmp_path / "2.prom").write_text(second + "unrelated 3\n")
    families = collect(tmp_path)
    assert len(families["shared"].samples) == 1 and value(families, "unrelated") == 3
    assert value(families, "node_textfile_scrape_error") == 1


def test_the_same_family_from_two_files_is_merged(tmp_path: Path) -> None:
    (tmp_path / "1.prom").write_text('# HELP apt_upgrades Pending.\napt_upgrades{o="a"} 1\n')
    (tmp_path / "2.prom").write_text('apt_upgrades{o="b"} 2\n')
    families = collect(tmp_path)
    assert (
        value(families, "apt_upgrades", o="a") == 1 and value(families, "apt_upgrades", o="b") == 2
    )
    assert families["apt_upgrades"].help == "Pending."
    assert value(families, "node_textfile_scrape_error") == 0


def test_files_cannot_shadow_the_agent_s_own_families(tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "proc").mkdir(parents=True)
    (host / "proc/loadavg").write_text("1.00 0.50 0.25 1/100 4242\n")
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    (textfile_dir / "x.prom").write_text(
        "node_load1 99\naiops_agent_collections_total 5\nprocess_open_fds 3\nallowed 1\n"
    )
    section = CollectorsSection(textfile=TextfileSettings(directory=str(textfile_dir)))
    collectors = [
        c
        for c in build_collectors(section, HostPaths.under(str(host)))
        if c.name in ("loadavg", "textfile")
    ]
    families: list[MetricFamily] = []
    for collector in collectors:
        families.extend(collector.collect())
    page = promtext.parse(render(families))
    assert page["node_load1"].samples[0].value == 1.0  # the agent's, not the file's
    assert "aiops_agent_collections_total" not in page and "process_open_fds" not in page
    assert page["allowed"].samples[0].value == 1
    assert page["node_textfile_scrape_error"].samples[0].value == 1


def test_timestamps_oversized_files_and_a_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "stamped.prom").write_text("stamped 1 1700000000000\n")
    (tmp_path / "huge.prom").write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    families = collect(tmp_path)
    assert "stamped" not in families
    assert value(families, "node_textfile_scrape_error") == 1
    assert value(collect(tmp_path / "missing"), "node_textfile_scrape_error") == 1
    empty = TextfileCollector(TextfileSettings(directory="")).collect()
    assert [(f.name, [s.value for s in f.samples]) for f in empty if f.samples] == [
        ("node_textfile_scrape_error", [0.0])
    ]


@pytest.mark.parametrize(
    "text",
    [
        "no_newline 1",
        "bad-name 1\n",
        "m{a=b} 1\n",
        'm{a="1",a="2"} 1\n',
        'm{__name__="x"} 1\n',
        'm{a="\\q"} 1\n',
        "m 1_000\n",
        "m 1 notatime\n",
        "m 1 2 3\n",
        "# TYPE m counter\n# TYPE m counter\nm 1\n",
        "m 1\n# TYPE m counter\n",
        "# HELP m a\n# HELP m b\nm 1\n",
        "# TYPE m countr\nm 1\n",
        "m 1\nm 2\n",
        '# TYPE h histogram\nh_bucket{le="x"} 1\n',
    ],
)
def test_the_reader_refuses_what_node_exporter_s_parser_refuses(text: str) -> None:
    with pytest.raises(TextFormatError):
        parse(text)


def test_the_reader_accepts_the_format_s_liberties() -> None:
    parsed = parse(
        '\n# a comment\n  spaced_metric  { a = "1" , b="x\\\\y\\"z\\n", }   +Inf  \n'
        "nan_metric NaN\n# HELP esc Line\\nbreak \\\\ done\n# TYPE esc gauge\nesc -1.5e3\n"
    )
    families = {f.name: f for f in parsed.families}
    assert families["spaced_metric"].samples[0].labels == (("a", "1"), ("b", 'x\\y"z\n'))
    assert families["spaced_metric"].samples[0].value == float("inf")
    assert families["esc"].help == "Line\nbreak \\ done" and families["esc"].kind == "gauge"
    assert parsed.help_given == frozenset({"esc"})
