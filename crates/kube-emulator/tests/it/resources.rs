//! CustomResourceDefinitions at run time.

use crate::Emu;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmreleases.helm.fluxcd.io
spec:
  group: helm.fluxcd.io
  names: {kind: HelmRelease, listKind: HelmReleaseList, plural: helmreleases, shortNames: [hr]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Release, type: string, jsonPath: .spec.releaseName}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              releaseName: {type: string}
              values: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

const HR: &str = r#"
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata: {name: podinfo, namespace: default}
spec:
  releaseName: podinfo-rel
  values:
    image: {repository: stefanprodan/podinfo, tag: 3.2.0}
"#;

#[test]
fn crd_then_custom_resource() {
    let emu = Emu::start();
    emu.apply(CRD, &[]).expect_ok("apply CRD");
    let crd = emu.get_json(&["crd", "helmreleases.helm.fluxcd.io"]);
    let established = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "{crd}");
    emu.apply(HR, &[]).expect_ok("apply HelmRelease");
    let table = emu.ok(&["get", "hr"]);
    assert!(
        table.contains("RELEASE") && table.contains("podinfo-rel"),
        "{table}"
    );
    let hr = emu.get_json(&["helmrelease", "podinfo"]);
    assert_eq!(hr["spec"]["values"]["image"]["tag"], "3.2.0");
    assert!(emu.ok(&["api-resources"]).contains("helmreleases"));
    // Deleting the CRD deletes its objects and its type.
    emu.ok(&["delete", "crd", "helmreleases.helm.fluxcd.io"]);
    let gone = emu.kubectl.run(&["get", "helmreleases.helm.fluxcd.io"]);
    assert!(!gone.ok, "{}", gone.stdout);
}

#[test]
fn unknown_fields_of_a_closed_schema_are_refused_or_pruned() {
    let emu = Emu::start();
    emu.apply(CRD, &[]).expect_ok("apply CRD");
    let typo = HR.replace("  releaseName:", "  relaseName: typo\n  releaseName:");
    let strict = emu.apply(&typo, &[]);
    assert!(!strict.ok);
    assert!(
        strict.stderr.contains("unknown field \"spec.relaseName\""),
        "{}",
        strict.stderr
    );
    // With validation off the field is pruned, as a real server does.
    emu.apply(&typo, &["--validate=false"])
        .expect_ok("apply without validation");
    let hr = emu.get_json(&["helmrelease", "podinfo"]);
    assert!(hr["spec"].get("relaseName").is_none(), "{hr}");
    assert_eq!(hr["spec"]["releaseName"], "podinfo-rel");
}
