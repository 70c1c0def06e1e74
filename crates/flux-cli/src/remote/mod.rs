//! Commands answered by fluxd over its HTTP API (flux-api's client), at
//! `--url` or through a port-forward to the fluxd pod ([`forward`]).
//!
//! Write commands send Flux v1's update spec to `update-manifests`, wait
//! for the job, print its results, then wait for fluxd to apply the commit
//! it pushed, all within `--timeout` ([`wait`]).

mod convert;
pub mod forward;
pub mod menu;
mod raw;
mod save;
pub mod wait;

use std::io::Write;
use std::time::Duration;

use flux_api::client::{self, Client, ClientOptions, Token};
use flux_api::git::GitRepoStatus;
use flux_api::update::{self, Cause, ReleaseImageSpec, Spec, Update};
use flux_api::v10::ListImagesOptions;
use flux_api::v11::ListServicesOptions;
use flux_core::release::{ReleaseKind, ReleaseSpec};
use tokio::time::Instant;

use self::wait::{JobFailed, Progress, short};
use crate::error::{Exit, Failure};
use crate::format;
use crate::request::{Connection, Invocation, PolicyChange, Release, Request, Results};

/// A flux-api error with the exit code its cause means.
pub fn api_error(e: client::Error) -> anyhow::Error {
    let exit = match &e {
        client::Error::Unreachable { .. } => Exit::Unreachable,
        client::Error::Timeout { .. } => Exit::Timeout,
        _ => Exit::Failed,
    };
    // Keep the root cause (e.g. "connection refused"), which reqwest
    // leaves out of its own message.
    let message = crate::error::render(&anyhow::Error::new(e));
    anyhow::Error::new(Failure { exit, message })
}

/// Runs `inv` against fluxd.
pub fn run(
    conn: &Connection,
    inv: &Invocation,
    out: &mut dyn Write,
    err: &mut dyn Write,
    terminal: bool,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (url, forward) = match &conn.url {
            Some(u) => (u.clone(), None),
            None => {
                let f = forward::start(conn).await?;
                (f.url(), Some(f))
            }
        };
        let client = Client::new(
            &url,
            ClientOptions {
                token: conn.token.clone().map(Token::ScopeProbe),
                timeout: inv.timeout.max(Duration::from_secs(1)),
                source: conn.source.clone(),
            },
        )
        .map_err(api_error)?;
        let remote = Remote {
            client,
            deadline: Instant::now() + inv.timeout,
            progress: Progress::new(terminal),
        };
        let result = remote.dispatch(&inv.request, out, err).await;
        remote.progress.finish();
        match (result, &forward) {
            (Err(e), Some(f)) => Err(f.explain(e)),
            (result, _) => result,
        }
    })
}

/// Runs the menu on stdin: a terminal is put in raw mode (keys arrive as
/// typed) and the menu redrawn in place; anything else is read as it comes.
fn choose(menu: &mut menu::Menu, out: &mut dyn Write) -> anyhow::Result<menu::Choice> {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let _raw = if terminal {
        Some(raw::Raw::enter()?)
    } else {
        None
    };
    let mut input = stdin.lock();
    Ok(menu::run(menu, &mut input, out, terminal)?)
}

struct Remote {
    client: Client,
    deadline: Instant,
    progress: Progress,
}

impl Remote {
    async fn dispatch(
        &self,
        request: &Request,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        match request {
            Request::ListWorkloads {
                namespace,
                container,
                table,
            } => {
                let list = self
                    .client
                    .list_services(namespace.as_deref().unwrap_or(""))
                    .await
                    .map_err(api_error)?;
                let mut list: Vec<_> = list
                    .iter()
                    .map(convert::workload)
                    .filter(|w| {
                        container
                            .as_deref()
                            .is_none_or(|c| w.containers.iter().any(|x| x.name == c))
                    })
                    .collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                format::workloads(out, &list, *table, true)
            }
            Request::ListImages {
                namespace,
                workload,
                limit,
                table,
                ..
            } => {
                let options = match workload {
                    Some(id) => ListImagesOptions::workload(id.clone()),
                    None => ListImagesOptions {
                        namespace: namespace.clone(),
                        ..ListImagesOptions::default()
                    },
                };
                let list = self
                    .client
                    .list_images_with_options(&options)
                    .await
                    .map_err(api_error)?;
                let mut list: Vec<_> = list.iter().map(convert::images).collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                format::images(out, &list, *table, *limit)
            }
            Request::ListSources { table } => {
                let list = self.client.list_sources().await.map_err(api_error)?;
                format::sources(out, &list, *table)
            }
            Request::Release(r) => self.release(r, out, err).await,
            Request::Policy(p) => self.policy(p, out, err).await,
            Request::Sync(_) => self.sync(err).await,
            Request::Identity {
                regenerate,
                fingerprint,
                visual,
            } => {
                let config = self
                    .client
                    .git_repo_config(*regenerate)
                    .await
                    .map_err(api_error)?;
                let key = &config.public_ssh_key;
                if *fingerprint {
                    let md5 = key.fingerprints.get("md5").ok_or_else(|| {
                        anyhow::anyhow!("fluxd sent no md5 fingerprint of its key")
                    })?;
                    writeln!(out, "{}", md5.hash)?;
                    if *visual {
                        write!(out, "{}", md5.randomart)?;
                    }
                } else {
                    write!(out, "{}", key.key)?;
                    if !key.key.ends_with('\n') {
                        writeln!(out)?;
                    }
                }
                Ok(())
            }
            Request::Save { dir } => {
                let bytes = self.client.export().await.map_err(api_error)?;
                save::save(&bytes, dir.as_deref(), out, err)
            }
            Request::ListManifests { .. }
            | Request::Install(_)
            | Request::Version
            | Request::Completion(_) => {
                unreachable!("refused or run before connecting")
            }
        }
    }

    fn cause(c: &crate::request::Cause) -> Cause {
        Cause {
            message: c.message.clone().unwrap_or_default(),
            user: c.user.clone().unwrap_or_default(),
        }
    }

    async fn release(
        &self,
        r: &Release,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let core = ReleaseSpec {
            workloads: r.workloads.clone(),
            image: r.image.clone(),
            kind: r.kind,
            excludes: r.excludes.clone(),
            force: r.force,
        };
        let spec = Spec::new(
            Self::cause(&r.cause),
            Update::Image(ReleaseImageSpec::from(&core)),
        );
        if r.interactive {
            return self.release_interactive(r, spec, out, err).await;
        }
        writeln!(
            err,
            "{}",
            if r.kind == ReleaseKind::Plan {
                "Submitting dry-run release ..."
            } else {
                "Submitting release ..."
            }
        )?;
        let affected = self
            .update(&spec, r.kind == ReleaseKind::Execute, r.results, out, err)
            .await?;
        if r.watch {
            self.watch(&affected, r.results.verbosity, out, err).await?;
        }
        Ok(())
    }

    /// `release --interactive`, as Flux v1 did it: the release planned
    /// (`spec` is a dry run), its updates offered in a [`menu`] read from
    /// stdin, and the chosen ones released as a `containers` update, each
    /// container required to still run the image the plan saw. Nothing
    /// to choose, or the menu left, ends without a release (exit 0).
    async fn release_interactive(
        &self,
        r: &Release,
        spec: Spec,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        writeln!(err, "Submitting dry-run release ...")?;
        let id = self
            .client
            .update_manifests(&spec)
            .await
            .map_err(api_error)?;
        let plan = wait::job(&self.client, &id, self.deadline, &self.progress, err).await?;
        self.progress.finish();
        let mut menu = menu::Menu::new(&plan.result, r.results.verbosity);
        if menu.selectable() == 0 {
            writeln!(err, "No changes found.")?;
            return Ok(());
        }
        let choice = tokio::task::block_in_place(|| choose(&mut menu, out))?;
        let chosen = match choice {
            menu::Choice::Release(chosen) if !chosen.is_empty() => chosen,
            menu::Choice::Release(_) => {
                writeln!(err, "Nothing selected.")?;
                return Ok(());
            }
            menu::Choice::Aborted => {
                writeln!(err, "Aborted.")?;
                return Ok(());
            }
        };
        writeln!(err, "Submitting selected release ...")?;
        let selected = Spec::new(
            Self::cause(&r.cause),
            Update::Containers(update::ReleaseContainersSpec {
                kind: ReleaseKind::Execute,
                container_specs: chosen,
                skip_mismatches: false,
                force: r.force,
            }),
        );
        let affected = self.update(&selected, true, r.results, out, err).await?;
        if r.watch {
            self.watch(&affected, r.results.verbosity, out, err).await?;
        }
        Ok(())
    }

    async fn policy(
        &self,
        p: &PolicyChange,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let updates = update::PolicyUpdates::from([(
            p.workload.to_string(),
            flux_api::policy::PolicyUpdate::from(&p.update),
        )]);
        let spec = Spec::new(Self::cause(&p.cause), Update::Policy(updates));
        self.update(&spec, true, p.results, out, err).await?;
        Ok(())
    }

    /// Sends an update, waits for its job (printing its results) and, if
    /// `apply`, for its commit to be applied. Returns the workloads changed.
    async fn update(
        &self,
        spec: &Spec,
        apply: bool,
        results: Results,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<Vec<String>> {
        let id = self
            .client
            .update_manifests(spec)
            .await
            .map_err(api_error)?;
        let result = match wait::job(&self.client, &id, self.deadline, &self.progress, err).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(failed) = e.downcast_ref::<JobFailed>() {
                    let outcomes = convert::outcomes(&failed.result.result);
                    if !outcomes.is_empty() {
                        format::outcomes(out, &outcomes, results)?;
                    }
                }
                return Err(e);
            }
        };
        self.progress.finish();
        let outcomes = convert::outcomes(&result.result);
        if !outcomes.is_empty() {
            format::outcomes(out, &outcomes, results)?;
        }
        if let Some(e) = result.result.error() {
            return Err(anyhow::anyhow!("{e}"));
        }
        if result.revision.is_empty() {
            writeln!(err, "Nothing to do")?;
            return Ok(Vec::new());
        }
        writeln!(err, "Commit pushed:\t{}", short(&result.revision))?;
        if apply {
            if wait::sync(
                &self.client,
                &result.revision,
                self.deadline,
                &self.progress,
                err,
            )
            .await?
            {
                self.progress.finish();
                writeln!(err, "Commit applied:\t{}", short(&result.revision))?;
            } else {
                self.progress.finish();
                writeln!(
                    err,
                    "The commit was pushed, but it was not applied within --timeout; this need not be a problem. Run 'fluxctl sync' to wait for it."
                )?;
            }
        }
        Ok(result
            .result
            .affected()
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    async fn sync(&self, err: &mut dyn Write) -> anyhow::Result<()> {
        let config = self
            .client
            .git_repo_config(false)
            .await
            .map_err(api_error)?;
        let url = &config.remote.url;
        match config.status {
            GitRepoStatus::Ready => {}
            GitRepoStatus::Unconfigured => anyhow::bail!("fluxd has no git repository configured"),
            GitRepoStatus::Unreachable => anyhow::bail!(
                "fluxd cannot reach its git repository {url}: {}",
                config.error
            ),
            _ if !config.error.is_empty() => anyhow::bail!(
                "the git repository {url} is not ready to sync: {}",
                config.error
            ),
            _ => anyhow::bail!("the git repository {url} is not ready to sync yet"),
        }
        writeln!(err, "Synchronizing with {url}")?;
        let id = self
            .client
            .update_manifests(&Spec::sync())
            .await
            .map_err(api_error)?;
        let result = wait::job(&self.client, &id, self.deadline, &self.progress, err).await?;
        self.progress.finish();
        if result.revision.is_empty() {
            anyhow::bail!("the sync job {id} finished without a revision");
        }
        let rev = short(&result.revision);
        writeln!(
            err,
            "Revision of {} to apply is {rev}",
            config.remote.branch
        )?;
        if !wait::sync(
            &self.client,
            &result.revision,
            self.deadline,
            &self.progress,
            err,
        )
        .await?
        {
            self.progress.finish();
            return Err(crate::error::timeout(format!(
                "timed out waiting for {rev} to be applied; fluxd may still apply it"
            )));
        }
        self.progress.finish();
        writeln!(err, "Done.")?;
        Ok(())
    }

    /// `release --watch`: shows the rollout of the changed workloads until
    /// they are all ready, a rollout reports a problem, or time runs out.
    async fn watch(
        &self,
        ids: &[String],
        verbosity: u8,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        writeln!(err, "Monitoring rollout ...")?;
        let services = ids
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<_>, _>>()?;
        let options = ListServicesOptions {
            namespace: String::new(),
            services,
        };
        loop {
            let list = self
                .client
                .list_services_with_options(&options)
                .await
                .map_err(api_error)?;
            let mut ready = 0;
            let mut rows = vec![vec![
                "WORKLOAD".to_owned(),
                "CONTAINER".into(),
                "IMAGE".into(),
                "RELEASE".into(),
                "REPLICAS".into(),
            ]];
            for w in &list {
                let r = &w.rollout;
                let mut replicas = format!("{}/{}", r.updated, r.desired);
                if verbosity > 0 {
                    replicas += &format!(" ({} outdated, {} ready)", r.outdated, r.ready);
                }
                let (name, image) = w
                    .containers
                    .first()
                    .map(|c| (c.name.clone(), c.current.id.clone()))
                    .unwrap_or_default();
                rows.push(vec![w.id.clone(), name, image, w.status.clone(), replicas]);
                for c in w.containers.iter().skip(1) {
                    rows.push(vec![
                        String::new(),
                        c.name.clone(),
                        c.current.id.clone(),
                        String::new(),
                        String::new(),
                    ]);
                }
                if w.status == "ready" {
                    ready += 1;
                }
                if !r.messages.is_empty() {
                    format::write_table(out, &rows)?;
                    anyhow::bail!(
                        "there was a problem releasing {}: {}",
                        w.id,
                        r.messages.join("; ")
                    );
                }
            }
            format::write_table(out, &rows)?;
            writeln!(out)?;
            if ready == list.len() {
                writeln!(err, "All workloads ready.")?;
                return Ok(());
            }
            if Instant::now() + Duration::from_secs(2) > self.deadline {
                return Err(crate::error::timeout(
                    "timed out watching the rollout; it may still complete",
                ));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
