//! The environment fluxctl reads: variables, the kubeconfig's namespace and
//! git's user, behind one value so tests can set them without touching the
//! process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What fluxctl reads from outside its flags.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// git's user, as `Name <email>`; `None` when git has none (or was not
    /// asked, in tests).
    pub git_user: Option<String>,
}

impl Env {
    /// The process's environment, and git's configured user.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
            git_user: git_user(),
        }
    }

    /// An environment with just these variables and no git user.
    pub fn with_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Env {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            git_user: None,
        }
    }

    /// A variable's value, if set and not empty (Flux v1 ignored empty
    /// ones too).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The kubeconfig files: `KUBECONFIG`'s list, else `~/.kube/config`.
    pub fn kubeconfig_paths(&self) -> Vec<PathBuf> {
        match self.var("KUBECONFIG") {
            Some(list) => std::env::split_paths(list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            None => self
                .var("HOME")
                .map(|h| vec![Path::new(h).join(".kube").join("config")])
                .unwrap_or_default(),
        }
    }
}

/// git's `user.name` and `user.email` as Flux v1 recorded them:
/// `Name <email>`, or whichever one is set.
fn git_user() -> Option<String> {
    let get = |key: &str| -> Option<String> {
        let out = std::process::Command::new("git")
            .args(["config", "--get", key])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let v = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !v.is_empty()).then_some(v)
    };
    match (get("user.name"), get("user.email")) {
        (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
        (Some(n), None) => Some(n),
        (None, Some(e)) => Some(e),
        (None, None) => None,
    }
}

/// The namespace of a kubeconfig context (the current one if `context` is
/// `None`), read from the first of `paths` that names it.
pub fn context_namespace(paths: &[PathBuf], context: Option<&str>) -> Option<String> {
    let mut current: Option<String> = context.map(str::to_owned);
    let mut configs = Vec::new();
    for p in paths {
        if let Ok(k) = kube::config::Kubeconfig::read_from(p) {
            if current.is_none() {
                current = k.current_context.clone().filter(|c| !c.is_empty());
            }
            configs.push(k);
        }
    }
    let name = current?;
    configs
        .iter()
        .flat_map(|k| k.contexts.iter())
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .filter(|ns| !ns.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_variables_count_as_unset() {
        let env = Env::with_vars([("FLUX_URL", ""), ("FLUX_TIMEOUT", "5s")]);
        assert_eq!(env.var("FLUX_URL"), None);
        assert_eq!(env.var("FLUX_TIMEOUT"), Some("5s"));
    }

    #[test]
    fn namespace_of_the_current_or_named_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, namespace: team-a}\n- name: b\n  context: {cluster: c}\nclusters: []\nusers: []\n",
        )
        .expect("write");
        let paths = vec![path];
        assert_eq!(context_namespace(&paths, None).as_deref(), Some("team-a"));
        assert_eq!(context_namespace(&paths, Some("b")), None);
        assert_eq!(context_namespace(&paths, Some("missing")), None);
        assert_eq!(context_namespace(&[dir.path().join("none")], None), None);
    }
}
