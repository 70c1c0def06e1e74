//! `sync`, `identity` and `save` against fluxd: a sync applies someone
//! else's commit before fluxctl says done, and times out (exit 4) on one
//! fluxd cannot apply; the deploy key is the mounted one, its fingerprint
//! and randomart are ssh-keygen's, and a regenerated key really replaces
//! it (the remote refuses it until authorised); `save` writes what the
//! cluster runs, without what the cluster added.

use std::path::Path;

use flux_cli::error::Exit;

use super::*;

/// ssh-keygen's output for `args` and the public key at `key`.
fn ssh_keygen(args: &[&str], key: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .args(args)
        .arg("-f")
        .arg(key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The first two fields of a public key line (type and key, no comment).
fn key_of(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_identity_and_save() {
    let s = setup(Needs::default()).await;

    // sync: someone else's commit is applied before fluxctl says so.
    let theirs = s
        .bed
        .commit(
            &[(
                "demo/config.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\ndata:\n  level: debug\n",
            )],
            "Someone's settings",
        )
        .expect("commit");
    let run = s.fluxctl(&["sync"]).await;
    assert_eq!(run.ok(), "");
    let lines: Vec<&str> = run.err.lines().collect();
    let short = &theirs[..7];
    assert_eq!(lines.len(), 5, "{}", run.err);
    assert_eq!(lines[0], format!("Synchronizing with {}", s.bed.git_url));
    assert!(
        lines[1].starts_with("Waiting for job ") && lines[1].ends_with(" ..."),
        "{}",
        run.err
    );
    assert_eq!(lines[2], format!("Revision of master to apply is {short}"));
    assert_eq!(lines[3], format!("Waiting for {short} to be applied ..."));
    assert_eq!(lines[4], "Done.");
    assert_eq!(
        s.kubectl(&[
            "get",
            "configmap",
            "-n",
            "demo",
            "settings",
            "-o",
            "jsonpath={.data.level}"
        ]),
        "debug"
    );
    assert_eq!(s.fluxd.synced().as_deref(), Some(theirs.as_str()));

    // A commit fluxd cannot apply: fluxctl waits --timeout, then exit 4.
    s.bed
        .commit(
            &[(
                "demo/config.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
            )],
            "Broken",
        )
        .expect("commit");
    let run = s.fluxctl(&["--timeout", "4s", "sync"]).await;
    let err = run.fails(Exit::Timeout);
    assert!(err.contains("to be applied"), "{err}");
    assert_eq!(s.fluxd.synced().as_deref(), Some(theirs.as_str()));
    let fixed = s
        .bed
        .commit(
            &[(
                "demo/config.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\ndata:\n  level: info\n",
            )],
            "Fixed",
        )
        .expect("commit");
    s.fluxctl(&["sync"]).await.ok();
    assert_eq!(s.fluxd.synced().as_deref(), Some(fixed.as_str()));

    // identity: the mounted key, its MD5 fingerprint and randomart as
    // ssh-keygen prints them.
    let public = std::path::PathBuf::from(format!("{}.pub", s.bed.sshd.client_key().display()));
    let mounted = std::fs::read_to_string(&public).expect("public key");
    let run = s.fluxctl(&["identity"]).await;
    assert_eq!(key_of(run.ok()), key_of(&mounted));
    assert_eq!(run.out.lines().count(), 1, "{}", run.out);
    let keygen = ssh_keygen(&["-l", "-E", "md5"], &public);
    // Flux v1 printed the hash without ssh-keygen's "MD5:".
    let md5 = keygen
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.strip_prefix("MD5:"))
        .expect("fingerprint");
    assert_eq!(
        s.fluxctl(&["identity", "-l"]).await.ok(),
        format!("{md5}\n")
    );
    let visual = ssh_keygen(&["-lv", "-E", "md5"], &public);
    let art: String = visual.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        s.fluxctl(&["identity", "-v"]).await.ok(),
        format!("{md5}\n{art}")
    );

    // save: the workloads and namespaces as they run, without status or
    // server-set metadata.
    let run = s.fluxctl(&["save"]).await;
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(run.ok()).expect("YAML documents");
    let names: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap_or_default(),
                d["metadata"]["namespace"].as_str().unwrap_or_default(),
                d["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    for want in [
        "Namespace//demo",
        "Deployment/demo/web",
        "Deployment/demo/worker",
        "Deployment/default/tools",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let web = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "web")
        .expect("web");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/team/web:1.0"
    );
    assert_eq!(web["spec"]["replicas"], 2);
    for absent in [
        "uid",
        "resourceVersion",
        "managedFields",
        "creationTimestamp",
    ] {
        assert!(web["metadata"].get(absent).is_none(), "{absent}: {web}");
    }
    assert!(web.get("status").is_none(), "{web}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("UTF-8");
    let run = s.fluxctl(&["save", "-o", out]).await;
    run.ok();
    assert!(
        run.err.contains(&format!(
            "Saving Deployment 'web' to {out}/demo/web-dep.yaml\n"
        )),
        "{}",
        run.err
    );
    let saved = std::fs::read_to_string(dir.path().join("demo/web-dep.yaml")).expect("saved");
    let saved: serde_json::Value = serde_saphyr::from_str(&saved).expect("YAML");
    assert_eq!(&saved, web);
    assert!(dir.path().join("demo-ns.yaml").is_file());
    // --out must be a directory.
    let file = dir.path().join("demo-ns.yaml");
    let run = s
        .fluxctl(&["save", "-o", file.to_str().expect("UTF-8")])
        .await;
    let err = run.fails(Exit::Usage);
    assert!(err.contains("not a directory"), "{err}");

    // identity -r: a new key, which the remote refuses until it is
    // authorised (the sync job fails: exit 1).
    let run = s.fluxctl(&["identity", "-r"]).await;
    let new_key = key_of(run.ok());
    assert_ne!(new_key, key_of(&mounted));
    assert_eq!(key_of(s.fluxctl(&["identity"]).await.ok()), new_key);
    s.bed
        .commit(
            &[(
                "demo/later.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\n  namespace: demo\n",
            )],
            "Later",
        )
        .expect("commit");
    let run = s.fluxctl(&["sync"]).await;
    let err = run.fails(Exit::Failed);
    assert!(err.contains("failed"), "{err}");
    s.bed.sshd.authorize(&new_key).expect("authorize");
    s.fluxctl(&["sync"]).await.ok();
    s.kubectl(&["get", "configmap", "-n", "demo", "later"]);

    // fluxd gone: exit 3 for each.
    let url = s.fluxd.api_url();
    s.fluxd.stop().await;
    for args in [&["identity"][..], &["save"], &["sync"]] {
        let mut argv = vec!["--url", url.as_str()];
        argv.extend_from_slice(args);
        fluxctl_bin(&argv, &[]).await.fails(Exit::Unreachable);
    }
    // version is fluxctl's own, as in Flux v1: it asks fluxd nothing, so it
    // answers with fluxd gone; an argument is a usage error.
    let run = fluxctl_bin(&["--url", url.as_str(), "version"], &[]).await;
    assert_eq!(run.ok(), format!("{}\n", env!("CARGO_PKG_VERSION")));
    fluxctl_bin(&["--url", url.as_str(), "version", "1"], &[])
        .await
        .fails(Exit::Usage);
}
