//! `fluxctl install`: the objects of the repository's `deploy/` kustomize
//! base, with the command's flags applied, as YAML.
//!
//! The base's files are compiled in, so what `install` prints is what
//! `kubectl kustomize deploy/` renders from the same checkout, changed the
//! way an overlay would change it:
//! - `--namespace`: every namespaced object moves there, the Namespace is
//!   renamed and the bindings' `flux` service account follows (kustomize's
//!   `namespace:`);
//! - the git flags replace fluxd's `--git-*` arguments, and
//!   `--manifest-generation` and `--registry-disable-scanning` are added
//!   when given (Flux v1's `install` template set the same arguments);
//! - `--add-security-context=false` drops the pod's and the container's
//!   `securityContext`.
//!
//! Objects come out in the base's order (kustomize's), one document each,
//! keys sorted; with `--output-dir`, one file per file of the base.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::request::Install;

/// The base's files, in its kustomization's `resources` order.
pub const BASE: &[(&str, &str)] = &[
    (
        "namespace.yaml",
        include_str!("../../../deploy/namespace.yaml"),
    ),
    (
        "service-account.yaml",
        include_str!("../../../deploy/service-account.yaml"),
    ),
    ("rbac.yaml", include_str!("../../../deploy/rbac.yaml")),
    (
        "known-hosts.yaml",
        include_str!("../../../deploy/known-hosts.yaml"),
    ),
    (
        "kubeconfig.yaml",
        include_str!("../../../deploy/kubeconfig.yaml"),
    ),
    ("secret.yaml", include_str!("../../../deploy/secret.yaml")),
    ("service.yaml", include_str!("../../../deploy/service.yaml")),
    (
        "deployment.yaml",
        include_str!("../../../deploy/deployment.yaml"),
    ),
];

/// The base's `kustomization.yaml` (to check [`BASE`] against it).
pub const KUSTOMIZATION: &str = include_str!("../../../deploy/kustomization.yaml");

/// The namespace the base puts everything in.
const BASE_NAMESPACE: &str = "flux";

/// fluxd's container in the base's Deployment.
const CONTAINER: &str = "flux";

/// `install` could not render or write the manifests.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A compiled-in file of the base is not what `install` expects (a
    /// build from a broken checkout).
    #[error("deploy/{file} (compiled into fluxctl): {message}")]
    Base {
        /// The base's file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `--output-dir` is not a directory.
    #[error("--output-dir {}: {message}", path.display())]
    OutputDir {
        /// The directory given.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One file of the base, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Its name in `deploy/`.
    pub file: &'static str,
    /// Its objects, with the flags applied.
    pub objects: Vec<Value>,
}

/// The base's objects with `install`'s flags applied, file by file.
pub fn render(install: &Install) -> Result<Vec<Rendered>, InstallError> {
    let mut out = Vec::with_capacity(BASE.len());
    for (file, text) in BASE {
        let base_error = |message: String| InstallError::Base {
            file: (*file).to_owned(),
            message,
        };
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|e| base_error(e.to_string()))?;
        let mut objects = Vec::with_capacity(docs.len());
        for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
            set_namespace(&mut doc, &install.namespace);
            if kind_of(&doc) == "Deployment" {
                configure_fluxd(&mut doc, install).map_err(base_error)?;
            }
            objects.push(doc);
        }
        out.push(Rendered { file, objects });
    }
    Ok(out)
}

/// The rendered objects as one YAML stream.
pub fn to_yaml(rendered: &[Rendered]) -> String {
    let docs: Vec<String> = rendered
        .iter()
        .flat_map(|r| r.objects.iter())
        .map(flux_core::generation::emit_document)
        .collect();
    join_documents(&docs)
}

fn join_documents(docs: &[String]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(d);
    }
    out
}

/// Runs `install`: prints the manifests, or writes them to
/// `--output-dir` (naming each file written on `err`, as Flux v1 did).
pub fn run(install: &Install, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let rendered = render(install)?;
    match &install.output_dir {
        None => out.write_all(to_yaml(&rendered).as_bytes())?,
        Some(dir) => write_files(dir, &rendered, err)?,
    }
    Ok(())
}

fn write_files(dir: &Path, rendered: &[Rendered], err: &mut dyn Write) -> Result<(), InstallError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(InstallError::OutputDir {
                path: dir.to_owned(),
                message: "not a directory".into(),
            });
        }
        Err(e) => {
            return Err(InstallError::OutputDir {
                path: dir.to_owned(),
                message: e.to_string(),
            });
        }
    }
    for r in rendered {
        let path = dir.join(r.file);
        let docs: Vec<String> = r
            .objects
            .iter()
            .map(flux_core::generation::emit_document)
            .collect();
        let _ = writeln!(err, "writing {}", path.display());
        std::fs::write(&path, join_documents(&docs))
            .map_err(|source| InstallError::Write { path, source })?;
    }
    Ok(())
}

fn kind_of(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// What kustomize's `namespace:` does to the base: namespaced objects move,
/// the Namespace is renamed, and bindings follow the service account.
fn set_namespace(doc: &mut Value, namespace: &str) {
    if kind_of(doc) == "Namespace" {
        if doc.pointer("/metadata/name").and_then(Value::as_str) == Some(BASE_NAMESPACE)
            && let Some(name) = doc.pointer_mut("/metadata/name")
        {
            *name = Value::String(namespace.to_owned());
        }
        return;
    }
    if let Some(ns) = doc.pointer_mut("/metadata/namespace") {
        *ns = Value::String(namespace.to_owned());
    }
    if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects {
            let is_sa = s.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
            if is_sa
                && s.get("namespace").and_then(Value::as_str) == Some(BASE_NAMESPACE)
                && let Some(ns) = s.get_mut("namespace")
            {
                *ns = Value::String(namespace.to_owned());
            }
        }
    }
}

/// fluxd's arguments from the flags, and the security context.
fn configure_fluxd(deployment: &mut Value, install: &Install) -> Result<(), String> {
    let pod = deployment
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut)
        .ok_or("the Deployment has no spec.template.spec")?;
    if !install.add_security_context {
        pod.remove("securityContext");
    }
    let container = pod
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .and_then(|cs| {
            cs.iter_mut()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(CONTAINER))
        })
        .and_then(Value::as_object_mut)
        .ok_or_else(|| format!("the Deployment has no container named {CONTAINER:?}"))?;
    if !install.add_security_context {
        container.remove("securityContext");
    }
    let args = container
        .get_mut("args")
        .and_then(Value::as_array_mut)
        .ok_or("fluxd's container has no args")?;
    args.retain(|a| !a.as_str().is_some_and(replaced));
    args.extend(fluxd_args(install).into_iter().map(Value::String));
    Ok(())
}

/// Arguments of the base that `install`'s flags decide.
fn replaced(arg: &str) -> bool {
    arg.starts_with("--git-")
        || arg.starts_with("--manifest-generation")
        || arg.starts_with("--registry-disable-scanning")
}

/// fluxd's arguments for `install`'s flags, in Flux v1's template's order.
pub fn fluxd_args(install: &Install) -> Vec<String> {
    let mut args = vec![
        format!("--git-url={}", install.git_url),
        format!("--git-branch={}", install.git_branch),
    ];
    if !install.git_paths.is_empty() {
        args.push(format!("--git-path={}", install.git_paths.join(",")));
    }
    if !install.git_label.is_empty() {
        args.push(format!("--git-label={}", install.git_label));
    }
    if !install.git_user.is_empty() {
        args.push(format!("--git-user={}", install.git_user));
    }
    args.push(format!("--git-email={}", install.git_email));
    if install.git_readonly {
        args.push("--git-readonly".into());
    }
    if install.manifest_generation {
        args.push("--manifest-generation=true".into());
    }
    if install.registry_disable_scanning {
        args.push("--registry-disable-scanning".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install() -> Install {
        Install {
            git_url: "git@example.com:org/config".into(),
            git_branch: "main".into(),
            git_paths: vec!["apps".into(), "infra".into()],
            git_label: "flux".into(),
            git_user: "Flux".into(),
            git_email: "flux@example.com".into(),
            git_readonly: false,
            manifest_generation: false,
            namespace: "gitops".into(),
            registry_disable_scanning: false,
            output_dir: None,
            add_security_context: true,
        }
    }

    #[test]
    fn base_files_are_the_kustomization_resources_in_order() {
        let k: Value = serde_saphyr::from_str(KUSTOMIZATION).expect("kustomization parses");
        let listed: Vec<&str> = k["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let compiled: Vec<&str> = BASE.iter().map(|(f, _)| *f).collect();
        assert_eq!(listed, compiled);
    }

    #[test]
    fn flags_become_fluxd_args() {
        type Change = Box<dyn Fn(&mut Install)>;
        let cases: Vec<(Change, Vec<&str>)> = vec![
            (
                Box::new(|_| {}),
                vec![
                    "--git-url=git@example.com:org/config",
                    "--git-branch=main",
                    "--git-path=apps,infra",
                    "--git-label=flux",
                    "--git-user=Flux",
                    "--git-email=flux@example.com",
                ],
            ),
            (
                Box::new(|i| {
                    i.git_paths.clear();
                    i.git_label.clear();
                    i.git_user.clear();
                    i.git_readonly = true;
                    i.manifest_generation = true;
                    i.registry_disable_scanning = true;
                }),
                vec![
                    "--git-url=git@example.com:org/config",
                    "--git-branch=main",
                    "--git-email=flux@example.com",
                    "--git-readonly",
                    "--manifest-generation=true",
                    "--registry-disable-scanning",
                ],
            ),
        ];
        for (change, want) in cases {
            let mut i = install();
            change(&mut i);
            assert_eq!(fluxd_args(&i), want);
        }
    }

    #[test]
    fn renders_every_base_object_moved_and_configured() {
        let rendered = render(&install()).expect("renders");
        let objects: Vec<&Value> = rendered.iter().flat_map(|r| &r.objects).collect();
        assert_eq!(objects.len(), 9, "{objects:#?}");
        for o in &objects {
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
            assert!(ns.is_none() || ns == Some("gitops"), "{o}: still in {ns:?}");
        }
        let namespace = objects
            .iter()
            .find(|o| kind_of(o) == "Namespace")
            .expect("a Namespace");
        assert_eq!(namespace["metadata"]["name"], "gitops");
        let binding = objects
            .iter()
            .find(|o| kind_of(o) == "ClusterRoleBinding")
            .expect("a binding");
        assert_eq!(binding["subjects"][0]["namespace"], "gitops");
        let deployment = objects
            .iter()
            .find(|o| kind_of(o) == "Deployment")
            .expect("a Deployment");
        let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(args.contains(&"--git-path=apps,infra"), "{args:?}");
        assert!(!args.contains(&"--git-label=flux-sync"), "{args:?}");
        assert!(
            args.contains(&"--state-dir=/var/lib/fluxd"),
            "non-git args are kept: {args:?}"
        );

        let mut bare = install();
        bare.add_security_context = false;
        let rendered = render(&bare).expect("renders");
        let text = to_yaml(&rendered);
        assert!(!text.contains("securityContext"), "{text}");
        assert!(to_yaml(&render(&install()).expect("renders")).contains("securityContext"));
    }

    #[test]
    fn output_dir_gets_one_file_per_base_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut i = install();
        i.output_dir = Some(dir.path().to_owned());
        let mut out = Vec::new();
        let mut err = Vec::new();
        run(&i, &mut out, &mut err).expect("runs");
        assert!(out.is_empty());
        for (file, _) in BASE {
            let text = std::fs::read_to_string(dir.path().join(file)).expect("written");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("yaml");
            assert!(!docs.is_empty(), "{file}");
            assert!(
                String::from_utf8_lossy(&err)
                    .contains(&format!("writing {}", dir.path().join(file).display())),
            );
        }

        let file = dir.path().join("namespace.yaml");
        i.output_dir = Some(file.clone());
        let e = run(&i, &mut out, &mut err).expect_err("a file is not a directory");
        assert_eq!(
            e.to_string(),
            format!("--output-dir {}: not a directory", file.display())
        );
    }
}
