//! Fetching: the mirror follows the remote branch, its tags and notes.
//!
//! gix does the fetch (its network API is blocking, so it runs on a blocking
//! thread). The refspecs are explicit: the configured branch, all tags and
//! the notes ref, force-updated, exactly as the remote has them. A missing
//! branch is an error naming it; a sync tag or notes ref deleted on the
//! remote is deleted locally, so a stale high-water mark is never trusted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::ObjectId;
use gix::remote::Direction;

use crate::error::{BoxError, Error};
use crate::repo::{Refreshed, Repo, RepoState, mirror_error};
use crate::scrub::{Scrubbed, scrub_text};

/// Packs in the mirror at which `git gc --auto` is run.
pub const PACK_LIMIT: usize = 20;

impl Repo {
    /// Fetches the branch and tags, and reports the head and whether it
    /// moved since the previous successful fetch. Bounded by `--git-timeout`.
    pub async fn refresh(&self) -> Result<Refreshed, Error> {
        let result = self.fetch().await;
        let refreshed = self.record_fetch(result)?;
        self.inner.heads.send_replace(Some(refreshed.clone()));
        Ok(refreshed)
    }

    fn record_fetch(&self, result: Result<ObjectId, Error>) -> Result<Refreshed, Error> {
        let mut state = self.lock_state();
        match result {
            Ok(head) => {
                let head = head.to_string();
                let previous = state.head.replace(head.clone());
                if state.state == RepoState::New {
                    state.state =
                        if self.inner.config.readonly || self.inner.write_checked.get().is_some() {
                            RepoState::Ready
                        } else {
                            RepoState::Cloned
                        };
                }
                state.error = None;
                Ok(Refreshed {
                    moved: previous.as_deref() != Some(head.as_str()),
                    head,
                    previous,
                })
            }
            Err(e) => {
                state.error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Each fetch that brings something adds a pack to the mirror, and our
    /// commits add loose objects; lookups slow down as they pile up. When
    /// there are [`PACK_LIMIT`] packs, `git gc --auto` repacks (what `git
    /// fetch` would have done for Flux v1). Failures are logged, not fatal.
    async fn maintain(&self) {
        let pack_dir = self.inner.dir.join("objects/pack");
        let packs = std::fs::read_dir(&pack_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                    .count()
            })
            .unwrap_or(0);
        if packs < PACK_LIMIT {
            return;
        }
        let _guard = self.inner.fetch_lock.lock().await;
        let mut git = self.git();
        git.timeout = git.timeout.max(std::time::Duration::from_secs(300));
        let argv = crate::command::GitArgs::new([
            "-c".to_owned(),
            format!("gc.autoPackLimit={PACK_LIMIT}"),
            "-c".into(),
            "gc.autoDetach=false".into(),
            "gc".into(),
            "--auto".into(),
            "--quiet".into(),
        ]);
        match git.run(&argv, None, &[], "repack the mirror of").await {
            Ok(_) => tracing::debug!(packs, "repacked the git mirror"),
            Err(e) => tracing::warn!(error = %e, "could not repack the git mirror"),
        }
    }

    /// Fetches (without touching the status) and returns the branch head;
    /// then repacks if packs have piled up.
    pub(crate) async fn fetch(&self) -> Result<ObjectId, Error> {
        let head = self.fetch_only().await?;
        self.maintain().await;
        Ok(head)
    }

    async fn fetch_only(&self) -> Result<ObjectId, Error> {
        let guard = Arc::clone(&self.inner.fetch_lock).lock_owned().await;
        let interrupt = Arc::new(AtomicBool::new(false));
        let this = self.clone();
        let flag = Arc::clone(&interrupt);
        let task = tokio::task::spawn_blocking(move || {
            // The lock is held until the blocking fetch really ends, even if
            // the caller has given up waiting for it.
            let _guard = guard;
            this.fetch_blocking(&flag)
        });
        match tokio::time::timeout(self.inner.config.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::Fetch {
                url: self.url(),
                source: Box::new(join),
            }),
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(Error::Timeout {
                    operation: "fetch from",
                    url: self.url(),
                    after: self.inner.config.timeout,
                })
            }
        }
    }

    fn fetch_blocking(&self, interrupt: &AtomicBool) -> Result<ObjectId, Error> {
        let log = self.inner.ssh.fetch_log();
        // Fetches are serialised, so one log file is enough; start it empty.
        std::fs::write(&log, b"").map_err(|e| Error::io(&log, e))?;
        let result = self.fetch_with_gix(interrupt);
        match result {
            Err(Error::Fetch { url, source }) => {
                // gix can echo the URL, password and all.
                let secrets = self.inner.config.remote.secrets();
                let source = Scrubbed::new(&*source, &secrets);
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let said = scrub_text(said.trim(), &secrets);
                // gix's top-level message is often only "Transport handshake
                // failed"; what went wrong (a certificate, a refused
                // connection) is at the bottom of the chain, or in ssh's log.
                let detail = if said.is_empty() {
                    // On one line, as ssh's is (gix's can span several).
                    root_cause(&source).map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
                } else {
                    Some(format!(
                        "ssh: {}",
                        said.replace('\n', " ").replace('\r', "")
                    ))
                };
                let source: BoxError = Box::new(source);
                Err(Error::Fetch {
                    url,
                    source: match detail {
                        Some(detail) => Box::new(Detailed { detail, source }),
                        None => source,
                    },
                })
            }
            other => other,
        }
    }

    fn fetch_with_gix(&self, interrupt: &AtomicBool) -> Result<ObjectId, Error> {
        let config = &self.inner.config;
        let mut repo = self.gix();
        let branch_ref = config.branch_ref();
        let notes_ref = self.notes_ref();
        let fetch_error = |e: BoxError| Error::Fetch {
            url: self.url(),
            source: e,
        };
        {
            let mut snapshot = repo.config_snapshot_mut();
            snapshot
                .set_value(
                    &gix::config::tree::Core::SSH_COMMAND,
                    self.inner.ssh.fetch_command().as_str(),
                )
                .map_err(|e| fetch_error(e.into()))?;
            snapshot.commit().map_err(|e| fetch_error(e.into()))?;
        }
        let url = gix::url::parse(config.remote.secret_url().as_bytes())
            .map_err(|e| fetch_error(e.into()))?;
        let remote = repo
            .remote_at(url)
            .and_then(|r| {
                r.with_fetch_tags(gix::remote::fetch::Tags::None)
                    .with_refspecs(
                        [
                            format!("+{branch_ref}:{branch_ref}").as_str(),
                            "+refs/tags/*:refs/tags/*",
                            format!("+{notes_ref}:{notes_ref}").as_str(),
                        ],
                        Direction::Fetch,
                    )
            })
            .map_err(|e| fetch_error(e.into()))?;
        let prepare = remote
            .connect(Direction::Fetch)
            .and_then(|c| c.prepare_fetch(gix::progress::Discard, Default::default()))
            .map_err(|e| fetch_error(e.into()))?;
        let advertised: std::collections::HashSet<String> = prepare
            .ref_map()
            .remote_refs
            .iter()
            .map(|r| r.unpack().0.to_string())
            .collect();
        if !advertised.contains(&branch_ref) {
            return Err(Error::BranchNotFound {
                branch: config.branch.clone(),
                url: self.url(),
            });
        }
        prepare
            .receive(gix::progress::Discard, interrupt)
            .map_err(|e| fetch_error(e.into()))?;
        // A sync tag or notes ref deleted on the remote is deleted here too.
        for name in [config.sync_tag_ref(), notes_ref] {
            if !advertised.contains(&name) {
                self.delete_local_ref(&repo, &name)?;
            }
        }
        let head = repo
            .find_reference(branch_ref.as_str())
            .and_then(|mut r| r.peel_to_id().map(|id| id.detach()))
            .map_err(|e| mirror_error(&self.inner.dir, "reading the fetched branch", e))?;
        Ok(head)
    }

    pub(crate) fn delete_local_ref(&self, repo: &gix::Repository, name: &str) -> Result<(), Error> {
        use gix::refs::transaction::{Change, PreviousValue, RefEdit, RefLog};
        let Ok(Some(existing)) = repo.try_find_reference(name) else {
            return Ok(());
        };
        repo.edit_reference(RefEdit {
            change: Change::Delete {
                expected: PreviousValue::Any,
                log: RefLog::AndReference,
            },
            name: existing.name().to_owned(),
            deref: false,
        })
        .map(|_| ())
        .map_err(|e| mirror_error(&self.inner.dir, &format!("deleting {name}"), e))
    }
}

/// A fetch error with what explains it: what ssh logged (host key
/// mismatch, refused key…) or the innermost cause.
#[derive(Debug)]
struct Detailed {
    detail: String,
    source: BoxError,
}

impl std::fmt::Display for Detailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.source, self.detail)
    }
}

impl std::error::Error for Detailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The message of the innermost error under `error`, when it says
/// something `error` itself does not.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    let (top, root) = (error.to_string(), last.to_string());
    (!top.contains(&root)).then_some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn the_root_cause_is_added_only_when_it_says_more() {
        let deep = Layer(
            "Transport handshake failed",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "invalid peer certificate: UnknownIssuer",
                    None,
                ))),
            ))),
        );
        assert_eq!(
            root_cause(&deep).as_deref(),
            Some("invalid peer certificate: UnknownIssuer")
        );
        let shown = Detailed {
            detail: root_cause(&deep).unwrap_or_default(),
            source: Box::new(deep),
        };
        assert_eq!(
            shown.to_string(),
            "Transport handshake failed (invalid peer certificate: UnknownIssuer)"
        );
        assert_eq!(root_cause(&Layer("alone", None)), None);
        let repeated = Layer("connect: refused", Some(Box::new(Layer("refused", None))));
        assert_eq!(root_cause(&repeated), None);
    }
}
