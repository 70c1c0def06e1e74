//! The `.flux.yaml` file: its model and its strict reading.
//!
//! The format is Flux v1's (version 1):
//!
//! ```yaml
//! version: 1
//! patchUpdated:                 # or commandUpdated, or scanForFiles: {}
//!   generators:
//!   - command: kustomize build .
//!     timeout: 2m               # optional, a duration string
//!   patchFile: flux-patch.yaml  # patchUpdated only
//! ```
//!
//! `commandUpdated` takes `generators` and optional `updaters`, each a
//! mapping with optional `containerImage` and `policy` commands.
//!
//! Reading is stricter than Flux v1's JSON schema where v1 let a mistake
//! through: unknown keys are refused at every level (v1 let them through at
//! the top level and in updaters), a command must be non-empty, an updater
//! must have at least one of its commands, and the file must hold one
//! document. As in v1, `timeout` must be a string (`timeout: 5` is
//! refused) and a timeout under one second means the default.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::duration::parse_duration;
use super::keys::key_lines;
use crate::yaml;

/// A `.flux.yaml`, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Repo-relative path of the file.
    pub path: String,
    /// How manifests are produced and updated.
    pub mode: Mode,
}

/// The three kinds of `.flux.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Generators produce the manifests; updater commands change them.
    CommandUpdated(CommandUpdated),
    /// Generators produce the manifests; Flux keeps its changes in a patch
    /// file applied to their output.
    PatchUpdated(PatchUpdated),
    /// Plain YAML files, as without a `.flux.yaml` (resets one higher up).
    ScanForFiles,
}

/// `commandUpdated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandUpdated {
    /// Commands whose standard output is the manifests.
    pub generators: Vec<Command>,
    /// Commands that make releases and policy changes.
    pub updaters: Vec<Updater>,
}

/// `patchUpdated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchUpdated {
    /// Commands whose standard output is the manifests.
    pub generators: Vec<Command>,
    /// The patch file, relative to the directory the commands run in.
    pub patch_file: String,
}

/// One command, run with `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The shell command.
    pub command: String,
    /// Its `timeout`, if given.
    pub timeout: Option<Duration>,
}

impl Command {
    /// The time it may run: its `timeout` when that is at least a second
    /// (as Flux v1 decided), else `default` (fluxd's `--sync-timeout`).
    pub fn timeout_or(&self, default: Duration) -> Duration {
        match self.timeout {
            Some(t) if t >= Duration::from_secs(1) => t,
            _ => default,
        }
    }
}

/// One entry of `updaters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updater {
    /// Sets a container's image (`containerImage`).
    pub container_image: Option<Command>,
    /// Sets or removes a policy (`policy`).
    pub policy: Option<Command>,
}

impl Mode {
    /// The generators, for the two generating modes.
    pub fn generators(&self) -> &[Command] {
        match self {
            Mode::CommandUpdated(c) => &c.generators,
            Mode::PatchUpdated(p) => &p.generators,
            Mode::ScanForFiles => &[],
        }
    }
}

/// A `.flux.yaml` (or the search for one) is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid YAML.
    #[error("{file}:{line}:{column}: not valid YAML: {message}")]
    Yaml {
        /// Repo-relative path.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// The file does not follow the format.
    #[error("{}", display_invalid(file, *line, key.as_deref(), message))]
    Invalid {
        /// Repo-relative path.
        file: String,
        /// 1-based line of the key, when known.
        line: Option<usize>,
        /// The key, dotted from the top (`patchUpdated.generators[0].timeout`).
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

fn display_invalid(file: &str, line: Option<usize>, key: Option<&str>, message: &str) -> String {
    let mut s = file.to_owned();
    if let Some(line) = line {
        s.push_str(&format!(":{line}"));
    }
    if let Some(key) = key {
        s.push_str(&format!(": {key}"));
    }
    format!("{s}: {message}")
}

/// Reads a `.flux.yaml` at repo-relative `path`.
///
/// ```
/// use flux_core::generation::{Mode, parse_config};
/// let config = parse_config(".flux.yaml", b"version: 1\npatchUpdated:\n  generators:\n  - command: kustomize build .\n  patchFile: flux-patch.yaml\n").unwrap();
/// let Mode::PatchUpdated(p) = &config.mode else { panic!() };
/// assert_eq!(p.patch_file, "flux-patch.yaml");
///
/// let err = parse_config("envs/.flux.yaml", b"version: 1\ncommandUpdated:\n  generators: []\n  patchFile: x.yaml\n").unwrap_err();
/// assert_eq!(err.to_string(), "envs/.flux.yaml:4: commandUpdated.patchFile: unknown key; commandUpdated takes generators and updaters");
/// ```
pub fn parse_config(path: &str, bytes: &[u8]) -> Result<ConfigFile, ConfigError> {
    let reader = Reader {
        file: path,
        lines: HashMap::new(),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        reader.invalid(
            None,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let docs =
        yaml::parse_documents(text, yaml::Limits::default()).map_err(|e| ConfigError::Yaml {
            file: path.to_owned(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
    let mut docs = docs.into_iter().filter(|d| !d.value.is_null());
    let Some(doc) = docs.next() else {
        return Err(reader.invalid(
            None,
            "the file is empty; it needs version: 1 and one of commandUpdated, patchUpdated or scanForFiles",
        ));
    };
    if let Some(second) = docs.next() {
        return Err(ConfigError::Invalid {
            file: path.to_owned(),
            line: Some(second.line),
            key: None,
            message: "a second YAML document; .flux.yaml holds one".into(),
        });
    }
    let reader = Reader {
        lines: key_lines(text),
        ..reader
    };
    let mode = reader.top(&doc.value)?;
    Ok(ConfigFile {
        path: path.to_owned(),
        mode,
    })
}

/// Checks a parsed document, naming keys and lines in errors.
struct Reader<'a> {
    file: &'a str,
    lines: HashMap<String, usize>,
}

impl Reader<'_> {
    fn invalid(&self, key: Option<&str>, message: impl Into<String>) -> ConfigError {
        let line = key.and_then(|k| {
            // The key itself, or the nearest enclosing one that has a line.
            let mut k = k;
            loop {
                if let Some(l) = self.lines.get(k) {
                    return Some(*l);
                }
                k = &k[..k.rfind(['.', '['])?];
            }
        });
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The mapping at `key`, with only `allowed` keys.
    fn mapping<'v>(
        &self,
        value: &'v Value,
        key: &str,
        allowed: &[&str],
        what: &str,
    ) -> Result<&'v Map<String, Value>, ConfigError> {
        let Some(map) = value.as_object() else {
            return Err(self.invalid(
                (!key.is_empty()).then_some(key),
                format!("must be a mapping, not {}", describe(value)),
            ));
        };
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                let full = join(key, k);
                let message = if allowed.is_empty() {
                    format!("unknown key; {what}")
                } else {
                    format!("unknown key; {what} {}", list(allowed))
                };
                return Err(self.invalid(Some(&full), message));
            }
        }
        Ok(map)
    }

    fn top(&self, value: &Value) -> Result<Mode, ConfigError> {
        const MODES: [&str; 3] = ["commandUpdated", "patchUpdated", "scanForFiles"];
        let map = self.mapping(
            value,
            "",
            &["version", "commandUpdated", "patchUpdated", "scanForFiles"],
            "a .flux.yaml takes",
        )?;
        match map.get("version") {
            None => {
                return Err(self.invalid(Some("version"), "is missing; write version: 1"));
            }
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => {
                return Err(self.invalid(
                    Some("version"),
                    format!("must be 1 (the only version of .flux.yaml), not {v}"),
                ));
            }
        }
        let given: Vec<&str> = MODES
            .iter()
            .copied()
            .filter(|m| map.contains_key(*m))
            .collect();
        match given.as_slice() {
            [] => Err(self.invalid(
                None,
                "needs one of commandUpdated, patchUpdated or scanForFiles",
            )),
            ["commandUpdated"] => self.command_updated(&map["commandUpdated"]),
            ["patchUpdated"] => self.patch_updated(&map["patchUpdated"]),
            ["scanForFiles"] => {
                let v = &map["scanForFiles"];
                if !v.is_null() {
                    self.mapping(v, "scanForFiles", &[], "scanForFiles takes no keys")?;
                }
                Ok(Mode::ScanForFiles)
            }
            many => Err(self.invalid(
                Some(many[1]),
                format!("{} are given; give exactly one", list(many)),
            )),
        }
    }

    fn command_updated(&self, value: &Value) -> Result<Mode, ConfigError> {
        let key = "commandUpdated";
        let map = self.mapping(
            value,
            key,
            &["generators", "updaters"],
            "commandUpdated takes",
        )?;
        let generators = self.generators(map, key)?;
        let mut updaters = Vec::new();
        if let Some(list) = map.get("updaters") {
            let ukey = format!("{key}.updaters");
            let Some(items) = list.as_array() else {
                return Err(self.invalid(
                    Some(&ukey),
                    format!("must be a sequence of updaters, not {}", describe(list)),
                ));
            };
            for (i, item) in items.iter().enumerate() {
                let ikey = format!("{ukey}[{i}]");
                let m = self.mapping(
                    item,
                    &ikey,
                    &["containerImage", "policy"],
                    "an updater takes",
                )?;
                let container_image = m
                    .get("containerImage")
                    .map(|c| self.command(c, &format!("{ikey}.containerImage")))
                    .transpose()?;
                let policy = m
                    .get("policy")
                    .map(|c| self.command(c, &format!("{ikey}.policy")))
                    .transpose()?;
                if container_image.is_none() && policy.is_none() {
                    return Err(self.invalid(
                        Some(&ikey),
                        "an updater needs a containerImage or a policy command",
                    ));
                }
                updaters.push(Updater {
                    container_image,
                    policy,
                });
            }
        }
        Ok(Mode::CommandUpdated(CommandUpdated {
            generators,
            updaters,
        }))
    }

    fn patch_updated(&self, value: &Value) -> Result<Mode, ConfigError> {
        let key = "patchUpdated";
        let map = self.mapping(
            value,
            key,
            &["generators", "patchFile"],
            "patchUpdated takes",
        )?;
        let generators = self.generators(map, key)?;
        let pkey = format!("{key}.patchFile");
        let patch_file = match map.get("patchFile") {
            None => {
                return Err(self.invalid(
                    Some(key),
                    "patchFile is missing: name the file Flux keeps its changes in, e.g. patchFile: flux-patch.yaml",
                ));
            }
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(v) => {
                return Err(self.invalid(
                    Some(&pkey),
                    format!("must be a file path, not {}", describe(v)),
                ));
            }
        };
        if patch_file.starts_with('/') {
            return Err(self.invalid(
                Some(&pkey),
                "must be relative to the directory the generators run in, not absolute",
            ));
        }
        Ok(Mode::PatchUpdated(PatchUpdated {
            generators,
            patch_file,
        }))
    }

    fn generators(&self, map: &Map<String, Value>, key: &str) -> Result<Vec<Command>, ConfigError> {
        let gkey = format!("{key}.generators");
        let Some(list) = map.get("generators") else {
            return Err(self.invalid(
                Some(key),
                "generators is missing: list the commands that print the manifests",
            ));
        };
        let Some(items) = list.as_array() else {
            return Err(self.invalid(
                Some(&gkey),
                format!("must be a sequence of commands, not {}", describe(list)),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.command(item, &format!("{gkey}[{i}]")))
            .collect()
    }

    fn command(&self, value: &Value, key: &str) -> Result<Command, ConfigError> {
        let map = self.mapping(value, key, &["command", "timeout"], "a command takes")?;
        let ckey = format!("{key}.command");
        let command = match map.get("command") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(self.invalid(Some(&ckey), "is empty"));
            }
            Some(v) => {
                return Err(self.invalid(
                    Some(&ckey),
                    format!("must be a string (a shell command), not {}", describe(v)),
                ));
            }
            None => return Err(self.invalid(Some(key), "command is missing")),
        };
        let tkey = format!("{key}.timeout");
        let timeout = match map.get("timeout") {
            None => None,
            Some(Value::String(s)) => {
                Some(parse_duration(s).map_err(|m| self.invalid(Some(&tkey), m))?)
            }
            Some(v) => {
                return Err(self.invalid(
                    Some(&tkey),
                    format!(
                        "must be a duration string such as \"30s\" or \"2m\", not {}",
                        describe(v)
                    ),
                ));
            }
        };
        Ok(Command { command, timeout })
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn list(items: &[&str]) -> String {
    match items {
        [] => "nothing".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a sequence".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::CommandUpdated(_) => "commandUpdated",
            Mode::PatchUpdated(_) => "patchUpdated",
            Mode::ScanForFiles => "scanForFiles",
        })
    }
}

#[cfg(test)]
mod tests;
