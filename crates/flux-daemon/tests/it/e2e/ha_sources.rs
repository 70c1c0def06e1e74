//! Three fluxd replicas with `--ha` sharing four sources, each replica
//! talking to the API emulator with its own token so that the emulator's
//! request log says who wrote what and when. The sources spread 2/1/1; the
//! API and metrics of any replica name the owners; then the replica holding
//! two sources is cut off from the Leases (every Lease request it sends is
//! dropped) while commits keep coming: it stops writing before its Leases
//! expire, the others take its sources and apply, and no object is written
//! by two replicas in the handover. Then one of the new owners is killed
//! outright: the last replica with Lease access takes all four sources
//! within the lease duration and applies the next commit once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use flux_testbed::git::BareRepo;
use kube_emulator::{FaultAction, FaultRule, RequestRecord};

use super::*;

const SOURCES: [&str; 4] = ["s1", "s2", "s3", "s4"];
const LEASE: Duration = Duration::from_secs(4);
const HA: [&str; 6] = [
    "--ha",
    // Writes stop 2 s after the last renewal sent, Leases expire 4 s after
    // it was written: 2 s of margin for a loaded machine.
    "--ha-lease-duration=4s",
    "--ha-renew-interval=300ms",
    "--ha-renew-deadline=2s",
    "--git-poll-interval=1s",
    "--sync-interval=1h",
];

fn config_map(source: &str, n: u32) -> Vec<u8> {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {source}-cm\n  namespace: default\ndata:\n  count: \"{n}\"\n"
    )
    .into_bytes()
}

/// Which replicas claim each source (may write for it) right now.
fn claims(replicas: &[(String, Fluxd)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, fluxd) in replicas {
        for s in &fluxd.shared().sources {
            if s.may_write().is_ok() {
                out.entry(s.name.clone()).or_default().push(id.clone());
            }
        }
    }
    out
}

/// Waits until every source of `sources` has one owner among `replicas`
/// other than `not_by` (no source ever claimed by two replicas meanwhile)
/// and returns source -> owner.
async fn settled(
    replicas: &[(String, Fluxd)],
    sources: &[&str],
    not_by: &str,
) -> BTreeMap<String, String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let c = claims(replicas);
        for (source, who) in &c {
            assert!(who.len() <= 1, "{source} owned twice: {who:?}");
        }
        let done = sources
            .iter()
            .all(|s| c.get(*s).is_some_and(|w| w[0] != not_by));
        if done {
            return c.into_iter().map(|(s, mut w)| (s, w.remove(0))).collect();
        }
        assert!(tokio::time::Instant::now() < deadline, "not settled: {c:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The source whose ConfigMap a request writes, if any.
fn written_source(r: &RequestRecord) -> Option<&'static str> {
    if !r.is_write() || r.path.contains("/leases/") {
        return None;
    }
    SOURCES
        .into_iter()
        .find(|s| r.path.ends_with(&format!("/configmaps/{s}-cm")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sources_spread_and_a_replica_cut_from_its_leases_stops_writing_before_they_expire() {
    let bed = TestBed::start(&[]).await.expect("bed");
    let mut repos = Vec::new();
    let mut yaml = String::from("sources:\n");
    for s in SOURCES {
        let repo = BareRepo::create(bed.dir.path(), &format!("{s}.git")).expect("repo");
        repo.commit_files(&[("cm.yaml", &config_map(s, 0))], "first")
            .expect("commit");
        yaml.push_str(&format!(
            "- name: {s}\n  url: {}\n",
            bed.sshd.url(repo.path())
        ));
        repos.push(repo);
    }
    let config = bed.sources_flag(&yaml).expect("sources file");
    let mut replicas = Vec::new();
    for id in ["fluxd-a", "fluxd-b", "fluxd-c"] {
        // Each replica's own token, so the request log names it.
        let kubeconfig = bed.path(&format!("{id}.kubeconfig"));
        bed.emulator
            .write_kubeconfig(&kubeconfig, Some(id))
            .expect("kubeconfig");
        let flags = [
            config.clone(),
            format!("--ha-replica-id={id}"),
            format!("--kube-config={}", kubeconfig.display()),
        ];
        let mut args: Vec<&str> = HA.to_vec();
        args.extend(flags.iter().map(String::as_str));
        let fluxd = bed.spawn_fluxd(id, &args).await.expect("fluxd");
        replicas.push((id.to_owned(), fluxd));
    }

    // Spread 2/1/1, one owner each.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let owners = loop {
        let owners = settled(&replicas, &SOURCES, "").await;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for o in owners.values() {
            *counts.entry(o.as_str()).or_default() += 1;
        }
        let mut shape: Vec<usize> = counts.values().copied().collect();
        shape.sort_unstable();
        if shape == [1, 1, 2] {
            break owners;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never spread 2/1/1: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("owners: {owners:?}");
    for s in SOURCES {
        eventually(
            &bed,
            &["get", "configmap", &format!("{s}-cm"), "-o", "name"],
            |o| o.contains("configmap"),
        )
        .await;
    }

    // Every replica's API names the owners, and each owner's metrics say so.
    for (id, fluxd) in &replicas {
        let listed = client(fluxd).list_sources().await.expect("sources");
        let named: BTreeMap<String, String> =
            listed.into_iter().map(|s| (s.name, s.owner)).collect();
        assert_eq!(named, owners, "as {id} lists them");
    }
    let (victim, victim_fluxd) = {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for o in owners.values() {
            *counts.entry(o.as_str()).or_default() += 1;
        }
        let two = counts
            .iter()
            .find(|(_, n)| **n == 2)
            .map(|(id, _)| (*id).to_owned())
            .expect("a replica with two");
        let f = &replicas
            .iter()
            .find(|(id, _)| *id == two)
            .expect("victim")
            .1;
        (two, f)
    };
    let metrics = reqwest::get(format!("{}/metrics", victim_fluxd.root_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let theirs: Vec<&str> = owners
        .iter()
        .filter(|(_, o)| **o == victim)
        .map(|(s, _)| s.as_str())
        .collect();
    for s in SOURCES {
        let want = i32::from(theirs.contains(&s));
        let line = format!("flux_daemon_source_owned{{source=\"{s}\"}} {want}");
        assert!(metrics.contains(&line), "no {line:?} in\n{metrics}");
    }

    // Commits to the victim's sources every 300 ms from now until the end.
    let running = Arc::new(AtomicBool::new(true));
    let made = Arc::new(AtomicU32::new(0));
    let committer = {
        let running = running.clone();
        let made = made.clone();
        let targets: Vec<(String, BareRepo)> = theirs
            .iter()
            .map(|s| {
                let i = SOURCES.iter().position(|x| x == s).expect("source");
                ((*s).to_owned(), repos[i].clone())
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut n = 1;
            while running.load(Ordering::SeqCst) {
                for (s, repo) in &targets {
                    repo.commit_files(&[("cm.yaml", &config_map(s, n))], "bump")
                        .expect("commit");
                }
                made.store(n, Ordering::SeqCst);
                n += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    // The victim applies some of them while it holds its Leases: the cut
    // comes once it has written one.
    let start = bed.emulator.request_log().len();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !bed.emulator.request_log()[start..]
        .iter()
        .any(|r| r.token.as_deref() == Some(victim.as_str()) && written_source(r).is_some())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{victim} applied none of the commits"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Cut: every Lease request of the victim is dropped; it keeps every
    // other access (it could still write, were it not fenced).
    let cut_at = chrono::Utc::now();
    let fault = bed.emulator.faults().add(
        FaultRule::always(FaultAction::Drop)
            .token(&victim)
            .path("/leases"),
    );
    let taken = settled(&replicas, &theirs, &victim).await;
    let handover = (chrono::Utc::now() - cut_at).to_std().unwrap_or_default();
    eprintln!("{victim} cut at {cut_at}; {taken:?} took its sources in {handover:?}");
    // Commits keep coming for a while after the handover, then the last
    // one must be applied by the new owners.
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::SeqCst);
    committer.await.expect("committer");
    let last = made.load(Ordering::SeqCst);
    for s in &theirs {
        let want = format!("{last}");
        count_is(&bed, s, &want).await;
    }
    // The victim never took its sources back.
    assert!(
        victim_fluxd
            .shared()
            .sources
            .iter()
            .all(|s| s.may_write().is_err()),
        "{victim} still writes"
    );

    // The request log: the victim's last successful Lease write, its
    // writes to the sources' objects, and the others'.
    let log: Vec<RequestRecord> = bed.emulator.request_log().split_off(start);
    let by = |r: &RequestRecord, who: &str| r.token.as_deref() == Some(who);
    let last_renewal = bed
        .emulator
        .request_log()
        .iter()
        .filter(|r| by(r, &victim) && r.is_write() && r.path.contains("/leases/"))
        .filter(|r| (200..300).contains(&r.status))
        .map(|r| r.time)
        .max()
        .expect("the victim renewed its leases");
    let expiry = last_renewal + chrono::Duration::from_std(LEASE).expect("duration");
    let victim_writes: Vec<&RequestRecord> = log
        .iter()
        .filter(|r| by(r, &victim) && written_source(r).is_some())
        .collect();
    let victim_last = victim_writes.iter().map(|r| r.time).max().expect("some");
    eprintln!(
        "victim: {} writes ({} after the cut), last {} ms after its last renewal (lease {} ms)",
        victim_writes.len(),
        victim_writes.iter().filter(|r| r.time > cut_at).count(),
        (victim_last - last_renewal).num_milliseconds(),
        LEASE.as_millis()
    );
    assert!(
        victim_last < expiry,
        "{victim} wrote at {victim_last}, after its lease expired at {expiry}"
    );
    // No overlap: for each of its sources, every write by the new owner
    // comes after the victim's last write of that source.
    for s in &theirs {
        let victim_last = log
            .iter()
            .filter(|r| by(r, &victim) && written_source(r) == Some(*s))
            .map(|r| r.time)
            .max();
        let new_first = log
            .iter()
            .filter(|r| by(r, &taken[*s]) && written_source(r) == Some(*s))
            .map(|r| r.time)
            .min()
            .expect("the new owner applied");
        if let Some(v) = victim_last {
            assert!(
                v < new_first,
                "{s}: {victim} wrote at {v}, {} already at {new_first}",
                taken[*s]
            );
        }
        // Nobody else wrote it.
        for r in &log {
            if written_source(r) == Some(*s) {
                let who = r.token.as_deref().unwrap_or("");
                assert!(
                    who == victim || who == taken[*s],
                    "{s} written by {who}: {}",
                    r.line()
                );
            }
        }
    }

    // After the handover, one more commit is written exactly once.
    let s = theirs[0];
    let i = SOURCES.iter().position(|x| *x == s).expect("source");
    let writes: Vec<String> = writes_of_commit(&bed, &repos[i], s, 1000)
        .await
        .iter()
        .map(|r| format!("{} {}", r.token.as_deref().unwrap_or(""), r.line()))
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].starts_with(taken[s].as_str()), "{writes:?}");

    // Then a new owner is killed (no stop, its Leases left held): the one
    // replica left with Lease access takes every source within the lease
    // duration (plus a renewal round and slack for a loaded machine) and
    // applies a commit to a source the dead one held, written once.
    let dead = taken[s].clone();
    let at = replicas
        .iter()
        .position(|(id, _)| *id == dead)
        .expect("the new owner");
    let (_, dead_fluxd) = replicas.remove(at);
    let survivor = replicas
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| *id != victim)
        .expect("a survivor");
    let killed_at = tokio::time::Instant::now();
    dead_fluxd.kill().await;
    let all = settled(&replicas, &SOURCES, &victim).await;
    let takeover = killed_at.elapsed();
    eprintln!("{dead} killed; {survivor} holds every source after {takeover:?}");
    assert!(all.values().all(|o| *o == survivor), "{all:?}");
    assert!(takeover < LEASE + Duration::from_secs(3), "{takeover:?}");
    let writers: Vec<String> = writes_of_commit(&bed, &repos[i], s, 2000)
        .await
        .into_iter()
        .map(|r| r.token.unwrap_or_default())
        .collect();
    assert_eq!(writers, [survivor], "{s} written by");
    bed.emulator.faults().remove(fault);

    for (_, f) in replicas {
        f.stop().await;
    }
}

/// Commits count `n` to source `s`'s repository, waits until it is applied
/// and a second more (for any second writer to show itself), and returns
/// the writes of `s`'s ConfigMap the API server received meanwhile.
async fn writes_of_commit(bed: &TestBed, repo: &BareRepo, s: &str, n: u32) -> Vec<RequestRecord> {
    let before = bed.emulator.request_log().len();
    repo.commit_files(&[("cm.yaml", &config_map(s, n))], &format!("count {n}"))
        .expect("commit");
    count_is(bed, s, &n.to_string()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    bed.emulator
        .request_log()
        .split_off(before)
        .into_iter()
        .filter(|r| written_source(r) == Some(s))
        .collect()
}

/// Waits until source `s`'s ConfigMap holds `count`.
async fn count_is(bed: &TestBed, s: &str, count: &str) {
    let name = format!("{s}-cm");
    let args = ["get", "configmap", &name, "-o", "jsonpath={.data.count}"];
    eventually(bed, &args, |o| o == count).await;
}
