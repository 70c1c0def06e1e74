//! Several repositories in one fluxd (`--config`): each source its own
//! sync set, sync tag and garbage collection; a resource two sources
//! define is left alone by both, and reported on both, until one drops it.

use flux_api::v9::{Change, GitUpdate};
use flux_core::ResourceId;
use flux_daemon::testing::{Fluxd, TestBed};
use flux_testbed::git::{BareRepo, WorkClone};

use super::*;

fn config_map(namespace: &str, name: &str, value: &str) -> Vec<u8> {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  from: {value}\n"
    )
    .into_bytes()
}

/// `from` of a ConfigMap, or `None` when it does not exist.
fn from_of(bed: &TestBed, namespace: &str, name: &str) -> Option<String> {
    let out = bed.kubectl.run(&[
        "get",
        "configmap",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.data.from}",
    ]);
    out.ok.then(|| out.stdout.trim().to_owned())
}

async fn wait_cm(bed: &TestBed, namespace: &str, name: &str, want: Option<&str>) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = from_of(bed, namespace, name);
        if got.as_deref() == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{namespace}/{name}: want {want:?}, have {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The overlaps source `name` last found: resource → other sources.
fn overlaps_of(fluxd: &Fluxd, name: &str) -> Vec<(String, Vec<String>)> {
    let source = fluxd.shared().source(name).expect("source");
    source.with_status(|s| {
        s.overlaps
            .iter()
            .map(|(id, with)| (id.to_string(), with.clone()))
            .collect()
    })
}

/// Removes `paths` from `repo`'s master in one commit; the commit.
fn remove_files(repo: &BareRepo, paths: &[&str], message: &str) -> String {
    let work = WorkClone::new(&repo.file_url(), "master", None).expect("clone");
    let mut args = vec!["rm", "--quiet"];
    args.extend_from_slice(paths);
    work.git(&args).expect("git rm");
    work.commit(message).expect("commit");
    work.push().expect("push");
    work.head().expect("head").trim().to_owned()
}

async fn notify(fluxd: &Fluxd, url: &str) {
    client(fluxd)
        .notify(&Change::Git(GitUpdate {
            url: url.to_owned(),
            branch: "master".into(),
        }))
        .await
        .expect("notify");
}

async fn wait_synced(fluxd: &Fluxd, name: &str, revision: &str) {
    let source = fluxd.shared().source(name).expect("source").clone();
    fluxd
        .wait_for(&format!("{name} synced at {revision}"), PATIENCE, |_| {
            source.with_status(|s| s.synced.as_deref() == Some(revision))
        })
        .await
        .expect("synced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sources_with_overlapping_namespaces_keep_their_own_sets() {
    // apps writes to `apps` and `shared`; infra and team both to `shared`.
    let bed = TestBed::start(&[
        ("a1.yaml", &config_map("apps", "a1", "apps")),
        ("a-shared.yaml", &config_map("shared", "a-shared", "apps")),
    ])
    .await
    .expect("bed");
    for ns in ["apps", "shared"] {
        kubectl(&bed, &["create", "namespace", ns]);
    }
    let infra = BareRepo::create(bed.dir.path(), "infra.git").expect("infra");
    infra
        .commit_files(
            &[
                ("i1.yaml", &config_map("shared", "i1", "infra")),
                ("dup.yaml", &config_map("shared", "dup", "infra")),
            ],
            "infra",
        )
        .expect("commit");
    let team = BareRepo::create(bed.dir.path(), "team.git").expect("team");
    team.commit_files(&[("t1.yaml", &config_map("shared", "t1", "team"))], "team")
        .expect("commit");
    let infra_url = bed.sshd.url(infra.path());
    let team_url = bed.sshd.url(team.path());
    let yaml = format!(
        "sources:\n\
         - name: apps\n  url: {}\n  allowNamespaces: [apps, shared]\n  garbageCollection: true\n\
         - name: infra\n  url: {infra_url}\n  allowNamespaces: [shared]\n  garbageCollection: true\n\
         - name: team\n  url: {team_url}\n  allowNamespaces: [shared]\n  garbageCollection: true\n",
        bed.git_url
    );
    let fluxd = bed.start_with_sources(&yaml).await.expect("fluxd");
    let names: Vec<&str> = fluxd
        .shared()
        .sources
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["apps", "infra", "team"]);

    // Every source applied its own, with its own sync set and sync tag.
    for (ns, name, from) in [
        ("apps", "a1", "apps"),
        ("shared", "a-shared", "apps"),
        ("shared", "i1", "infra"),
        ("shared", "dup", "infra"),
        ("shared", "t1", "team"),
    ] {
        assert_eq!(
            from_of(&bed, ns, name).as_deref(),
            Some(from),
            "{ns}/{name}"
        );
    }
    let sets: Vec<String> = ["a1", "i1", "t1"]
        .iter()
        .zip(["apps", "shared", "shared"])
        .map(|(name, ns)| {
            kubectl(
                &bed,
                &[
                    "get",
                    "configmap",
                    name,
                    "-n",
                    ns,
                    "-o",
                    "jsonpath={.metadata.labels.fluxcd\\.io/sync-gc-mark}",
                ],
            )
        })
        .collect();
    assert!(
        sets[0] != sets[1] && sets[1] != sets[2] && sets[0] != sets[2],
        "each source marks with its own sync set: {sets:?}"
    );
    for (repo, name) in [(&bed.repo, "apps"), (&infra, "infra"), (&team, "team")] {
        let head = repo.head("master").expect("head").expect("a commit");
        wait_synced(&fluxd, name, &head).await;
        assert_eq!(
            repo.git(&["rev-parse", "flux-sync^{commit}"])
                .expect("tag")
                .trim(),
            head,
            "{name}'s sync tag in its own repository"
        );
    }
    assert!(overlaps_of(&fluxd, "infra").is_empty());

    // team now defines dup too: both leave it as it is (infra's), and
    // both say so.
    let team_2 = team
        .commit_files(
            &[("dup.yaml", &config_map("shared", "dup", "team"))],
            "team takes dup",
        )
        .expect("commit");
    notify(&fluxd, &team_url).await;
    wait_synced(&fluxd, "team", &team_2).await;
    let dup: ResourceId = "shared:configmap/dup".parse().expect("id");
    fluxd
        .wait_for("both sources to report the overlap", PATIENCE, |_| {
            overlaps_of(&fluxd, "infra") == [(dup.to_string(), vec!["team".to_owned()])]
                && overlaps_of(&fluxd, "team") == [(dup.to_string(), vec!["infra".to_owned()])]
        })
        .await
        .expect("overlap reported");
    for name in ["infra", "team"] {
        let errors = fluxd
            .shared()
            .source(name)
            .expect("source")
            .with_status(|s| s.resource_errors.clone());
        assert!(
            errors.get(&dup).is_some_and(|e| e.contains("not applied")),
            "{name}: {errors:?}"
        );
    }
    let metrics = reqwest::get(format!("{}/metrics", fluxd.root_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    for name in ["infra", "team"] {
        let line = format!("flux_daemon_source_overlaps{{source=\"{name}\"}} 1");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert_eq!(from_of(&bed, "shared", "dup").as_deref(), Some("infra"));

    // infra drops i1: its GC deletes i1 and nothing of the others in the
    // same namespace, and leaves dup (still defined there).
    let infra_3 = remove_files(&infra, &["i1.yaml"], "drop i1");
    notify(&fluxd, &infra_url).await;
    wait_synced(&fluxd, "infra", &infra_3).await;
    wait_cm(&bed, "shared", "i1", None).await;
    for (ns, name, from) in [
        ("apps", "a1", "apps"),
        ("shared", "a-shared", "apps"),
        ("shared", "dup", "infra"),
        ("shared", "t1", "team"),
    ] {
        assert_eq!(
            from_of(&bed, ns, name).as_deref(),
            Some(from),
            "{ns}/{name}"
        );
    }

    // team drops dup and t1: t1 goes (team's GC), dup is infra's alone
    // again and stays; neither reports an overlap any more.
    let team_3 = remove_files(&team, &["dup.yaml", "t1.yaml"], "drop dup and t1");
    notify(&fluxd, &team_url).await;
    wait_synced(&fluxd, "team", &team_3).await;
    wait_cm(&bed, "shared", "t1", None).await;
    fluxd
        .wait_for("the overlap to clear", PATIENCE, |_| {
            overlaps_of(&fluxd, "infra").is_empty() && overlaps_of(&fluxd, "team").is_empty()
        })
        .await
        .expect("overlap cleared");
    assert_eq!(from_of(&bed, "shared", "dup").as_deref(), Some("infra"));
    assert_eq!(from_of(&bed, "shared", "a-shared").as_deref(), Some("apps"));
    assert_eq!(from_of(&bed, "apps", "a1").as_deref(), Some("apps"));
    fluxd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_both_define_from_the_start_is_applied_by_neither() {
    let bed = TestBed::start(&[("dup.yaml", &config_map("default", "dup", "one"))])
        .await
        .expect("bed");
    let other = BareRepo::create(bed.dir.path(), "other.git").expect("other");
    other
        .commit_files(
            &[
                ("dup.yaml", &config_map("default", "dup", "two")),
                ("mine.yaml", &config_map("default", "mine", "two")),
            ],
            "other",
        )
        .expect("commit");
    let yaml = format!(
        "sources:\n- name: one\n  url: {}\n- name: two\n  url: {}\n",
        bed.git_url,
        bed.sshd.url(other.path())
    );
    let config = bed.sources_flag(&yaml).expect("write");
    let fluxd = bed
        .start_fluxd("fluxd", &[&config, "--sync-interval=1h"])
        .await
        .expect("fluxd");
    assert_eq!(from_of(&bed, "default", "mine").as_deref(), Some("two"));
    assert_eq!(
        from_of(&bed, "default", "dup"),
        None,
        "neither source applied the resource both define"
    );
    assert_eq!(overlaps_of(&fluxd, "one").len(), 1);
    assert_eq!(overlaps_of(&fluxd, "two").len(), 1);
    fluxd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_wait_for_a_permit_shared_by_the_sources() {
    let bed = TestBed::start(&[("one.yaml", &config_map("default", "one", "v1"))])
        .await
        .expect("bed");
    let other = BareRepo::create(bed.dir.path(), "other.git").expect("other");
    other
        .commit_files(&[("two.yaml", &config_map("default", "two", "v1"))], "two")
        .expect("commit");
    let other_url = bed.sshd.url(other.path());
    let yaml = format!(
        "sources:\n- name: one\n  url: {}\n- name: two\n  url: {other_url}\n",
        bed.git_url
    );
    let fluxd = bed.start_with_sources(&yaml).await.expect("fluxd");
    wait_cm(&bed, "default", "one", Some("v1")).await;
    wait_cm(&bed, "default", "two", Some("v1")).await;

    // Every permit held here: source two fetches its new commit but does
    // not sync it.
    let permits = std::thread::available_parallelism().map_or(2, usize::from);
    let slots = &fluxd.shared().sync_slots;
    let held = slots
        .acquire_many(u32::try_from(permits).expect("permits"))
        .await
        .expect("permits");
    assert_eq!(slots.available_permits(), 0, "one permit per core");
    let commit = other
        .commit_files(&[("two.yaml", &config_map("default", "two", "v2"))], "v2")
        .expect("commit");
    notify(&fluxd, &other_url).await;
    let two = fluxd.shared().source("two").expect("two").clone();
    fluxd
        .wait_for("two fetched v2", PATIENCE, |_| {
            two.repo.head().as_deref() == Some(commit.trim())
        })
        .await
        .expect("fetched");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(from_of(&bed, "default", "two").as_deref(), Some("v1"));

    // Given back, the waiting sync runs.
    drop(held);
    wait_cm(&bed, "default", "two", Some("v2")).await;
    wait_synced(&fluxd, "two", commit.trim()).await;
    fluxd.stop().await;
}
