//! Manifest generation of a 1,000-resource kustomize overlay (the real
//! kustomize, through flux-testbed's shim over `kubectl kustomize`), from a
//! commit of a git mirror, twice: a first generation (the tree written out,
//! kustomize run), and a generation of the same tree again, which must run
//! no command (its output is kept by tree id).
//!
//! Run with `cargo bench -p flux-benches --bench generate`. Each first
//! generation gets a new generator (an empty cache); the repeated ones share
//! one whose cache is warm, and the bench checks that no generator ran.
//!
//! Measured on a shared 2-core machine (load average 10-13): first
//! generation 7.70 s median (kustomize alone took 8-9 s there then), the
//! same tree again 35.7 ms median (1 generator run, 1 tree written, 292
//! cache hits).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use flux_core::ScopeTable;
use flux_core::manifest::LoadOptions;
use flux_generate::{Generator, Options, Source};
use flux_git::{GitConfig, GitFlags, Repo, SshOptions};
use flux_testbed::git::BareRepo;
use flux_testbed::kustomize::Kustomize;

const RESOURCES: usize = 1_000;

/// A kustomize base of `RESOURCES` resources and a production overlay.
fn repository() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut list = String::from("resources:\n");
    for i in 0..RESOURCES {
        let text = match i % 4 {
            0 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  annotations:\n    fluxcd.io/automated: \"true\"\nspec:\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/team/app-{i}:1.{}.3\n        ports:\n        - containerPort: 8080\n",
                i % 7
            ),
            1 => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector: {{app: app-{}}}\n",
                i - 1
            ),
            2 => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\ndata:\n  key: value {i}\n"
            ),
            _ => format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i}\n"),
        };
        files.push((format!("base/r-{i:04}.yaml"), text));
        list.push_str(&format!("- r-{i:04}.yaml\n"));
    }
    files.push(("base/kustomization.yaml".into(), list));
    files.push((
        "production/kustomization.yaml".into(),
        "namespace: production\nresources:\n- ../base\nlabels:\n- pairs: {environment: production}\n".into(),
    ));
    files.push((
        ".flux.yaml".into(),
        "version: 1\npatchUpdated:\n  generators:\n  - command: kustomize build .\n  patchFile: flux-patch.yaml\n".into(),
    ));
    files
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let root = tempfile::tempdir().expect("tempdir");
    let remote = BareRepo::create(root.path(), "config.git").expect("bare repo");
    let files = repository();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_bytes()))
        .collect();
    remote
        .commit_files(&borrowed, "1,000 resources")
        .expect("commit");
    let state = tempfile::tempdir().expect("tempdir");
    let config = GitConfig::from_flags(&GitFlags {
        url: remote.file_url(),
        ..GitFlags::default()
    })
    .expect("git config");
    let repo = Repo::new(config, &SshOptions::default(), &state.path().join("git")).expect("repo");
    let head = rt.block_on(repo.refresh()).expect("fetch").head;
    let kustomize = Kustomize::install().expect("kubectl kustomize");
    let paths = vec!["production".to_owned()];
    let (scopes, load) = (ScopeTable::builtin(), LoadOptions::default());
    let mut n = 0;
    let generator = |n: &mut usize| {
        *n += 1;
        let mut options = Options::new(state.path().join(format!("generate-{n}")));
        options.path = Some(kustomize.path_var());
        options.default_timeout = Duration::from_secs(120);
        Generator::new(options).expect("generator")
    };
    let generate = |g: &Generator| {
        let source = Source::Git {
            repo: &repo,
            revision: &head,
        };
        let generated = rt
            .block_on(g.view(source, &paths, &scopes, &load))
            .expect("generates");
        assert_eq!(generated.view.manifests.resources.len(), RESOURCES);
        generated
    };

    let mut group = c.benchmark_group("generate-kustomize-1000");
    group.sample_size(10);
    group.bench_function("first generation (tree written, kustomize run)", |b| {
        b.iter_with_large_drop(|| {
            let g = generator(&mut n);
            let out = generate(&g);
            assert_eq!(g.stats().generator_runs, 1);
            (out, g)
        })
    });
    let warm = generator(&mut n);
    generate(&warm);
    group.bench_function("same tree again (output reused, no command)", |b| {
        b.iter_with_large_drop(|| generate(&warm))
    });
    group.finish();
    let stats = warm.stats();
    assert_eq!(
        (stats.generator_runs, stats.trees_written),
        (1, 1),
        "repeated generations of an unchanged tree ran no command: {stats:?}"
    );
    println!("warm generator: {stats:?}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
