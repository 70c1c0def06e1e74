//! fluxd replicas with `--ha` on one repository and one emulator: one owns
//! the source and syncs it, the others refuse jobs naming the owner; when
//! the owner stops another takes the source over and applies a new commit;
//! when the owner is killed in the middle of automating a new tag, another
//! takes over once the Lease expires and the tag is committed exactly once.

use super::*;

const HA: [&str; 4] = [
    "--ha",
    "--ha-lease-duration=3s",
    "--ha-renew-interval=300ms",
    "--ha-renew-deadline=2s",
];

fn owns(fluxd: &Fluxd) -> bool {
    fluxd
        .shared()
        .default_source()
        .is_some_and(|s| s.may_write().is_ok())
}

async fn one_owner(replicas: &[(&str, &Fluxd)]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let owners: Vec<&str> = replicas
            .iter()
            .filter(|(_, f)| owns(f))
            .map(|(id, _)| *id)
            .collect();
        assert!(owners.len() <= 1, "owned twice: {owners:?}");
        if let [one] = owners.as_slice() {
            return (*one).to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "no owner");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_syncs_the_others_refuse_jobs_and_take_over_when_it_stops() {
    let files = [(
        "a.yaml",
        deployment("a", "registry.example.com/team/app:1.0", ""),
    )];
    let bed = TestBed::start(&[(files[0].0, files[0].1.as_bytes())])
        .await
        .expect("bed");
    let mut replicas = Vec::new();
    for id in ["fluxd-a", "fluxd-b", "fluxd-c"] {
        let flag = format!("--ha-replica-id={id}");
        let mut args: Vec<&str> = HA.to_vec();
        args.extend([flag.as_str(), "--git-poll-interval=500ms"]);
        let fluxd = bed.spawn_fluxd(id, &args).await.expect("fluxd");
        replicas.push((id, fluxd));
    }
    let view: Vec<(&str, &Fluxd)> = replicas.iter().map(|(i, f)| (*i, f)).collect();
    let owner = one_owner(&view).await;
    let (_, owner_fluxd) = view.iter().find(|(i, _)| *i == owner).expect("owner");
    owner_fluxd
        .wait_for("the owner's first sync", PATIENCE, |s| {
            s.default_source()
                .is_some_and(|s| s.with_status(|st| st.tried))
        })
        .await
        .expect("synced");
    eventually(&bed, &["get", "deployment", "a", "-o", "name"], |o| {
        o.contains("deployment")
    })
    .await;

    // A non-owner refuses a sync job with a 409 naming the owner.
    let (_, other) = view.iter().find(|(i, _)| *i != owner).expect("another");
    let sync = serde_json::to_string(&flux_api::update::Spec::sync()).expect("json");
    let (code, body) = post(other, "/v9/update-manifests", &sync).await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains(&owner), "{body}");

    // The owner stops; another replica takes the source within the lease
    // duration and applies a new commit.
    let owner_index = replicas
        .iter()
        .position(|(i, _)| *i == owner)
        .expect("index");
    let (_, stopped) = replicas.remove(owner_index);
    let cut = std::time::Instant::now();
    stopped.stop().await;
    let rest: Vec<(&str, &Fluxd)> = replicas.iter().map(|(i, f)| (*i, f)).collect();
    let next = one_owner(&rest).await;
    let handover = cut.elapsed();
    eprintln!("{owner} stopped; {next} took the source in {handover:?}");
    // From the stop signal: the owner finishes its running step, then gives
    // the Lease back; 6.9 s was seen on a loaded 2-core machine.
    assert!(handover < Duration::from_secs(10), "{handover:?}");
    let b = deployment("b", "registry.example.com/team/app:1.0", "");
    bed.commit(&[("b.yaml", b.as_bytes())], "Add b")
        .expect("commit");
    eventually(&bed, &["get", "deployment", "b", "-o", "name"], |o| {
        o.contains("deployment")
    })
    .await;
    assert_eq!(rest.iter().filter(|(_, f)| owns(f)).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_killed_while_automating_leaves_exactly_one_commit() {
    let (bed, registry) = bed_with_registry().await;
    push(&registry, "demo/app", &[("1.0.0", "2024-01-01T00:00:00Z")]).await;
    let app = deployment(
        "app",
        &format!("{registry}/demo/app:1.0.0"),
        "    fluxcd.io/automated: \"true\"\n",
    );
    bed.commit(&[("app.yaml", app.as_bytes())], "App")
        .expect("commit");
    let mut replicas = Vec::new();
    for id in ["fluxd-a", "fluxd-b"] {
        let flag = format!("--ha-replica-id={id}");
        let mut args: Vec<&str> = HA.to_vec();
        args.extend([
            flag.as_str(),
            "--git-poll-interval=500ms",
            "--automation-interval=1h",
        ]);
        replicas.push((id, bed.spawn_fluxd(id, &args).await.expect("fluxd")));
    }
    let view: Vec<(&str, &Fluxd)> = replicas.iter().map(|(i, f)| (*i, f)).collect();
    let owner = one_owner(&view).await;
    eventually(&bed, &["get", "deployment", "app", "-o", "name"], |o| {
        o.contains("deployment")
    })
    .await;

    // A new tag; both replicas hear of it; the owner is killed at once,
    // before, during or after its automation commit.
    push(&registry, "demo/app", &[("1.1.0", "2024-01-02T00:00:00Z")]).await;
    let change = flux_api::v9::Change::Image(flux_api::v9::ImageUpdate {
        name: flux_api::image::ImageName::from_repository(&format!("{registry}/demo/app")),
    });
    for (_, f) in &replicas {
        client(f).notify(&change).await.expect("notify");
    }
    let index = replicas
        .iter()
        .position(|(i, _)| *i == owner)
        .expect("owner");
    let (_, killed) = replicas.remove(index);
    let kill = std::time::Instant::now();
    killed.kill().await;
    let rest: Vec<(&str, &Fluxd)> = replicas.iter().map(|(i, f)| (*i, f)).collect();
    one_owner(&rest).await;
    let handover = kill.elapsed();
    eprintln!("{owner} killed; the other took the source in {handover:?}");
    // The Lease (3 s) had to expire, then one renewal round (0.3 s);
    // 3 s more for a loaded machine.
    assert!(handover < Duration::from_secs(6), "{handover:?}");
    for (_, f) in &replicas {
        client(f).notify(&change).await.expect("notify");
    }
    let want = format!("{registry}/demo/app:1.1.0");
    eventually_image(&bed, "app", &want).await;
    // Let a second commit show itself, if any were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let subjects = bed.repo.subjects("master").expect("log");
    assert_eq!(
        subjects,
        [format!("Auto-release {want}"), "App".to_owned()],
        "exactly one automation commit"
    );
    for (_, f) in replicas {
        f.stop().await;
    }
}
