//! Printing: aligned tables as Go's tabwriter printed them for Flux v1,
//! JSON, and the layouts of each command's table.

use std::io::{self, Write};

use serde::Serialize;

use crate::args::OutputFormat;
use crate::request::{Results, Table};
use crate::view::{Manifest, Outcome, Workload, WorkloadImages};

/// Writes rows as columns separated by at least two spaces. The last column
/// is not padded; trailing blanks are trimmed.
pub fn write_table(out: &mut dyn Write, rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes `value` as pretty JSON and a newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// `list-workloads`: WORKLOAD CONTAINER IMAGE (RELEASE) POLICY, the RELEASE
/// column only when fluxd reports rollouts.
pub fn workloads(
    out: &mut dyn Write,
    list: &[Workload],
    table: Table,
    release_column: bool,
) -> anyhow::Result<()> {
    if table.format == OutputFormat::Json {
        return write_json(out, list);
    }
    let mut rows = Vec::new();
    let with_release = |mut cells: Vec<String>, release: &str| {
        if release_column {
            cells.insert(3, release.to_owned());
        }
        cells
    };
    if !table.no_headers {
        rows.push(with_release(
            row(["WORKLOAD", "CONTAINER", "IMAGE", "POLICY"]),
            "RELEASE",
        ));
    }
    for w in list {
        let policy = policy_text(w);
        match w.containers.split_first() {
            Some((first, rest)) => {
                rows.push(with_release(
                    row([&w.id, &first.name, &image_cell(&first.current), &policy]),
                    &w.status,
                ));
                for c in rest {
                    rows.push(with_release(
                        row(["", &c.name, &image_cell(&c.current), ""]),
                        "",
                    ));
                }
            }
            None => rows.push(with_release(row([&w.id, "", "", &policy]), &w.status)),
        }
    }
    write_table(out, &rows)?;
    Ok(())
}

fn image_cell(i: &crate::view::Image) -> String {
    match &i.error {
        Some(_) => format!("{} (invalid)", i.id),
        None => i.id.clone(),
    }
}

/// Flux v1's POLICY cell: the set flags, sorted, comma-separated.
fn policy_text(w: &Workload) -> String {
    let mut p = Vec::new();
    if w.automated {
        p.push("automated");
    }
    if w.ignore {
        p.push("ignore");
    }
    if w.locked {
        p.push("locked");
    }
    p.join(",")
}

/// `list-sources`: NAME URL BRANCH HEAD SYNCED ERROR, revisions shortened
/// to 7 characters, and OWNER before ERROR when fluxd runs replicas
/// (`--ha`) and names one; with `-o json`, fluxd's list as it sent it.
pub fn sources(
    out: &mut dyn Write,
    list: &[flux_api::sources::SourceStatus],
    table: Table,
) -> anyhow::Result<()> {
    if table.format == OutputFormat::Json {
        return write_json(out, list);
    }
    let short = |rev: &str| rev.chars().take(7).collect::<String>();
    let owners = list.iter().any(|s| !s.owner.is_empty());
    let mut rows = Vec::new();
    if !table.no_headers {
        let mut header = row(["NAME", "URL", "BRANCH", "HEAD", "SYNCED"]);
        if owners {
            header.push("OWNER".into());
        }
        header.push("ERROR".into());
        rows.push(header);
    }
    for s in list {
        let error = s.error.lines().next().unwrap_or_default();
        let mut r = row([
            &s.name,
            &s.url,
            &s.branch,
            &short(&s.head),
            &short(&s.synced),
        ]);
        if owners {
            r.push(s.owner.clone());
        }
        r.push(error.to_owned());
        rows.push(r);
    }
    write_table(out, &rows)?;
    Ok(())
}

/// `list-manifests`: RESOURCE SOURCE.
pub fn manifests(out: &mut dyn Write, list: &[Manifest], table: Table) -> anyhow::Result<()> {
    if table.format == OutputFormat::Json {
        return write_json(out, list);
    }
    let mut rows = Vec::new();
    if !table.no_headers {
        rows.push(row(["RESOURCE", "SOURCE"]));
    }
    for m in list {
        rows.push(row([&m.id, &m.source]));
    }
    write_table(out, &rows)?;
    Ok(())
}

/// `list-images`: WORKLOAD CONTAINER IMAGE CREATED, with the available tags
/// under each image, `'->` marking the one running, at most `limit` per
/// container (0: all) and the running one always shown.
pub fn images(
    out: &mut dyn Write,
    list: &[WorkloadImages],
    table: Table,
    limit: usize,
) -> anyhow::Result<()> {
    if table.format == OutputFormat::Json {
        let mut trimmed = list.to_vec();
        if limit > 0 {
            for w in &mut trimmed {
                for c in &mut w.containers {
                    c.available.truncate(limit);
                }
            }
        }
        return write_json(out, &trimmed);
    }
    let mut rows = Vec::new();
    if !table.no_headers {
        rows.push(row(["WORKLOAD", "CONTAINER", "IMAGE", "CREATED"]));
    }
    for w in list {
        if w.containers.is_empty() {
            rows.push(row([&w.id, "", "", ""]));
            continue;
        }
        let mut id = w.id.as_str();
        for c in &w.containers {
            let (repository, current_tag) = split_tag(&c.current.id);
            if c.available.is_empty() {
                let why = if c.available_error.is_empty() {
                    "image data not available"
                } else {
                    &c.available_error
                };
                rows.push(row([id, &c.name, repository, why]));
            } else {
                rows.push(row([id, &c.name, repository, ""]));
            }
            let mut running_seen = false;
            for (n, a) in c.available.iter().enumerate() {
                let (_, tag) = split_tag(&a.id);
                let marker = if tag == current_tag && !running_seen {
                    running_seen = true;
                    "'->"
                } else if running_seen {
                    "   "
                } else {
                    "|  "
                };
                let within = limit == 0 || n < limit;
                let is_running = marker == "'->";
                if !within && !is_running {
                    continue;
                }
                if !within && n > limit {
                    rows.push(row([
                        "",
                        "",
                        &format!(": ({} image(s) omitted)", n - limit),
                        "",
                    ]));
                }
                let created = a
                    .created_at
                    .map(|t| t.format("%d %b %y %H:%M UTC").to_string())
                    .unwrap_or_default();
                rows.push(row(["", "", &format!("{marker} {tag}"), &created]));
            }
            if !running_seen {
                let tag = if current_tag.is_empty() {
                    "(untagged)"
                } else {
                    current_tag
                };
                rows.push(row(["", "", &format!("'-> {tag}"), "?"]));
            }
            id = "";
        }
    }
    write_table(out, &rows)?;
    Ok(())
}

/// Splits `repo:tag` (the tag after the last `:` that has no `/` after it).
pub fn split_tag(image: &str) -> (&str, &str) {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => {
            (&without_digest[..i], &without_digest[i + 1..])
        }
        _ => (without_digest, ""),
    }
}

/// A release's or policy change's results: WORKLOAD STATUS UPDATES, one
/// line per container change; skipped workloads with `-v`, ignored ones
/// with `-vv`.
pub fn outcomes(out: &mut dyn Write, list: &[Outcome], results: Results) -> anyhow::Result<()> {
    let shown: Vec<&Outcome> = list
        .iter()
        .filter(|o| match o.status.as_str() {
            "ignored" => results.verbosity >= 2,
            "skipped" => results.verbosity >= 1,
            _ => true,
        })
        .collect();
    if results.format == OutputFormat::Json {
        return write_json(out, &shown);
    }
    let mut rows = vec![row(["WORKLOAD", "STATUS", "UPDATES"])];
    for o in shown {
        let mut first = true;
        if !o.error.is_empty() {
            rows.push(row([&o.id, &o.status, &o.error]));
            first = false;
        }
        for c in &o.per_container {
            let (_, target_tag) = split_tag(&c.target);
            let text = format!("{}: {} -> {}", c.container, c.current, target_tag);
            if first {
                rows.push(row([&o.id, &o.status, &text]));
                first = false;
            } else {
                rows.push(row(["", "", &text]));
            }
        }
        if first {
            rows.push(row([&o.id, &o.status, ""]));
        }
    }
    write_table(out, &rows)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["A".to_string(), "BB".into(), "C".into()],
            vec!["long".to_string(), "".into(), "x".into()],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &rows).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "A     BB  C\nlong      x\n"
        );
    }

    #[test]
    fn sources_show_short_revisions_and_the_first_line_of_errors() {
        let list = [
            flux_api::sources::SourceStatus {
                name: "apps".into(),
                url: "ssh://git@h/apps".into(),
                branch: "main".into(),
                head: "0123456789abcdef".into(),
                synced: "fedcba9876543210".into(),
                ..Default::default()
            },
            flux_api::sources::SourceStatus {
                name: "infra".into(),
                url: "ssh://git@h/infra".into(),
                branch: "master".into(),
                error: "git fetch failed\nPermission denied (publickey)".into(),
                ..Default::default()
            },
        ];
        let table = |no_headers| Table {
            format: OutputFormat::Tab,
            no_headers,
        };
        let mut out = Vec::new();
        sources(&mut out, &list, table(false)).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "NAME   URL                BRANCH  HEAD     SYNCED   ERROR\n\
             apps   ssh://git@h/apps   main    0123456  fedcba9\n\
             infra  ssh://git@h/infra  master                    git fetch failed\n"
        );
        let mut out = Vec::new();
        sources(&mut out, &list[..1], table(true)).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "apps  ssh://git@h/apps  main  0123456  fedcba9\n"
        );
    }

    #[test]
    fn sources_show_the_owner_when_fluxd_runs_replicas() {
        let list = [
            flux_api::sources::SourceStatus {
                name: "apps".into(),
                owner: "fluxd-1".into(),
                ..Default::default()
            },
            flux_api::sources::SourceStatus {
                name: "infra".into(),
                error: "no replica holds it yet".into(),
                ..Default::default()
            },
        ];
        let mut out = Vec::new();
        let table = Table {
            format: OutputFormat::Tab,
            no_headers: false,
        };
        sources(&mut out, &list, table).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "NAME   URL  BRANCH  HEAD  SYNCED  OWNER    ERROR\n\
             apps                              fluxd-1\n\
             infra                                      no replica holds it yet\n"
        );
    }

    #[test]
    fn tags_split_after_ports() {
        assert_eq!(
            split_tag("localhost:5000/app:1.0"),
            ("localhost:5000/app", "1.0")
        );
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", ""));
        assert_eq!(split_tag("nginx@sha256:abc"), ("nginx", ""));
    }
}
