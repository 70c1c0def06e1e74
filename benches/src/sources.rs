//! One fluxd with many sources against one fluxd per source, for
//! `benches/compare/sources.sh` (issue 14: "one daemon with 20 sources of
//! 500 resources each vs 20 daemons of one source each: memory and CPU for
//! a no-op interval").
//!
//! Each mode gets a fresh flux-daemon test bed (sshd with strict host keys
//! serving every repository, one API emulator in this process), so both
//! start from an empty cluster and repositories without sync tags. The
//! repositories are generated alike: source `s` holds [`crate::manifest`]'s
//! shapes with every object in namespace `src-SS` (see [`source_manifest`]),
//! so no two sources define the same object.
//!
//! - [`Mode::One`]: one `fluxd --config` whose sources file lists every
//!   repository (each allowed only its namespace).
//! - [`Mode::Many`]: one `fluxd --git-url` per repository (its own state
//!   directory, API port, `--k8s-secret-name` and `--k8s-allow-namespace`).
//!
//! In both, every fluxd is started at once; once every source is ready
//! (write check done) and its sync tag is at its branch head
//! (`GET /api/flux/v11/sources`) the no-op interval
//! starts: periodic syncs with nothing new, git polling off by default.
//! Measured per process from `/proc`: `VmRSS` at the start and end of the
//! interval, `VmHWM` (its peak since start) at the end, and the CPU time
//! (`utime + stime`) used during the interval; then summed over processes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use flux_api::client::{Client, ClientOptions};
use flux_api::git::GitRepoStatus;
use flux_daemon::testing::TestBed;
use flux_testbed::git::{BareRepo, WorkClone};
use serde_json::{Value, json};

use crate::fluxd::{rss_of, sync_metric, window};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `fluxd` binary to run.
    pub fluxd: PathBuf,
    /// How many repositories (sources).
    pub sources: usize,
    /// Resources in each repository (about: a multiple of 5 is exact).
    pub resources: usize,
    /// The no-op interval measured.
    pub interval: Duration,
    /// `--sync-interval` (periodic syncs inside the interval).
    pub sync_interval: Duration,
    /// `--git-poll-interval` (an hour by default: no fetches inside the
    /// interval).
    pub git_poll_interval: Duration,
    /// `MALLOC_ARENA_MAX` for every fluxd (`None`: not set).
    pub malloc_arena_max: Option<String>,
    /// How long every source may take to sync once.
    pub patience: Duration,
}

/// How the sources are spread over processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One fluxd with a sources file listing every repository.
    One,
    /// One fluxd per repository.
    Many,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::One => "one fluxd, many sources",
            Mode::Many => "one fluxd per source",
        }
    }
}

/// Source `s`'s namespace (and its name in the sources file): `src-SS`.
pub fn namespace(s: usize) -> String {
    format!("src-{s:02}")
}

/// [`crate::manifest`]`(i)` with every object in source `s`'s namespace
/// (the shapes without a namespace get one).
pub fn source_manifest(s: usize, i: usize) -> String {
    let ns = namespace(s);
    let text = crate::manifest(i).replace(
        &format!("namespace: team-{}\n", i % crate::NAMESPACES),
        &format!("namespace: {ns}\n"),
    );
    if text.contains(&format!("namespace: {ns}\n")) {
        return text;
    }
    // The shape without a namespace (a CronJob): add it under its name.
    let name_line = format!("\n  name: job-{i}\n");
    text.replacen(&name_line, &format!("{name_line}  namespace: {ns}\n"), 1)
}

/// Source `s`'s files for about `resources` resources (4/5 as many
/// files, 100 to a directory) and the exact resource count.
pub fn source_files(s: usize, resources: usize) -> (Vec<(String, String)>, usize) {
    let files = resources * 4 / 5;
    let mut count = 0;
    let out = (0..files)
        .map(|i| {
            count += if i % 4 == 1 { 2 } else { 1 };
            (
                format!("apps-{:03}/m-{i:05}.yaml", i / 100),
                source_manifest(s, i),
            )
        })
        .collect();
    (out, count)
}

/// The namespaces (and the CRD) as YAML for kubectl.
fn setup_yaml(sources: usize) -> String {
    let mut yaml = crate::cluster_setup_yaml();
    for s in 0..sources {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n",
            namespace(s)
        ));
    }
    yaml
}

/// A test bed with the namespaces, and the repositories' ssh URLs.
async fn bed_with_repos(options: &Options) -> anyhow::Result<(TestBed, Vec<String>, usize)> {
    let bed = TestBed::start(&[])
        .await
        .map_err(|e| anyhow::anyhow!("test bed: {e}"))?;
    let setup = bed
        .kubectl
        .run_stdin(&["apply", "-f", "-"], &setup_yaml(options.sources));
    if !setup.ok {
        bail!("kubectl apply of the namespaces and CRD: {}", setup.stderr);
    }
    let mut urls = Vec::new();
    let mut total = 0;
    for s in 0..options.sources {
        let repo = BareRepo::create(bed.dir.path(), &format!("{}.git", namespace(s)))?;
        let work = WorkClone::new(&repo.file_url(), "master", None)?;
        let (files, count) = source_files(s, options.resources);
        for (path, text) in &files {
            work.write(path, text.as_bytes())?;
        }
        work.commit("Generated")?;
        work.push()?;
        total += count;
        urls.push(bed.sshd.url(repo.path()));
    }
    Ok((bed, urls, total))
}

/// One fluxd process.
struct Proc {
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
    /// Its API's `host:port`, once read from its log.
    addr: Option<String>,
}

/// What `/proc` says of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss: u64,
    hwm: u64,
    /// `utime + stime`, in clock ticks.
    cpu_ticks: u64,
    /// `cutime + cstime` (children waited for), in clock ticks.
    children_ticks: u64,
}

impl std::ops::AddAssign for Sample {
    fn add_assign(&mut self, o: Sample) {
        self.rss += o.rss;
        self.hwm += o.hwm;
        self.cpu_ticks += o.cpu_ticks;
        self.children_ticks += o.children_ticks;
    }
}

/// `(utime + stime, cutime + cstime)` from the text of `/proc/PID/stat`.
pub fn cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in brackets and may hold spaces; the
    // fields after it start at field 3 (state), so utime (14) is 11th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .take(14)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let at = |n: usize| f.get(n - 4).copied();
    Some((at(14)? + at(15)?, at(16)? + at(17)?))
}

fn sample(pid: u32) -> anyhow::Result<Sample> {
    let (rss, hwm) = rss_of(pid)?;
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let (cpu_ticks, children_ticks) =
        cpu_ticks(&stat).with_context(|| format!("{path}: {stat}"))?;
    Ok(Sample {
        rss,
        hwm,
        cpu_ticks,
        children_ticks,
    })
}

fn sample_all(procs: &[Proc]) -> anyhow::Result<Sample> {
    let mut sum = Sample::default();
    for p in procs {
        sum += sample(p.pid)?;
    }
    Ok(sum)
}

/// Clock ticks a second (`getconf CLK_TCK`; 100 if that fails).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Starts one fluxd with the bed's flags and `extra`, logging JSON to
/// `state.log` in the bed's directory.
fn spawn(bed: &TestBed, options: &Options, state: &str, extra: &[String]) -> anyhow::Result<Proc> {
    let mut flags = vec![
        "--listen=127.0.0.1:0".to_owned(),
        format!("--sync-interval={}s", options.sync_interval.as_secs()),
        format!(
            "--git-poll-interval={}s",
            options.git_poll_interval.as_secs()
        ),
        "--automation-interval=1h".to_owned(),
        "--log-format=json".to_owned(),
    ];
    flags.extend(extra.iter().cloned());
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut args = bed
        .fluxd_args(state, &refs)
        .map_err(|e| anyhow::anyhow!("fluxd flags: {e}"))?;
    args.remove(0);
    let log_path = bed.path(&format!("{state}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut cmd = tokio::process::Command::new(&options.fluxd);
    cmd.args(&args)
        .env("RUST_LOG", "info,kube=warn,hyper=warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    match &options.malloc_arena_max {
        Some(n) => cmd.env("MALLOC_ARENA_MAX", n),
        None => cmd.env_remove("MALLOC_ARENA_MAX"),
    };
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", options.fluxd.display()))?;
    let pid = child.id().context("fluxd's pid")?;
    Ok(Proc {
        child,
        pid,
        log: log_path,
        addr: None,
    })
}

/// The API address in a fluxd JSON log (its `serving the API` line).
pub fn api_addr_in_log(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "serving the API")
        .and_then(|v| v["fields"]["addr"].as_str().map(str::to_owned))
        .filter(|a| !a.is_empty())
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Whether every source `p` lists is ready and has synced its branch
/// head; an error if
/// it lists other sources than `repos` (the repositories' directory names,
/// which end their URLs).
async fn synced(p: &Proc, repos: &[String]) -> anyhow::Result<bool> {
    let Some(addr) = &p.addr else {
        return Ok(false);
    };
    let client = Client::new(
        &format!("http://{addr}{}", flux_api::API_PREFIX),
        ClientOptions::default(),
    )?;
    let Ok(sources) = client.list_sources().await else {
        return Ok(false);
    };
    if sources.len() != repos.len() {
        bail!("fluxd lists {} sources, not {}", sources.len(), repos.len());
    }
    for (s, repo) in sources.iter().zip(repos) {
        if !s.url.ends_with(repo.as_str()) {
            bail!("source {} has URL {}, not one ending {repo}", s.name, s.url);
        }
    }
    // Ready: the write check (a tag pushed and deleted, in its own task)
    // is over too, so its ssh processes are not counted in the interval.
    Ok(sources.iter().all(|s| {
        s.status == GitRepoStatus::Ready
            && !s.head.is_empty()
            && s.synced == s.head
            && s.last_sync.is_some()
    }))
}

/// Waits until every process has its API address and every source has
/// synced its head once.
async fn wait_all_synced(
    procs: &mut [Proc],
    repos: &[Vec<String>],
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    let mut done = vec![false; procs.len()];
    while done.iter().any(|d| !d) {
        for (k, p) in procs.iter_mut().enumerate() {
            if done[k] {
                continue;
            }
            if let Some(status) = p.child.try_wait()? {
                bail!("fluxd {k} exited ({status}): {}", tail(&p.log));
            }
            if p.addr.is_none() {
                let text = std::fs::read_to_string(&p.log).unwrap_or_default();
                p.addr = api_addr_in_log(&text);
            }
            done[k] = synced(p, &repos[k]).await?;
        }
        if Instant::now() > deadline {
            let k = done.iter().position(|d| !d).unwrap_or(0);
            bail!(
                "fluxd {k} had not synced every source within {patience:?}: {}",
                tail(&procs[k].log)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Seconds spent in syncs and syncs finished so far, summed over
/// processes (fluxd's `flux_daemon_sync_duration_seconds`, every source
/// and outcome).
async fn syncs(procs: &[Proc]) -> anyhow::Result<(f64, u64)> {
    let (mut sum, mut n) = (0.0, 0);
    for p in procs {
        let (s, c) = sync_metric(p.addr.as_deref().context("no API address")?).await?;
        sum += s;
        n += c;
    }
    Ok((sum, n))
}

fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1e5).round() / 10.0
}

/// Runs one mode on a fresh bed; one JSON value.
pub async fn run_mode(options: &Options, mode: Mode) -> anyhow::Result<Value> {
    let (bed, urls, resources) = bed_with_repos(options).await?;
    eprintln!(
        "sources-bench: {}: {} repositories, {resources} resources",
        mode.name(),
        urls.len()
    );
    let started = Instant::now();
    let repo = |s: usize| format!("{}.git", namespace(s));
    let (mut procs, expected): (Vec<Proc>, Vec<Vec<String>>) = match mode {
        Mode::One => {
            let mut yaml = String::from("sources:\n");
            for (s, url) in urls.iter().enumerate() {
                let ns = namespace(s);
                yaml.push_str(&format!(
                    "- name: {ns}\n  url: {url}\n  allowNamespaces: [{ns}]\n"
                ));
            }
            let config = bed
                .sources_flag(&yaml)
                .map_err(|e| anyhow::anyhow!("sources file: {e}"))?;
            let p = spawn(&bed, options, "fluxd", &[config])?;
            (vec![p], vec![(0..urls.len()).map(repo).collect()])
        }
        Mode::Many => {
            let mut procs = Vec::new();
            for (s, url) in urls.iter().enumerate() {
                let ns = namespace(s);
                let extra = [
                    format!("--git-url={url}"),
                    format!("--k8s-allow-namespace={ns}"),
                    format!("--k8s-secret-name=flux-git-deploy-{ns}"),
                ];
                procs.push(spawn(&bed, options, &format!("fluxd-{ns}"), &extra)?);
            }
            (procs, (0..urls.len()).map(|s| vec![repo(s)]).collect())
        }
    };
    wait_all_synced(&mut procs, &expected, options.patience).await?;
    let ready = started.elapsed();
    eprintln!(
        "sources-bench: every source synced after {:.1} s",
        ready.as_secs_f64()
    );
    for s in 0..urls.len() {
        if bed
            .emulator
            .object("", "configmaps", &namespace(s), "cfg-1")
            .is_none()
        {
            bail!("source {s}'s ConfigMap cfg-1 is not in the cluster");
        }
    }

    // The no-op interval.
    let ticks = ticks_per_second();
    let start = sample_all(&procs)?;
    let syncs_start = syncs(&procs).await?;
    let emulator_start = bed.emulator.stats();
    tokio::time::sleep(options.interval).await;
    let end = sample_all(&procs)?;
    let syncs_end = syncs(&procs).await?;
    let emulator_end = bed.emulator.stats();
    for (k, p) in procs.iter_mut().enumerate() {
        if let Some(status) = p.child.try_wait()? {
            bail!("fluxd {k} exited during the interval ({status})");
        }
    }
    for mut p in procs {
        p.child.kill().await.ok();
    }
    let seconds = |t: u64| (t as f64 / ticks * 100.0).round() / 100.0;
    Ok(json!({
        "mode": mode.name(),
        "processes": expected.len(),
        "sources": urls.len(),
        "resources": resources,
        "ready_s": (ready.as_secs_f64() * 10.0).round() / 10.0,
        "cpu_s_to_ready": seconds(start.cpu_ticks),
        "interval_s": options.interval.as_secs_f64(),
        "syncs_in_interval": syncs_end.1 - syncs_start.1,
        "sync_ms_mean": ((syncs_end.0 - syncs_start.0) * 1e4
            / (syncs_end.1 - syncs_start.1).max(1) as f64)
            .round()
            / 10.0,
        "rss_mb_at_start": mb(start.rss),
        "rss_mb": mb(end.rss),
        "peak_mb": mb(end.hwm),
        "cpu_s": seconds(end.cpu_ticks - start.cpu_ticks),
        "children_cpu_s": seconds(end.children_ticks - start.children_ticks),
        "emulator": window(&emulator_start, &emulator_end),
    }))
}

/// Both modes, one after the other, and the ratios one/many.
pub async fn run(options: &Options) -> anyhow::Result<Value> {
    let one = run_mode(options, Mode::One).await?;
    let many = run_mode(options, Mode::Many).await?;
    let ratio = |key: &str| {
        let (a, b) = (one[key].as_f64().unwrap_or(0.0), many[key].as_f64());
        b.filter(|b| *b > 0.0)
            .map(|b| (a / b * 1000.0).round() / 1000.0)
    };
    Ok(json!({
        "sources": options.sources,
        "resources_per_source": one["resources"].as_u64().unwrap_or(0) / options.sources.max(1) as u64,
        "interval_s": options.interval.as_secs_f64(),
        "sync_interval_s": options.sync_interval.as_secs_f64(),
        "git_poll_interval_s": options.git_poll_interval.as_secs_f64(),
        "malloc_arena_max": options.malloc_arena_max,
        "one": one,
        "many": many,
        "ratio_one_to_many": {
            "rss": ratio("rss_mb"),
            "peak": ratio("peak_mb"),
            "cpu": ratio("cpu_s"),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_of_a_source_is_in_its_namespace() {
        for s in [0, 7, 19] {
            let (files, count) = source_files(s, 500);
            assert_eq!(files.len(), 400);
            assert_eq!(count, 500);
            let ns_line = format!("  namespace: {}", namespace(s));
            let (mut kinds, mut namespaced) = (0, 0);
            for (_, text) in &files {
                assert!(!text.contains("team-"), "{text}");
                kinds += text.lines().filter(|l| l.starts_with("kind: ")).count();
                namespaced += text.lines().filter(|l| *l == ns_line).count();
            }
            assert_eq!(kinds, count);
            assert_eq!(namespaced, count);
        }
    }

    #[test]
    fn cpu_times_are_fields_14_to_17_of_stat() {
        let stat = "4242 (flux d) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    150 25 7 3 20 0 9 0 100 1000000 2000";
        assert_eq!(cpu_ticks(stat), Some((175, 10)));
        assert_eq!(cpu_ticks("4242 (short) S 1 2"), None);
    }

    #[test]
    fn the_api_address_is_read_from_the_json_log() {
        let log = "{\"timestamp\":\"t\",\"fields\":{\"message\":\"starting\"}}\n\
                   not json\n\
                   {\"timestamp\":\"t\",\"fields\":{\"message\":\"serving the API\",\"addr\":\"127.0.0.1:41234\"}}\n";
        assert_eq!(api_addr_in_log(log).as_deref(), Some("127.0.0.1:41234"));
        assert_eq!(
            api_addr_in_log("{\"fields\":{\"message\":\"starting\"}}"),
            None
        );
    }
}
