//! Running generators: output, environment, timeouts (the process group
//! killed), output and error-output bounds, failures.

use std::time::Duration;

use flux_generate::{Failure, GenerateError};

use crate::{Bed, ids, owned};

fn config(generators: &str) -> String {
    format!("version: 1\ncommandUpdated:\n  generators:\n{generators}")
}

/// A generator entry printing a ConfigMap named `name`.
fn cm(name: &str) -> String {
    format!(
        "  - command: \"printf 'apiVersion: v1\\\\nkind: ConfigMap\\\\nmetadata:\\\\n  name: {name}\\\\n'\"\n"
    )
}

#[tokio::test]
async fn each_generator_is_a_stream_of_its_own() {
    let generators = format!("{}{}", cm("one"), cm("two"));
    let bed = Bed::new(&owned(&[("app/.flux.yaml", &config(&generators))]));
    let g = bed.view(&["app"]).await.unwrap();
    assert_eq!(ids(&g), ["default:configmap/one", "default:configmap/two"]);
    let two = &g.view.manifests.resources[&"default:configmap/two".parse().unwrap()];
    assert_eq!(two.source().to_string(), "app/.flux.yaml#2:1");
    assert_eq!(bed.generator.stats().generator_runs, 2);
}

#[tokio::test]
async fn commands_see_path_and_nothing_else_of_fluxds_environment() {
    let generators = "  - command: >-\n      printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: env}\\ndata: {names: \"%s\", cwd: \"%s\"}\\n'\n      \"$(env | cut -d= -f1 | sort | tr '\\n' ' ')\" \"$(pwd)\"\n";
    let bed = Bed::new(&owned(&[
        ("app/.flux.yaml", &config(generators)),
        ("app/keep.txt", "x"),
    ]));
    let g = bed.view(&["app"]).await.unwrap();
    let object = g.view.manifests.resources[&"default:configmap/env".parse().unwrap()]
        .object()
        .to_value();
    let data = &object["data"];
    let names: Vec<&str> = data["names"].as_str().unwrap().split_whitespace().collect();
    // The shell adds PWD (and may add SHLVL and _); fluxd gives PATH only.
    let extra: Vec<&&str> = names
        .iter()
        .filter(|n| !["PATH", "PWD", "SHLVL", "_", "OLDPWD"].contains(n))
        .collect();
    assert!(extra.is_empty(), "{names:?}");
    assert!(names.contains(&"PATH"), "{names:?}");
    assert!(
        std::env::var_os("HOME").is_some(),
        "the test runs with HOME set, the command without"
    );
    let cwd = data["cwd"].as_str().unwrap();
    assert!(cwd.ends_with("/app"), "commands run in the git path: {cwd}");
}

/// The pid written by a generator that hangs with a child in the background.
fn hanging(pid_file: &std::path::Path, timeout: Option<&str>) -> String {
    let timeout = timeout
        .map(|t| format!("    timeout: {t}\n"))
        .unwrap_or_default();
    format!(
        "  - command: sleep 600 & echo $! > {} && wait\n{timeout}",
        pid_file.display()
    )
}

/// Whether a process is gone (or a zombie waiting for init).
async fn gone(pid: &str) -> bool {
    for _ in 0..100 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.split_whitespace().nth(2) == Some("Z") => return true,
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    false
}

#[tokio::test]
async fn a_hanging_generator_is_killed_with_its_children_at_its_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    let bed = Bed::new(&owned(&[(
        "app/.flux.yaml",
        &config(&hanging(&pid_file, Some("1s"))),
    )]));
    let e = bed.view(&["app"]).await.unwrap_err();
    let GenerateError::Generator {
        config,
        index,
        failure,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!((config.as_str(), *index), ("app/.flux.yaml", 1));
    assert!(
        matches!(**failure, Failure::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("did not finish within 1s and was killed"),
        "{e}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        gone(pid.trim()).await,
        "the background sleep {pid} was killed with the group"
    );
}

#[tokio::test]
async fn a_generation_given_up_by_its_caller_kills_the_group() {
    // fluxd's --sync-timeout cancels a whole sync: the generator's future
    // is dropped before its own (long) timeout.
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    let bed = Bed::new(&owned(&[(
        "app/.flux.yaml",
        &config(&hanging(&pid_file, Some("600s"))),
    )]));
    let mut view = Box::pin(bed.view(&["app"]));
    let pid = loop {
        tokio::select! {
            r = &mut view => panic!("the hanging generator finished: {}", r.is_ok()),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if let Ok(pid) = std::fs::read_to_string(&pid_file)
                    && pid.ends_with('\n')
                {
                    break pid;
                }
            }
        }
    };
    drop(view);
    assert!(
        gone(pid.trim()).await,
        "the background sleep {pid} was killed with the group when the caller gave up"
    );
}

#[tokio::test]
async fn without_its_own_timeout_a_generator_gets_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    let bed = Bed::with(
        &owned(&[("app/.flux.yaml", &config(&hanging(&pid_file, None)))]),
        |o| {
            o.default_timeout = Duration::from_secs(1);
        },
    );
    let e = bed.view(&["app"]).await.unwrap_err();
    assert!(e.to_string().contains("did not finish within 1s"), "{e}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(gone(pid.trim()).await);
}

#[tokio::test]
async fn output_is_bounded() {
    let generators = "  - command: head -c 5000 /dev/zero | tr '\\0' 'x'\n";
    let bed = Bed::with(&owned(&[(".flux.yaml", &config(generators))]), |o| {
        o.max_output = 1000
    });
    let e = bed.view(&["."]).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        ".flux.yaml: generator 1 (head -c 5000 /dev/zero | tr '\\0' 'x') printed more than 1000 bytes and was killed"
    );
}

#[tokio::test]
async fn a_failing_generator_reports_the_end_of_its_error_output() {
    let generators =
        "  - command: head -c 1000 /dev/zero | tr '\\0' 'x' >&2; echo ' the reason' >&2; exit 3\n";
    let bed = Bed::with(&owned(&[("app/.flux.yaml", &config(generators))]), |o| {
        o.max_error_output = 100
    });
    let e = bed.view(&["app"]).await.unwrap_err().to_string();
    assert!(e.starts_with("app/.flux.yaml: generator 1 ("), "{e}");
    assert!(
        e.contains("failed (exit status: 3): [912 bytes left out] xxx"),
        "{e}"
    );
    assert!(e.ends_with("xx the reason"), "{e}");
}

#[tokio::test]
async fn invalid_output_is_named_like_a_file() {
    let generators = format!(
        "{}  - command: \"printf 'apiVersion: v1\\\\nkind: [oops\\\\n'\"\n",
        cm("ok")
    );
    let bed = Bed::new(&owned(&[
        ("envs/.flux.yaml", &config(&generators)),
        ("envs/staging/x", ""),
    ]));
    let e = bed.view(&["envs/staging"]).await.unwrap_err().to_string();
    assert!(e.starts_with("envs/staging/../.flux.yaml#2:3:1: "), "{e}");
}

#[tokio::test]
async fn a_git_path_that_is_not_there_is_an_error() {
    let generators = cm("a");
    let bed = Bed::new(&owned(&[(".flux.yaml", &config(&generators))]));
    let e = bed.view(&["nowhere"]).await.unwrap_err().to_string();
    assert!(e.starts_with("nowhere/../.flux.yaml: generator 1"), "{e}");
    assert!(
        e.contains("cannot run in") && e.contains("it is not a directory"),
        "{e}"
    );
}
