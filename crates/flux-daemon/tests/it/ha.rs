//! `--ha`'s Lease loop against the API emulator: three replicas over four
//! sources spread 2/1/1 with no source held twice, and when one stops its
//! sources are taken by the others within the lease duration.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flux_daemon::config::HaSettings;
use flux_daemon::ha::lease::Leases;
use flux_daemon::ha::{Fence, Ownership};

const SOURCES: [&str; 4] = ["apps", "infra", "monitoring", "tenants"];

fn settings(id: &str) -> HaSettings {
    HaSettings {
        replica_id: id.into(),
        lease_duration: Duration::from_secs(3),
        renew_interval: Duration::from_millis(300),
        renew_deadline: Duration::from_secs(2),
    }
}

struct Replica {
    fences: BTreeMap<String, Arc<Fence>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start(client: &kube::Client, id: &str) -> Replica {
    let s = settings(id);
    let fences: BTreeMap<String, Arc<Fence>> = SOURCES
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                Arc::new(Fence::new(n, id, s.renew_deadline)),
            )
        })
        .collect();
    let leases = Leases::new(client.clone(), "default", id, s.lease_duration);
    let own = Ownership::new(leases, s, fences.clone());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(own.run(|_| {}, async move {
        let _ = rx.await;
    }));
    Replica { fences, stop, task }
}

/// Per source, the replicas whose fence is open.
fn owners(replicas: &BTreeMap<&str, &Replica>) -> BTreeMap<&'static str, Vec<String>> {
    SOURCES
        .iter()
        .map(|s| {
            let open = replicas
                .iter()
                .filter(|(_, r)| r.fences[*s].is_open())
                .map(|(id, _)| (*id).to_owned())
                .collect();
            (*s, open)
        })
        .collect()
}

fn counts(owners: &BTreeMap<&'static str, Vec<String>>) -> Vec<usize> {
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for o in owners.values().flatten() {
        *per.entry(o).or_default() += 1;
    }
    let mut c: Vec<usize> = per.values().copied().collect();
    c.sort_unstable();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_spread_four_sources_and_take_over_a_stopped_one() {
    let server = kube_emulator::Emulator::new()
        .start()
        .await
        .expect("emulator");
    let mut cfg = kube::Config::new(server.url().parse().expect("url"));
    cfg.default_namespace = "default".into();
    let client = kube::Client::try_from(cfg).expect("client");

    let a = start(&client, "fluxd-a");
    let b = start(&client, "fluxd-b");
    let c = start(&client, "fluxd-c");

    // (a) Spread: every source held by exactly one replica, 2/1/1, and no
    // source ever held by two replicas at a sample.
    let started = Instant::now();
    let settled = loop {
        let all: BTreeMap<&str, &Replica> =
            [("fluxd-a", &a), ("fluxd-b", &b), ("fluxd-c", &c)].into();
        let o = owners(&all);
        for (s, holders) in &o {
            assert!(holders.len() <= 1, "{s} held by {holders:?}");
        }
        if o.values().all(|h| h.len() == 1) && counts(&o) == vec![1, 1, 2] {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not settled: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("settled 2/1/1 in {settled:?}");
    // Still settled a few rounds later (no churn).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all: BTreeMap<&str, &Replica> = [("fluxd-a", &a), ("fluxd-b", &b), ("fluxd-c", &c)].into();
    let before = owners(&all);
    assert_eq!(counts(&before), vec![1, 1, 2], "{before:?}");

    // (b) The replica holding two sources stops without giving them back
    // (aborted, as a crashed pod): the others take its sources within the
    // lease duration plus a round, never both at once.
    let victim = ["fluxd-a", "fluxd-b", "fluxd-c"]
        .into_iter()
        .find(|id| before.values().filter(|h| h[0] == *id).count() == 2)
        .expect("a replica with two");
    let mut rest: BTreeMap<&str, Replica> = [("fluxd-a", a), ("fluxd-b", b), ("fluxd-c", c)].into();
    let dead = rest.remove(victim).expect("victim");
    dead.task.abort();
    drop(dead.stop);
    let cut = Instant::now();
    let took = loop {
        let live: BTreeMap<&str, &Replica> = rest.iter().map(|(k, v)| (*k, v)).collect();
        let o = owners(&live);
        for (s, holders) in &o {
            assert!(holders.len() <= 1, "{s} held by {holders:?}");
        }
        if o.values().all(|h| h.len() == 1) {
            assert_eq!(counts(&o), vec![2, 2], "{o:?}");
            break cut.elapsed();
        }
        assert!(
            cut.elapsed() < Duration::from_secs(10),
            "not taken over: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("sources of the stopped replica taken over in {took:?}");
    // A crashed replica's Leases expire after the lease duration (3 s);
    // then a round or two (0.3 s each, slower on a loaded machine).
    assert!(
        took < Duration::from_secs(3) + Duration::from_secs(4),
        "handover took {took:?}"
    );

    // A replica stopping cleanly gives its Leases back at once.
    let (name, r) = rest.pop_first().expect("one left");
    let held: Vec<String> = r
        .fences
        .iter()
        .filter(|(_, f)| f.is_open())
        .map(|(s, _)| s.clone())
        .collect();
    let _ = r.stop.send(());
    r.task.await.expect("stopped");
    assert!(
        held.iter().all(|s| !r.fences[s].is_open()),
        "{name} still open after stopping"
    );
    let last = rest.values().next().expect("last replica");
    let t = Instant::now();
    while !SOURCES.iter().all(|s| last.fences[*s].is_open()) {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "given-back leases not taken within the lease duration"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "leases given back by a clean stop taken in {:?}",
        t.elapsed()
    );
}
