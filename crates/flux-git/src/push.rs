//! Pushing with the `git` program (gix cannot push yet), and telling a
//! push that lost a race (retry on the new head) from one that was refused
//! (give up and say why).

use crate::command::GitArgs;
use crate::error::Error;
use crate::repo::Repo;

/// What became of a pushed ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// The remote took it.
    Pushed,
    /// Someone else moved the ref first; fetch and try again.
    Overtaken(String),
    /// The remote refused it for good (hook, protection, permissions).
    Refused(String),
}

impl Repo {
    /// Pushes `src` (a commit or tag id, or a local ref; empty to delete) to
    /// `dst` on the remote. Only `force` (used for the sync tag, never for
    /// branches) allows a non-fast-forward.
    pub(crate) async fn push_ref(
        &self,
        src: &str,
        dst: &str,
        force: bool,
    ) -> Result<PushOutcome, Error> {
        let spec = format!("{}{src}:{dst}", if force { "+" } else { "" });
        self.push_specs(&[(spec, dst.to_owned())], false).await
    }

    /// Pushes several `(refspec, destination ref)` at once, all or nothing
    /// when `atomic`. The outcome is the worst of the refs': refused, then
    /// overtaken, then pushed.
    pub(crate) async fn push_specs(
        &self,
        specs: &[(String, String)],
        atomic: bool,
    ) -> Result<PushOutcome, Error> {
        let mut argv = vec![
            "push".to_owned(),
            "--porcelain".into(),
            "--no-verify".into(),
        ];
        if atomic {
            argv.push("--atomic".into());
        }
        let argv = GitArgs::new(argv)
            .operands([self.inner.config.remote.secret_url().to_owned()])
            .operands(specs.iter().map(|(spec, _)| spec.clone()));
        let git = self.git();
        let out = git.raw(&argv, None, &[], "push to").await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut outcome = PushOutcome::Pushed;
        let mut atomic_failed = false;
        for (_, dst) in specs {
            match porcelain_status(&stdout, dst) {
                Some(('!', summary)) if summary.contains("atomic push failed") => {
                    atomic_failed = true
                }
                Some(('!', summary)) => outcome = worse(outcome, classify(&git.scrub(&summary))),
                Some(_) => {}
                // No line for this ref: no connection, no access…
                None => return Err(git.failure(&argv, &out)),
            }
        }
        if outcome == PushOutcome::Pushed && atomic_failed {
            outcome = PushOutcome::Overtaken("[rejected] (atomic push failed)".into());
        }
        if outcome == PushOutcome::Pushed && !out.status.success() {
            return Err(git.failure(&argv, &out));
        }
        Ok(outcome)
    }
}

fn worse(a: PushOutcome, b: PushOutcome) -> PushOutcome {
    match (&a, &b) {
        (PushOutcome::Refused(_), _) => a,
        (_, PushOutcome::Refused(_)) => b,
        (PushOutcome::Overtaken(_), _) => a,
        _ => b,
    }
}

/// The flag and summary git reported for `dst` in `push --porcelain`
/// output (lines `<flag>\t<from>:<to>\t<summary>`).
fn porcelain_status(stdout: &str, dst: &str) -> Option<(char, String)> {
    stdout.lines().find_map(|line| {
        let mut parts = line.splitn(3, '\t');
        let flag = parts.next()?.chars().next()?;
        let refs = parts.next()?;
        let summary = parts.next().unwrap_or_default();
        let (_, to) = refs.rsplit_once(':')?;
        (to == dst).then(|| (flag, summary.to_owned()))
    })
}

fn classify(summary: &str) -> PushOutcome {
    let overtaken = [
        "(non-fast-forward)",
        "(fetch first)",
        "cannot lock ref",
        "failed to update ref",
        "incorrect old value",
    ];
    if overtaken.iter().any(|s| summary.contains(s)) {
        PushOutcome::Overtaken(summary.to_owned())
    } else {
        PushOutcome::Refused(summary.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_lines() {
        let out =
            "To ssh://host/repo\n!\t0123abcd:refs/heads/master\t[rejected] (fetch first)\nDone\n";
        assert_eq!(
            porcelain_status(out, "refs/heads/master"),
            Some(('!', "[rejected] (fetch first)".into()))
        );
        assert_eq!(porcelain_status(out, "refs/heads/main"), None);
        let ok = "To file:///r\n \t0123:refs/heads/master\t5555..0123\nDone\n";
        assert_eq!(
            porcelain_status(ok, "refs/heads/master").map(|s| s.0),
            Some(' ')
        );
        let tag = "To x\n+\tabc:refs/tags/flux-sync\tdef...abc (forced update)\nDone\n";
        assert_eq!(
            porcelain_status(tag, "refs/tags/flux-sync").map(|s| s.0),
            Some('+')
        );
    }

    #[test]
    fn the_worst_outcome_wins() {
        let (p, o, r) = (
            PushOutcome::Pushed,
            PushOutcome::Overtaken("o".into()),
            PushOutcome::Refused("r".into()),
        );
        assert_eq!(worse(p.clone(), o.clone()), o);
        assert_eq!(worse(o.clone(), r.clone()), r);
        assert_eq!(worse(r.clone(), p.clone()), r);
        assert_eq!(worse(p.clone(), p.clone()), p);
    }

    #[test]
    fn lost_races_are_retried_refusals_are_not() {
        for (summary, retry) in [
            ("[rejected] (non-fast-forward)", true),
            ("[rejected] (fetch first)", true),
            (
                "[remote rejected] (cannot lock ref 'refs/heads/master': is at 1 but expected 2)",
                true,
            ),
            ("[remote rejected] (failed to update ref)", true),
            ("[remote rejected] (pre-receive hook declined)", false),
            ("[remote rejected] (protected branch hook declined)", false),
            ("[rejected] (stale info)", false),
        ] {
            assert_eq!(
                matches!(classify(summary), PushOutcome::Overtaken(_)),
                retry,
                "{summary}"
            );
        }
    }
}
