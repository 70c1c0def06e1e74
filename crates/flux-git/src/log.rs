//! Listing commits between two revisions (for sync status and events).

use gix::ObjectId;

use crate::config::Person;
use crate::error::Error;
use crate::read::TreeReader;
use crate::repo::{Repo, mirror_error};

/// One commit of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Its id.
    pub revision: String,
    /// The first line of its message.
    pub summary: String,
    /// Its author.
    pub author: Person,
}

impl Repo {
    /// The commits reachable from `to` but not from `from` (all of `to`'s
    /// history when `from` is `None`), newest first like `git log`. With
    /// `first_parent`, only the first-parent chain; with `paths`, only
    /// commits that change something under one of them (a merge only when
    /// it differs from every parent there, as `git log -- paths` shows).
    pub async fn commits_between(
        &self,
        from: Option<&str>,
        to: &str,
        first_parent: bool,
        paths: &[String],
    ) -> Result<Vec<Commit>, Error> {
        let this = self.clone();
        let (from, to, paths) = (from.map(str::to_owned), to.to_owned(), paths.to_vec());
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let to = this.resolve_commit(&repo, &to)?;
            let from = from.map(|f| this.resolve_commit(&repo, &f)).transpose()?;
            this.list(&repo, from, to, first_parent, &paths)
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "listing commits", e))?
    }

    fn list(
        &self,
        repo: &gix::Repository,
        from: Option<ObjectId>,
        to: ObjectId,
        first_parent: bool,
        paths: &[String],
    ) -> Result<Vec<Commit>, Error> {
        let dir = &self.inner.dir;
        let broken = |e: gix::Error| mirror_error(dir, "walking history", e);
        let mut walk = repo.rev_walk([to]).with_hidden(from).sorting(
            gix::revision::walk::Sorting::ByCommitTime(Default::default()),
        );
        if first_parent {
            walk = walk.first_parent_only();
        }
        let paths: Vec<&String> = paths.iter().filter(|p| !p.is_empty()).collect();
        let mut out = Vec::new();
        for info in walk.all().map_err(broken)? {
            let info = info.map_err(broken)?;
            let commit = repo.find_commit(info.id).map_err(broken)?;
            if !paths.is_empty() {
                let tree = commit.tree_id().map_err(broken)?.detach();
                let parents: Vec<ObjectId> = if first_parent {
                    commit.parent_ids().take(1).map(|p| p.detach()).collect()
                } else {
                    commit.parent_ids().map(|p| p.detach()).collect()
                };
                if !self.touches(repo, tree, &parents, &paths)? {
                    continue;
                }
            }
            let decoded = commit.decode().map_err(broken)?;
            let author = decoded.author().map_err(broken)?;
            out.push(Commit {
                revision: info.id.to_string(),
                summary: decoded.message_summary().to_string(),
                author: Person {
                    name: author.name.to_string(),
                    email: author.email.to_string(),
                },
            });
        }
        Ok(out)
    }

    /// Whether a commit with `tree` differs from every parent under `paths`.
    fn touches(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
        parents: &[ObjectId],
        paths: &[&String],
    ) -> Result<bool, Error> {
        let dir = &self.inner.dir;
        let mut ours = TreeReader::new(repo, tree, dir);
        let here: Vec<Option<ObjectId>> = paths
            .iter()
            .map(|p| ours.id_at(p))
            .collect::<Result<_, _>>()?;
        if parents.is_empty() {
            return Ok(here.iter().any(Option::is_some));
        }
        for parent in parents {
            let ptree = repo
                .find_commit(*parent)
                .and_then(|c| c.tree_id().map(|id| id.detach()))
                .map_err(|e| mirror_error(dir, "walking history", e))?;
            let mut theirs = TreeReader::new(repo, ptree, dir);
            let mut same = true;
            for (p, h) in paths.iter().zip(&here) {
                if theirs.id_at(p)? != *h {
                    same = false;
                    break;
                }
            }
            if same {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
