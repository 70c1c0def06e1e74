//! `deploy/`: it loads with flux-core, kustomize renders it (the base and
//! the namespaced component), it applies cleanly to the emulator with
//! `kubectl apply --server-side`, `fluxctl install` prints the rendered base
//! with its flags applied, the Deployment mounts what fluxd's flags name,
//! and the namespaced RBAC allows every request fluxd makes when it runs
//! with exactly that much access.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, load_dir};
use flux_daemon::config::Config;
use flux_daemon::daemon::Daemon;
use flux_daemon::testing::TestBed;
use flux_ops::rbac::{Attributes, Authorizer};
use kube_emulator::access::{Access, AccessRule};
use serde_json::{Value, json};

use crate::util::*;

/// The namespaced component over the base.
const NAMESPACED: &str = "resources: [{deploy}]\ncomponents: [{deploy}/namespaced]\n";
/// The HA component over the base.
const HA: &str = "resources: [{deploy}]\ncomponents: [{deploy}/ha]\n";
/// Both components over the base.
const HA_NAMESPACED: &str =
    "resources: [{deploy}]\ncomponents: [{deploy}/namespaced, {deploy}/ha]\n";

fn by_key(objects: &[Value]) -> Vec<String> {
    objects.iter().map(key).collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", by_key(objects)))
}

#[test]
fn every_manifest_loads_with_flux_core() {
    let manifests = load_dir(
        &deploy_dir(),
        &["."],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("deploy/ does not load: {e}"));
    let ids: BTreeSet<String> = manifests
        .resources
        .keys()
        .map(|id| id.to_string())
        .collect();
    let want: BTreeSet<String> = [
        "<cluster>:namespace/flux",
        "<cluster>:namespace/apps",
        "flux:serviceaccount/flux",
        "<cluster>:clusterrole/flux",
        "<cluster>:clusterrolebinding/flux",
        "flux:configmap/flux-known-hosts",
        "flux:configmap/flux-kubeconfig",
        "flux:secret/flux-git-deploy",
        "flux:service/flux",
        "flux:deployment/flux",
        "apps:role/flux",
        "apps:rolebinding/flux",
        "flux:role/flux-git-deploy",
        "flux:rolebinding/flux-git-deploy",
        "<cluster>:clusterrole/flux-namespaces",
        "<cluster>:clusterrolebinding/flux-namespaces",
        "flux:role/flux-leases",
        "flux:rolebinding/flux-leases",
        "flux:poddisruptionbudget/flux",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(ids, want);
    // The three kustomization files are kustomize's, not objects.
    assert_eq!(manifests.skipped.len(), 3, "{:?}", manifests.skipped);
    assert!(manifests.unscoped.is_empty());
    let fluxd = &manifests.resources[&"flux:deployment/flux".parse().expect("id")];
    assert_eq!(fluxd.containers().expect("containers").len(), 1);
}

#[test]
fn kustomize_renders_the_base_as_its_files_say() {
    let rendered = kustomize(&deploy_dir());
    // Exactly the base's files' objects, in the order fluxctl install
    // prints them.
    let from_files: Vec<Value> = flux_cli::install::BASE
        .iter()
        .flat_map(|(file, _)| {
            documents(&std::fs::read_to_string(deploy_dir().join(file)).expect("read"))
        })
        .collect();
    assert_eq!(by_key(&rendered), by_key(&from_files));
    assert_eq!(rendered, from_files);
}

#[test]
fn kustomize_renders_the_namespaced_component() {
    let overlay = overlay(NAMESPACED);
    let rendered = kustomize(overlay.path());
    // The base's cluster-wide RBAC is gone; what is cluster-wide reads the
    // allowed Namespaces by name, nothing else.
    assert!(
        !rendered.iter().any(
            |o| o["kind"].as_str().is_some_and(|k| k.starts_with("Cluster"))
                && o["metadata"]["name"] == "flux"
        ),
        "{:?}",
        by_key(&rendered)
    );
    let cluster_role = find(&rendered, "ClusterRole", "flux-namespaces");
    assert_eq!(
        cluster_role["rules"],
        json!([{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["apps"], "verbs": ["get", "list", "watch"]}])
    );
    let secret_role = find(&rendered, "Role", "flux-git-deploy");
    assert_eq!(secret_role["metadata"]["namespace"], "flux");
    let verbs: BTreeSet<&str> = secret_role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .flat_map(|r| r["verbs"].as_array().expect("verbs"))
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(verbs, BTreeSet::from(["get", "patch", "create"]));
    let args = container_args(find(&rendered, "Deployment", "flux"));
    assert_eq!(
        args.last().map(String::as_str),
        Some("--k8s-allow-namespace=apps")
    );
}

#[test]
fn kustomize_renders_the_ha_component() {
    let rendered = kustomize(overlay(HA).path());
    let fluxd = find(&rendered, "Deployment", "flux");
    assert_eq!(fluxd["spec"]["replicas"], 3);
    assert_eq!(fluxd["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        container_args(fluxd).last().map(String::as_str),
        Some("--ha")
    );
    // The replica id fluxd takes by default: the pod's name.
    let env = &fluxd["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .expect("env")
            .iter()
            .any(|e| e["name"] == "POD_NAME"
                && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"),
        "{env}"
    );
    let role = find(&rendered, "Role", "flux-leases");
    assert_eq!(role["metadata"]["namespace"], "flux");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "create", "update"]}])
    );
    find(&rendered, "RoleBinding", "flux-leases");
    find(&rendered, "PodDisruptionBudget", "flux");
    // With the namespaced component too, both patches hold.
    let both = kustomize(overlay(HA_NAMESPACED).path());
    let args = container_args(find(&both, "Deployment", "flux"));
    assert!(args.contains(&"--ha".to_owned()), "{args:?}");
    assert!(
        args.contains(&"--k8s-allow-namespace=apps".to_owned()),
        "{args:?}"
    );
    find(&both, "Role", "flux-leases");
}

fn container_args(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_variants_apply_cleanly_with_server_side_apply() {
    for (what, rendered) in [
        ("base", kustomize_text(&deploy_dir())),
        ("namespaced", kustomize_text(overlay(NAMESPACED).path())),
        ("ha", kustomize_text(overlay(HA).path())),
        (
            "ha+namespaced",
            kustomize_text(overlay(HA_NAMESPACED).path()),
        ),
    ] {
        let server = kube_emulator::Emulator::new()
            .start()
            .await
            .expect("emulator");
        let kubectl = server.kubectl(None).expect("kubectl");
        let applied = kubectl.run_stdin(&["apply", "--server-side", "-f", "-"], &rendered);
        assert!(applied.ok, "{what}: {applied:?}");
        assert!(
            applied.stderr.trim().is_empty(),
            "{what}: kubectl warned: {}",
            applied.stderr
        );
        let objects = documents(&rendered);
        assert_eq!(
            applied.stdout.lines().count(),
            objects.len(),
            "{what}: {}",
            applied.stdout
        );
        for o in &objects {
            let kind = o["kind"].as_str().unwrap_or_default().to_lowercase();
            let tail = format!(
                "/{} serverside-applied",
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            assert!(
                applied
                    .stdout
                    .lines()
                    .any(|l| l.starts_with(&kind) && l.ends_with(&tail)),
                "{what}: {kind}{tail} not in {}",
                applied.stdout
            );
        }
        // Applying again changes nothing.
        let before = kubectl.run(&[
            "get",
            "all,cm,secret,sa,role,rolebinding,clusterrole,clusterrolebinding,pdb",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.resourceVersion} {end}",
        ]);
        let again = kubectl.run_stdin(&["apply", "--server-side", "-f", "-"], &rendered);
        assert!(again.ok, "{what}: {again:?}");
        let after = kubectl.run(&[
            "get",
            "all,cm,secret,sa,role,rolebinding,clusterrole,clusterrolebinding,pdb",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.resourceVersion} {end}",
        ]);
        assert!(before.ok && !before.stdout.is_empty(), "{before:?}");
        assert_eq!(before.stdout, after.stdout, "{what}: a second apply wrote");
    }
}

/// An overlay of the base applying `install`'s flags the kustomize way.
fn install_overlay(namespace: &str, args: &[&str], no_security_context: bool) -> tempfile::TempDir {
    let mut ops = vec![json!({
        "op": "replace",
        "path": "/spec/template/spec/containers/0/args",
        "value": args,
    })];
    if no_security_context {
        ops.push(json!({"op": "remove", "path": "/spec/template/spec/securityContext"}));
        ops.push(
            json!({"op": "remove", "path": "/spec/template/spec/containers/0/securityContext"}),
        );
    }
    let patch = serde_json::to_string(&ops).expect("json");
    overlay(&format!(
        "resources: [{{deploy}}]\nnamespace: {namespace}\npatches:\n  - target: {{kind: Deployment, name: flux}}\n    patch: '{}'\n",
        patch.replace('\'', "''")
    ))
}

const BASE_ARGS: [&str; 4] = [
    "--listen-metrics=:3031",
    "--state-dir=/var/lib/fluxd",
    "--ssh-keygen-dir=/var/fluxd/keygen",
    "--ssh-known-hosts=/etc/fluxd/known_hosts/known_hosts",
];

#[test]
fn fluxctl_install_prints_the_rendered_base_with_its_flags_applied() {
    let cases: Vec<(Vec<&str>, &str, Vec<&str>, bool)> = vec![
        (
            vec![
                "--git-url=ssh://git@git.example.com/org/config",
                "--git-branch=main",
                "--git-path=apps,infra",
                "--git-email=ops@example.com",
                "--namespace=gitops",
            ],
            "gitops",
            vec![
                "--git-url=ssh://git@git.example.com/org/config",
                "--git-branch=main",
                "--git-path=apps,infra",
                "--git-label=flux",
                "--git-user=Flux",
                "--git-email=ops@example.com",
            ],
            false,
        ),
        (
            vec![
                "--git-url=git@github.com:org/config",
                "--git-email=ops@example.com",
                "--git-label=prod",
                "--git-user=Flux in prod",
                "--git-readonly",
                "--manifest-generation",
                "--registry-disable-scanning",
                "--add-security-context=false",
                "--namespace=flux",
            ],
            "flux",
            vec![
                "--git-url=git@github.com:org/config",
                "--git-branch=master",
                "--git-label=prod",
                "--git-user=Flux in prod",
                "--git-email=ops@example.com",
                "--git-readonly",
                "--manifest-generation=true",
                "--registry-disable-scanning",
            ],
            true,
        ),
        // No --namespace and no kubeconfig: `default`, as Flux v1's install.
        (
            vec![
                "--git-url=git@github.com:org/config",
                "--git-email=ops@example.com",
            ],
            "default",
            vec![
                "--git-url=git@github.com:org/config",
                "--git-branch=master",
                "--git-label=flux",
                "--git-user=Flux",
                "--git-email=ops@example.com",
            ],
            false,
        ),
    ];
    for (flags, namespace, git_args, no_security_context) in cases {
        let mut args = vec!["install"];
        args.extend(&flags);
        let run = fluxctl(&args);
        assert_eq!(
            run.exit,
            flux_cli::error::Exit::Success,
            "{flags:?}: {}",
            run.stderr
        );
        let printed = documents(&run.stdout);
        let mut all_args: Vec<&str> = BASE_ARGS.to_vec();
        all_args.extend(&git_args);
        let overlay = install_overlay(namespace, &all_args, no_security_context);
        let rendered = kustomize(overlay.path());
        assert_eq!(by_key(&printed), by_key(&rendered), "{flags:?}");
        for (p, r) in printed.iter().zip(&rendered) {
            assert_eq!(p, r, "{flags:?}: {} differs", key(p));
        }
    }
}

#[test]
fn fluxctl_install_refuses_what_flux_v1_refused() {
    let run = fluxctl(&["install", "--git-email=ops@example.com"]);
    assert_eq!(run.exit, flux_cli::error::Exit::Usage, "{}", run.stdout);
    assert!(run.stderr.contains("--git-url"), "{}", run.stderr);
    let run = fluxctl(&["install", "--git-url=git@github.com:org/config"]);
    assert_eq!(run.exit, flux_cli::error::Exit::Usage);
    assert!(run.stderr.contains("--git-email"), "{}", run.stderr);
}

/// The container's volume mounts, by volume name.
fn mount_of<'a>(deployment: &'a Value, volume: &str) -> &'a str {
    deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("no mount of {volume}"))
}

#[test]
fn the_deployment_mounts_what_fluxd_reads() {
    let base = kustomize(&deploy_dir());
    let deployment = find(&base, "Deployment", "flux");
    let args = container_args(deployment);
    // fluxd accepts its arguments as they are.
    let mut argv = vec!["fluxd".to_owned()];
    argv.extend(args.iter().cloned());
    let config = Config::from_args(&argv).unwrap_or_else(|e| panic!("fluxd refuses {args:?}: {e}"));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")))
            .unwrap_or_else(|| panic!("no --{name}"))
            .to_owned()
    };
    // The deploy key Secret where fluxd reads it.
    assert_eq!(
        Path::new(mount_of(deployment, "git-key")),
        config.k8s.secret_mount_path
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    assert_eq!(
        volume("git-key")["secret"]["secretName"],
        config.k8s.secret_name
    );
    // Readable by the group fsGroup gives (0440).
    assert_eq!(volume("git-key")["secret"]["defaultMode"], 0o440);
    // Writable state, keygen, HOME and /tmp.
    assert_eq!(mount_of(deployment, "state"), flag("state-dir"));
    assert_eq!(mount_of(deployment, "keygen"), flag("ssh-keygen-dir"));
    assert_eq!(volume("keygen")["emptyDir"]["medium"], "Memory");
    for v in ["state", "keygen", "home", "tmp"] {
        assert!(volume(v).get("emptyDir").is_some(), "{v}");
    }
    // known_hosts from the ConfigMap.
    let known_hosts = flag("ssh-known-hosts");
    let (dir, file) = known_hosts.rsplit_once('/').expect("a path");
    assert_eq!(mount_of(deployment, "known-hosts"), dir);
    let cm = find(&base, "ConfigMap", "flux-known-hosts");
    assert!(cm["data"][file].is_string(), "{cm}");
    assert_eq!(
        volume("known-hosts")["configMap"]["name"],
        "flux-known-hosts"
    );
    // The kubeconfig from its ConfigMap, through KUBECONFIG.
    let env = pod["containers"][0]["env"].as_array().expect("env");
    let kubeconfig = env
        .iter()
        .find(|e| e["name"] == "KUBECONFIG")
        .and_then(|e| e["value"].as_str())
        .expect("KUBECONFIG");
    let (dir, file) = kubeconfig.rsplit_once('/').expect("a path");
    assert_eq!(mount_of(deployment, "kubeconfig"), dir);
    let cm = find(&base, "ConfigMap", "flux-kubeconfig");
    let text = cm["data"][file].as_str().expect("the kubeconfig");
    let kc = kube::config::Kubeconfig::from_yaml(text).expect("kube-rs reads it");
    let current = kc.current_context.as_deref().expect("a current context");
    let context = kc
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .expect("the current context");
    assert_eq!(
        context.namespace.as_deref(),
        Some("default"),
        "Flux v1's default namespace"
    );
    let user = kc
        .auth_infos
        .iter()
        .find(|a| Some(a.name.as_str()) == context.user.as_deref())
        .and_then(|a| a.auth_info.as_ref())
        .expect("the user");
    assert_eq!(
        user.token_file.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/token")
    );
    // fluxd finds its namespace (for the Secret) from POD_NAMESPACE.
    let pod_ns = env
        .iter()
        .find(|e| e["name"] == "POD_NAMESPACE")
        .expect("POD_NAMESPACE");
    assert_eq!(
        pod_ns["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    // Probes on fluxd's health paths, on the API port.
    let c = &pod["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let port = |name: &str| {
        c["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no port {name}"))
    };
    assert_eq!(port("http"), u64::from(config.listen.port()));
    assert_eq!(
        Some(port("metrics")),
        config.listen_metrics.map(|a| u64::from(a.port()))
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "non-root");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    // fluxctl's port-forward finds the pod by its default label.
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"]["app"],
        "flux"
    );
    // The image is this version's.
    let image = c["image"].as_str().expect("image");
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "{image}"
    );
    // The Service reaches the API port.
    let service = find(&base, "Service", "flux");
    assert_eq!(service["spec"]["ports"][0]["port"], 3030);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

/// The identity the namespaced RBAC is for, as the emulator knows it.
const FLUX_TOKEN: &str = "flux-service-account-token";
const ADMIN_TOKEN: &str = "admin-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_rbac_allows_every_request_fluxd_makes_with_that_access() {
    let kinds = requests_within_rbac(NAMESPACED, &[]).await;
    assert!(!kinds.contains("leases"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_ha_rbac_allows_every_request_fluxd_ha_makes() {
    let kinds = requests_within_rbac(
        HA_NAMESPACED,
        &[
            "--ha",
            "--ha-replica-id=flux-0",
            "--ha-renew-interval=500ms",
        ],
    )
    .await;
    assert!(kinds.contains("leases"), "{kinds:?}");
}

/// Runs fluxd (with `extra` flags) against an emulator where its token
/// reaches only `apps` and `flux`, as `overlay`'s bindings allow; checks it
/// syncs, collects and stores its key and high-water mark, and that the
/// overlay's RBAC allows every request it made. Returns the resources it
/// wrote.
async fn requests_within_rbac(overlay_text: &str, extra: &[&str]) -> BTreeSet<String> {
    flux_daemon::testing::init_logs();
    let app = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  colour: blue\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";
    let bed = TestBed::start(&[("apps/web.yaml", app.as_slice())])
        .await
        .expect("bed");
    // An API server where fluxd's token reaches only `apps` and `flux`, as
    // the namespaced component's bindings allow.
    let server = kube_emulator::Emulator::new()
        .tls()
        .access(Access {
            admin_tokens: vec![ADMIN_TOKEN.into()],
            rules: vec![AccessRule {
                cluster_read: false,
                ..AccessRule::namespaces(
                    FLUX_TOKEN,
                    "system:serviceaccount:flux:flux",
                    &["apps", "flux"],
                )
            }],
            anonymous_admin: false,
        })
        .start()
        .await
        .expect("emulator");
    let admin = server.kubectl(Some(ADMIN_TOKEN)).expect("kubectl");
    let rendered = kustomize_text(overlay(overlay_text).path());
    let applied = admin.run_stdin(&["apply", "--server-side", "-f", "-"], &rendered);
    assert!(applied.ok, "{applied:?}");
    // No Secret yet: fluxd makes the deploy key and creates it.
    admin
        .run(&["delete", "secret", "flux-git-deploy", "-n", "flux"])
        .expect_ok("delete the secret");

    let kubeconfig = bed.path("flux-kubeconfig");
    std::fs::write(
        &kubeconfig,
        server
            .kubeconfig(Some(FLUX_TOKEN))
            .replace("namespace: default", "namespace: flux"),
    )
    .expect("kubeconfig");
    let empty_mount = bed.path("no-key-mounted");
    std::fs::create_dir_all(&empty_mount).expect("mkdir");
    let args = vec![
        "fluxd".to_owned(),
        format!("--git-url={}", bed.git_url),
        "--listen=127.0.0.1:0".to_owned(),
        format!("--kube-config={}", kubeconfig.display()),
        format!("--state-dir={}", bed.path("state").display()),
        format!("--k8s-secret-volume-mount-path={}", empty_mount.display()),
        format!(
            "--ssh-known-hosts={}",
            bed.sshd.known_hosts_file().expect("known hosts").display()
        ),
        "--k8s-allow-namespace=apps".to_owned(),
        "--k8s-default-namespace=apps".to_owned(),
        "--registry-disable-scanning".to_owned(),
        "--sync-garbage-collection".to_owned(),
        "--sync-state=secret".to_owned(),
        "--git-poll-interval=1s".to_owned(),
    ];
    let args: Vec<String> = args
        .into_iter()
        .chain(extra.iter().map(|a| (*a).to_owned()))
        .collect();
    let config = Config::from_args(&args).expect("flags");
    let parts = flux_daemon::connect::parts(&config).await.expect("parts");
    let daemon = Daemon::new(config, parts).await.expect("fluxd starts");
    let shared = daemon.shared().clone();
    let api = daemon.api_addr().expect("an API address");
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(daemon.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));

    // The generated key is in the Secret; the git host learns it.
    let public = shared.identity.as_ref().expect("an identity").public_key();
    let stored = admin.run(&[
        "get",
        "secret",
        "flux-git-deploy",
        "-n",
        "flux",
        "-o",
        "jsonpath={.data.identity}",
    ]);
    assert!(stored.ok && !stored.stdout.is_empty(), "{stored:?}");
    bed.sshd.authorize(&public).expect("authorize");

    wait(Duration::from_secs(60), "fluxd ready", || shared.is_ready()).await;
    let synced = || {
        shared
            .default_source()
            .and_then(|s| s.with_status(|st| st.synced.clone()))
    };
    wait(Duration::from_secs(60), "the high-water mark", || {
        synced().is_some()
    })
    .await;
    let cm = admin.run(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "apps",
        "-o",
        "jsonpath={.data.colour}",
    ]);
    assert_eq!(cm.stdout, "blue", "{cm:?}");
    let hwm = admin.run(&[
        "get",
        "secret",
        "flux-git-deploy",
        "-n",
        "flux",
        "-o",
        "jsonpath={.metadata.annotations.flux\\.weave\\.works/sync-hwm}",
    ]);
    assert_eq!(Some(hwm.stdout.clone()), synced(), "{hwm:?}");
    // Garbage collection within the namespace works too.
    bed.commit(&[("apps/web.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  colour: green\n".as_slice())], "Only settings").expect("commit");
    let head = bed.repo.head("master").expect("head").expect("a commit");
    wait(Duration::from_secs(60), "the new commit synced", || {
        synced().as_deref() == Some(head.as_str())
    })
    .await;
    let gone = admin.run(&["get", "deployment", "web", "-n", "apps"]);
    assert!(
        !gone.ok,
        "the Deployment left git and was collected: {gone:?}"
    );

    // Health and readiness, where the Deployment's probes ask.
    for path in ["/healthz", "/readyz"] {
        let status = reqwest::get(format!("http://{api}{path}"))
            .await
            .expect("GET")
            .status();
        assert!(status.is_success(), "{path}: {status}");
    }
    let _ = stop.send(true);
    let _ = task.await;

    // Every request fluxd sent, held against the component's RBAC.
    let rbac = Authorizer::for_service_account(&documents(&rendered), "flux", "flux")
        .expect("rbac")
        .with_default_discovery();
    let log: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.token.as_deref() == Some(FLUX_TOKEN))
        .collect();
    assert!(log.len() > 10, "{log:?}");
    let mut secret_verbs = BTreeSet::new();
    let mut refused_reads = 0;
    let mut written = BTreeSet::new();
    for r in &log {
        let a = Attributes::from_request(&r.verb, &r.path, &r.query);
        if r.is_write() {
            written.insert(a.resource.clone());
        }
        let allowed = rbac.allows(&a);
        if r.status == 403 {
            // The emulator refused it, and so would the RBAC: only reads of
            // cluster-scoped kinds, which fluxd skips when refused.
            assert!(!allowed, "RBAC allows what the emulator refused: {r:?}");
            assert!(
                matches!(r.verb.as_str(), "list" | "watch") && a.namespace.is_none(),
                "fluxd needed a refused request: {r:?}"
            );
            refused_reads += 1;
        } else {
            assert!(
                allowed,
                "the namespaced RBAC would refuse: {} {} ({})",
                r.verb, r.path, r.status
            );
        }
        if a.resource == "secrets" && a.namespace.as_deref() == Some("flux") {
            assert_eq!(
                a.name.as_deref().unwrap_or("flux-git-deploy"),
                "flux-git-deploy",
                "{r:?}"
            );
            secret_verbs.insert(r.verb.clone());
        }
    }
    assert!(
        refused_reads > 0,
        "cluster-scoped kinds were listed and refused"
    );
    // Exactly what the Secret's Role grants, and all of it.
    assert_eq!(
        secret_verbs,
        ["create", "get", "patch"]
            .into_iter()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
    );
    written
}

async fn wait(timeout: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
