//! A soak of the real `fluxd` program under faults: for a bounded time it
//! runs against the API emulator, a real git remote (Debian's sshd) and a
//! real registry (Debian's docker-registry, scanned through a proxy that
//! can fail), while commits, new image tags and hand edits keep coming and
//! faults are injected at random (seeded). At the end it drains (no more
//! load, no faults) and checks that fluxd never exited, every commit was
//! applied, none was lost or duplicated, nothing unmarked was deleted, and
//! RSS did not grow by more than 10 % after the baseline; and it prints
//! the counts. `benches/soak.sh` builds and runs it.

pub mod check;
pub mod faults;
pub mod hand;
pub mod model;
pub mod monitor;
pub mod report;
pub mod rng;
pub mod tags;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use flux_api::client::{Client, ClientOptions};
use flux_api::v9::{Change, GitUpdate};
use flux_daemon::testing::TestBed;
use flux_testbed::git::{SshServer, WorkClone};
use flux_testbed::registry::{Proxy, Pusher};

use check::Verdict;
use model::{Committer, Model};
use monitor::{FluxdProcess, Seen, SeenHandle};
use report::Report;
use rng::Rng;
use tags::{App, Tagger};

/// How long the end may take to settle (fluxd catching up with the last
/// commits, tags and hand edits) before the soak fails.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

/// How the soak runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `fluxd` program.
    pub fluxd: PathBuf,
    /// How long load and faults go on.
    pub duration: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// RSS at this second is the baseline the end is compared with.
    pub rss_baseline: Duration,
    /// Most RSS growth allowed (0.10: 10 %).
    pub rss_limit: f64,
    /// Where fluxd's log goes (a scratch file if unset).
    pub fluxd_log: Option<PathBuf>,
    /// Automated workloads.
    pub apps: usize,
}

impl Options {
    /// Defaults for a soak of `duration`: the RSS baseline at the second
    /// minute for runs of five minutes or more, else half way (the first
    /// half minute is fluxd warming up: caches filling, watches starting).
    pub fn new(fluxd: PathBuf, duration: Duration, seed: u64) -> Self {
        let rss_baseline = if duration >= Duration::from_secs(300) {
            Duration::from_secs(120)
        } else {
            duration / 2
        };
        Options {
            fluxd,
            duration,
            seed,
            rss_baseline,
            rss_limit: 0.10,
            fluxd_log: None,
            apps: 3,
        }
    }
}

/// Locks the git remote (a poisoned lock still holds it).
pub fn lock_sshd(sshd: &Mutex<SshServer>) -> std::sync::MutexGuard<'_, SshServer> {
    sshd.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the soak; the report says what held. An error is a soak that could
/// not run (a server that would not start), not a verdict.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let rng = Rng::new(options.seed);
    let started = Instant::now();

    // The servers. The initial commit: the namespace, the automated
    // workloads (images through the proxy), and the first files.
    let bed = TestBed::start(&[])
        .await
        .map_err(|e| anyhow::anyhow!("test bed: {e}"))?
        .with_registry()
        .map_err(|e| anyhow::anyhow!("registry: {e}"))?;
    let registry = bed.registry_addr().context("registry")?.to_owned();
    let proxy = Arc::new(Proxy::start(&registry).await?);
    let pusher = Pusher::new(&registry);
    let apps: Vec<App> = (0..options.apps).map(App::new).collect();
    tags::push_initial(&pusher, &apps).await?;
    let model = Model::initial(20);
    let mut files: Vec<(String, String)> = vec![(
        "namespace.yaml".to_owned(),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n",
            model::NAMESPACE
        ),
    )];
    files.extend(apps.iter().map(|a| (a.path(), a.render(proxy.addr()))));
    files.extend(model.files.iter().map(|(p, e)| (p.clone(), e.render())));
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_bytes()))
        .collect();
    bed.commit(&borrowed, "Initial config")
        .map_err(|e| anyhow::anyhow!("initial commit: {e}"))?;

    // fluxd, the real program.
    let port = flux_testbed::port::free_port()?;
    let listen = format!("--listen=127.0.0.1:{port}");
    let insecure = format!("--registry-insecure-host={}", proxy.addr());
    let include = format!("--registry-include-image={}/*", proxy.addr());
    let args = bed
        .fluxd_args(
            "fluxd-state",
            &[
                &listen,
                "--log-format=json",
                "--git-poll-interval=5s",
                "--git-timeout=10s",
                "--sync-interval=20s",
                "--sync-timeout=45s",
                "--automation-interval=10s",
                "--sync-garbage-collection",
                &insecure,
                &include,
            ],
        )
        .map_err(|e| anyhow::anyhow!("fluxd flags: {e}"))?;
    let log_path = options
        .fluxd_log
        .clone()
        .unwrap_or_else(|| bed.path("fluxd.log"));
    let mut fluxd = FluxdProcess::spawn(&options.fluxd, &args[1..], port, &log_path)?;
    fluxd.wait_ready(Duration::from_secs(120)).await?;
    let api = Client::new(
        &format!("{}/api/flux", fluxd.root_url),
        ClientOptions::default(),
    )?;
    let ready_at = started.elapsed();

    // Take the bed apart: the injector needs the sshd, the checks the
    // emulator.
    let TestBed {
        dir: _dir,
        sshd,
        repo,
        git_url,
        emulator,
        kubeconfig: _,
        kubectl,
        registry: _registry,
        command_path: _,
    } = bed;
    let sshd = Arc::new(Mutex::new(sshd));
    let emulator = Arc::new(emulator);
    let model = Arc::new(Mutex::new(model));
    let seen: SeenHandle = Arc::new(Mutex::new(Seen::default()));
    let stop_load = Arc::new(AtomicBool::new(false));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();

    let watcher = tokio::spawn(monitor::watch(
        seen.clone(),
        fluxd.pid,
        fluxd.root_url.clone(),
        emulator.clone(),
        load_started,
        Duration::from_secs(1),
        stop_watch.clone(),
    ));

    // The committer: a work clone over file:// (the soak's own pushes do not
    // go through the sshd that faults stop).
    let handle = tokio::runtime::Handle::current();
    let committer = {
        let api = api.clone();
        let notify_handle = handle.clone();
        let git_url = git_url.clone();
        let committer = Committer {
            work: WorkClone::new(&repo.file_url(), "master", None)?,
            model: model.clone(),
            rng: rng.fork(1),
            pause: (700, 2500),
            notify: Box::new(move |webhook| {
                if webhook {
                    let change = Change::Git(GitUpdate {
                        url: git_url.clone(),
                        branch: "master".to_owned(),
                    });
                    let _ = notify_handle.block_on(api.notify(&change));
                }
            }),
        };
        let stop = stop_load.clone();
        std::thread::spawn(move || committer.run(stop))
    };
    let hand = {
        let editor = hand::HandEditor {
            kubectl,
            model: model.clone(),
            rng: rng.fork(2),
            pause: (1000, 3000),
            automated: apps.iter().map(|a| a.name.clone()).collect(),
        };
        let stop = stop_load.clone();
        std::thread::spawn(move || editor.run(&stop))
    };
    let notify_image = apps.first().map_or_else(
        || format!("{}/soak/none", proxy.addr()),
        |a| format!("{}/{}", proxy.addr(), a.repository),
    );
    let tagger = tokio::spawn(
        Tagger {
            pusher,
            proxy: proxy.addr().to_owned(),
            api: api.clone(),
            repo: repo.clone(),
            apps,
            rng: rng.fork(3),
            pause: (2000, 6000),
        }
        .run(stop_load.clone()),
    );
    let short = options.duration < Duration::from_secs(300);
    let longest = (options.duration / 10).clamp(Duration::from_secs(4), Duration::from_secs(20));
    let injector = tokio::spawn(
        faults::Injector {
            emulator: emulator.clone(),
            proxy: proxy.clone(),
            sshd: sshd.clone(),
            seen: seen.clone(),
            rng: rng.fork(4),
            longest,
            started: load_started,
            api: api.clone(),
            notify_image,
            // A short soak: three at once, every kind within three
            // episodes. A long one: now and then two at once.
            at_once: if short { 3 } else { 2 },
            combine_percent: if short { 100 } else { 25 },
        }
        .run(stop_load.clone()),
    );

    // The load runs its time, or until fluxd exits.
    while load_started.elapsed() < options.duration {
        if monitor::lock(&seen).exited.is_some() || fluxd.exited().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop_load.store(true, Ordering::Relaxed);
    let load_time = load_started.elapsed();
    let episodes = injector.await.context("injector")??;
    let tag_counts = tagger.await.context("tagger")??;
    let commits = tokio::task::spawn_blocking(move || committer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the committer panicked"))??;
    let hand_counts = tokio::task::spawn_blocking(move || hand.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the hand editor panicked"))?;
    // Whatever the injector left, everything is back for the drain.
    emulator.faults().clear();
    proxy.set_fault(flux_testbed::registry::Fault::None);
    {
        let sshd = sshd.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = lock_sshd(&sshd);
            if !s.is_running() { s.restart() } else { Ok(()) }
        })
        .await??;
    }

    // The drain: fluxd catches up with everything.
    let drain_started = Instant::now();
    let final_model = model::lock(&model).clone();
    let proxy_addr = proxy.addr().to_owned();
    let mut drain_problems = Vec::new();
    while drain_started.elapsed() < DRAIN_TIMEOUT {
        drain_problems = settled(
            &repo,
            &emulator,
            &final_model,
            &tag_counts.apps,
            &proxy_addr,
            &hand_counts.made,
        )?;
        if drain_problems.is_empty() || fluxd.exited().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drain_time = drain_started.elapsed();
    // A few more samples after the drain: the end of the RSS series.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if fluxd.exited().is_some() {
            break;
        }
    }
    stop_watch.store(true, Ordering::Relaxed);
    watcher.await.context("monitor")?;
    let http = reqwest::Client::new();
    monitor::sample(
        &seen,
        fluxd.pid,
        &fluxd.root_url,
        &emulator,
        load_started,
        &http,
    )
    .await;
    let exited = fluxd.exited();
    let log_tail = fluxd.log_tail(30);

    // Verdicts.
    let head = repo.head("master")?.unwrap_or_default();
    let log = repo.git(&["log", "--format=%H %s", "master"])?;
    let released = tags::automation_commits(&repo)?;
    let seen_now = std::mem::take(&mut *monitor::lock(&seen));
    let mut verdicts = Vec::new();
    verdicts.push(Verdict::new(
        "fluxd never exited",
        exited
            .iter()
            .map(|how| format!("fluxd exited ({how}); its log ends:\n{log_tail}"))
            .collect(),
    ));
    verdicts.push(Verdict::new(
        "every commit applied (sync tag at the final head, cluster as git says)",
        drain_problems.clone(),
    ));
    let mut lost = check::soak_commits(&commits.pushed, &log);
    lost.extend(tags::compare(&released, &tag_counts.apps, &proxy_addr));
    if seen_now.scrape.automation_commits != released.len() as u64 {
        lost.push(format!(
            "fluxd counted {} automation commits, master has {}",
            seen_now.scrape.automation_commits,
            released.len()
        ));
    }
    verdicts.push(Verdict::new("no commit lost or duplicated", lost));
    let mut unmarked = check::deletes(&seen_now.deletes, &final_model);
    unmarked.extend(check::hand_made(&emulator, &hand_counts.made));
    if seen_now.log_missed > 0 {
        unmarked.push(format!(
            "{} request log records were dropped before the monitor read them",
            seen_now.log_missed
        ));
    }
    verdicts.push(Verdict::new("nothing unmarked deleted", unmarked));
    let baseline = options.rss_baseline.as_secs_f64();
    let (rss_base, rss_end, rss_problems) =
        check::rss_growth(&seen_now.rss, baseline, options.rss_limit);
    verdicts.push(Verdict::new("RSS growth within the limit", rss_problems));
    verdicts.push(Verdict::new(
        "recovered from every fault",
        episodes
            .iter()
            .filter(|e| e.recovered_after.is_none())
            .map(|e| {
                format!(
                    "no recovery within {:?} of {:?} at {:.0} s",
                    faults::RECOVERY_TIMEOUT,
                    e.faults,
                    e.at
                )
            })
            .collect(),
    ));
    // Last: fluxd stops cleanly.
    let stop_problems = if exited.is_none() {
        match fluxd.terminate(Duration::from_secs(30)).await {
            Ok(Some(0)) => Vec::new(),
            Ok(code) => vec![format!(
                "fluxd exited with {code:?} on SIGTERM; its log ends:\n{}",
                fluxd.log_tail(30)
            )],
            Err(e) => vec![e.to_string()],
        }
    } else {
        vec!["fluxd was not running any more".to_owned()]
    };
    verdicts.push(Verdict::new(
        "fluxd stops on SIGTERM with exit code 0",
        stop_problems,
    ));

    Ok(Report {
        seed: options.seed,
        duration: options.duration,
        load_time,
        ready_at,
        drain_time,
        head,
        commits,
        tags: tag_counts,
        hand: hand_counts,
        released: released.len(),
        episodes,
        seen: seen_now,
        rss_baseline_at: baseline,
        rss_base,
        rss_end,
        verdicts,
        fluxd_log: options.fluxd_log.clone(),
    })
}

/// What still differs at the end: the sync tag behind master, automated
/// workloads not at their newest tags in git, the cluster not as git says.
fn settled(
    repo: &flux_testbed::git::BareRepo,
    emulator: &kube_emulator::Server,
    model: &Model,
    apps: &[App],
    proxy: &str,
    made: &[model::ObjectKey],
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let head = repo.head("master")?.unwrap_or_default();
    let tag = repo
        .git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "refs/tags/flux-sync^{commit}",
        ])
        .unwrap_or_default();
    if tag != head {
        problems.push(format!("the sync tag is at {tag:?}, master at {head}"));
    }
    for app in apps {
        let want = app.image(proxy, app.last());
        let got = tags::committed(repo, &app.path())?;
        if got.as_deref() != Some(want.as_str()) {
            problems.push(format!(
                "{} in git is {got:?}, not the newest tag {want}",
                app.path()
            ));
        }
    }
    problems.extend(check::cluster_vs_git(emulator, model, apps, proxy, made));
    Ok(problems)
}
