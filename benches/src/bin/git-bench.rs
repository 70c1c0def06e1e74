//! The measuring half of `benches/compare/git.sh`: flux-git and the `git`
//! program doing the same work, interleaved run by run so that load from
//! elsewhere on the machine falls on both alike.
//!
//! `git-bench compare URL WORK RUNS` (URL: a remote holding a generated
//! repository on `master`; WORK: an empty scratch directory) prints one line
//! per measure: `name ours_median_ms git_median_ms [files]`.
//!
//! - `clone`: flux-git's first fetch into an empty mirror vs
//!   `git clone --mirror`.
//! - `fetch-read`: after another clone pushes a one-file commit (untimed),
//!   flux-git's `refresh` + `snapshot_at(head)` of every manifest file vs
//!   `git fetch` into a mirror + `git ls-tree -r` + `git archive` of the head.
//! - `fetch`: the fetch part of each.
//! - `read-cold`: reading every file of the head with nothing cached (a
//!   fresh mirror's first snapshot) vs `git ls-tree -r` + `git archive`
//!   (5 runs at most).
//! - `commit-push`: `Repo::commit_and_push` of a one-file edit vs
//!   `git pull --ff-only` + edit + `git commit -a` + `git push` in a kept
//!   work tree.
//! - `commit-push-v1`: the same edit done Flux v1's way (fetch into the
//!   mirror, a fresh working clone of it, commit, push, remove the clone);
//!   first 3 runs only (against flux-git's same runs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use flux_core::source::Snapshot;
use flux_git::{
    BoxError, CommitOutcome, CommitRequest, FileChanges, GitConfig, GitFlags, Repo, SshOptions,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["compare", url, work, runs] => {
            runtime.block_on(compare(url, work.as_ref(), runs.parse()?))
        }
        _ => bail!("usage: git-bench compare URL WORK RUNS"),
    }
}

/// For ssh URLs, `GIT_BENCH_IDENTITY` and `GIT_BENCH_KNOWN_HOSTS` name the
/// key and known_hosts file (the git anchor gets them via GIT_SSH_COMMAND).
fn repo(url: &str, state: &Path) -> anyhow::Result<Repo> {
    let config = GitConfig::from_flags(&GitFlags {
        url: url.to_owned(),
        timeout: Duration::from_secs(120),
        ..GitFlags::default()
    })?;
    let ssh = SshOptions {
        identity: std::env::var_os("GIT_BENCH_IDENTITY").map(PathBuf::from),
        known_hosts: std::env::var_os("GIT_BENCH_KNOWN_HOSTS")
            .map(PathBuf::from)
            .into_iter()
            .collect(),
        ..SshOptions::default()
    };
    Ok(Repo::new(config, &ssh, state)?)
}

/// Runs `git args` in `dir`, hermetic, quiet; fails on a non-zero exit.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Writer")
        .env("GIT_AUTHOR_EMAIL", "writer@example.com")
        .env("GIT_COMMITTER_NAME", "Writer")
        .env("GIT_COMMITTER_EMAIL", "writer@example.com")
        .output()
        .with_context(|| format!("git {args:?}"))?;
    ensure!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

fn append(file: &Path, line: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)?;
    std::fs::write(file, format!("{text}{line}\n"))?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
    let start = Instant::now();
    let out = f()?;
    Ok((out, ms(start.elapsed())))
}

#[derive(Default)]
struct Series {
    ours: Vec<f64>,
    git: Vec<f64>,
}

impl Series {
    fn print(self, name: &str, extra: &str) {
        println!(
            "{name} {:.1} {:.1}{extra}",
            median(self.ours),
            median(self.git)
        );
    }
}

async fn compare(url: &str, work: &Path, runs: usize) -> anyhow::Result<()> {
    ensure!(runs > 0, "RUNS must be at least 1");
    let path = |p: &str| -> PathBuf { work.join(p) };
    let s = |p: &Path| p.to_string_lossy().into_owned();

    // First clones.
    let flux = repo(url, &path("flux-state"))?;
    let start = Instant::now();
    flux.refresh().await?;
    let flux_clone = ms(start.elapsed());
    let mirror = path("git-mirror.git");
    let ((), git_clone) =
        timed(|| git(work, &["clone", "-q", "--mirror", url, &s(&mirror)]).map(drop))?;
    println!("clone {flux_clone:.1} {git_clone:.1}");

    // Fetch and read after another writer's one-file commit.
    let writer = path("writer");
    git(work, &["clone", "-q", url, &s(&writer)])?;
    let (mut total, mut fetch) = (Series::default(), Series::default());
    let (mut flux_files, mut git_files) = (0, 0);
    for run in 0..runs {
        append(
            &writer.join("apps-000/m-00000.yaml"),
            &format!("# writer run {run}"),
        )?;
        git(&writer, &["commit", "-qam", &format!("writer run {run}")])?;
        git(&writer, &["push", "-q", "origin", "HEAD:master"])?;

        let start = Instant::now();
        let head = flux.refresh().await?;
        let fetched = ms(start.elapsed());
        let snap = flux.snapshot_at(&head.head, &[String::new()]).await?;
        total.ours.push(ms(start.elapsed()));
        fetch.ours.push(fetched);
        ensure!(head.moved, "flux-git saw no new commit");
        flux_files = snap.files.len();

        let start = Instant::now();
        git(&mirror, &["fetch", "-q", "origin"])?;
        let fetched = ms(start.elapsed());
        let listing = git(&mirror, &["ls-tree", "-r", "--name-only", "master"])?;
        let archive = git(&mirror, &["archive", "--format=tar", "master"])?;
        total.git.push(ms(start.elapsed()));
        fetch.git.push(fetched);
        ensure!(!archive.is_empty());
        git_files = String::from_utf8_lossy(&listing)
            .lines()
            .filter(|l| l.ends_with(".yaml"))
            .count();
    }
    total.print("fetch-read", &format!(" {flux_files} {git_files}"));
    fetch.print("fetch", "");

    // Reading a whole tree with nothing cached (a restart, or the first
    // sync): a fresh mirror each run, its first snapshot timed.
    let mut cold = Series::default();
    for run in 0..runs.min(5) {
        let fresh = repo(url, &path(&format!("cold-{run}")))?;
        let head = fresh.refresh().await?.head;
        let start = Instant::now();
        fresh.snapshot_at(&head, &[String::new()]).await?;
        cold.ours.push(ms(start.elapsed()));
        let ((), t) = timed(|| {
            git(&mirror, &["ls-tree", "-r", "--name-only", "master"])?;
            git(&mirror, &["archive", "--format=tar", "master"]).map(drop)
        })?;
        cold.git.push(t);
        std::fs::remove_dir_all(path(&format!("cold-{run}")))?;
    }
    cold.print("read-cold", "");

    // Commit and push one edit.
    let kept = path("git-work");
    git(work, &["clone", "-q", url, &s(&kept)])?;
    let (mut commit, mut v1) = (Series::default(), Series::default());
    for run in 0..runs {
        let edit = move |snap: &Snapshot| -> Result<FileChanges, BoxError> {
            let file = "apps-001/m-00100.yaml";
            let text = String::from_utf8(snap.files.get(file).ok_or("file missing")?.to_vec())?;
            let mut c = FileChanges::new();
            c.write(file, format!("{text}# flux run {run}\n"));
            Ok(c)
        };
        let start = Instant::now();
        let outcome = flux
            .commit_and_push(edit, CommitRequest::new(format!("flux run {run}")))
            .await?;
        commit.ours.push(ms(start.elapsed()));
        ensure!(
            matches!(outcome, CommitOutcome::Pushed(_)),
            "flux-git pushed nothing"
        );

        let ((), t) = timed(|| {
            git(&kept, &["pull", "-q", "--ff-only", "origin", "master"])?;
            append(
                &kept.join("apps-001/m-00100.yaml"),
                &format!("# git run {run}"),
            )?;
            git(&kept, &["commit", "-qam", &format!("git run {run}")])?;
            git(&kept, &["push", "-q", "origin", "HEAD:master"]).map(drop)
        })?;
        commit.git.push(t);

        if run >= 3 {
            continue; // a fresh clone of 10,000 files takes seconds: 3 runs say enough
        }
        v1.ours.push(*commit.ours.last().unwrap_or(&0.0));
        let ((), t) = timed(|| {
            let clone = path("v1-clone");
            git(&mirror, &["fetch", "-q", "origin"])?;
            git(
                work,
                &["clone", "-q", "--branch", "master", &s(&mirror), &s(&clone)],
            )?;
            append(
                &clone.join("apps-001/m-00100.yaml"),
                &format!("# v1 run {run}"),
            )?;
            git(&clone, &["commit", "-qam", &format!("v1 run {run}")])?;
            git(&clone, &["push", "-q", url, "HEAD:master"])?;
            std::fs::remove_dir_all(&clone)?;
            Ok(())
        })?;
        v1.git.push(t);
    }
    commit.print("commit-push", "");
    v1.print("commit-push-v1", "");
    Ok(())
}
