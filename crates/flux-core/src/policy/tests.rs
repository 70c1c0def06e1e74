use super::*;

fn map<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
    pairs.iter().copied().collect()
}

#[test]
fn reads_every_prefix() {
    let p = Policies::from_annotations(&map(&[
        ("fluxcd.io/automated", "true"),
        ("flux.weave.works/locked", "true"),
        ("fluxcd.io/locked_msg", "incident 42"),
        ("fluxcd.io/locked_user", "Jane <j@x>"),
        ("fluxcd.io/tag.app", "1.*"),
        ("flux.weave.works/tag.side", "semver:~2"),
        ("filter.fluxcd.io/init", "regex:^v"),
        ("fluxcd.io/sync-checksum", "abc"),
        ("helm.fluxcd.io/antecedent", "x"),
        ("example.com/other", "1"),
    ]))
    .unwrap();
    assert!(p.automated && p.locked);
    assert_eq!(p.locked_msg.as_deref(), Some("incident 42"));
    assert_eq!(p.locked_user.as_deref(), Some("Jane <j@x>"));
    let tags: Vec<String> = p.tags.iter().map(|(c, t)| format!("{c}={t}")).collect();
    assert_eq!(tags, ["app=glob:1.*", "init=regexp:^v", "side=semver:~2"]);
    assert!(!p.automation_allowed(), "locked");
}

#[test]
fn ignore_values() {
    let cases: &[(&[(&str, &str)], Ignore)] = &[
        (&[], Ignore::No),
        (&[("fluxcd.io/ignore", "true")], Ignore::Yes),
        (
            &[("flux.weave.works/ignore", "sync_only")],
            Ignore::SyncOnly,
        ),
        (&[("fluxcd.io/ignore", "false")], Ignore::No),
        (
            &[
                ("fluxcd.io/ignore", "true"),
                ("flux.weave.works/ignore", "true"),
            ],
            Ignore::Yes,
        ),
    ];
    for (annotations, want) in cases {
        let a = map(annotations);
        assert_eq!(Ignore::from_annotations(&a).unwrap(), *want, "{a:?}");
        assert_eq!(Policies::from_annotations(&a).unwrap().ignore, *want);
    }
    assert!(Ignore::Yes.collectable() == Ignore::SyncOnly.collectable());
    assert!(!Ignore::Yes.applies() && Ignore::SyncOnly.applies());
    assert!(Ignore::No.applies() && Ignore::No.collectable());
}

#[test]
fn bad_annotations_are_clear_errors() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("fluxcd.io/automated", "yes")],
            "annotation fluxcd.io/automated: \"yes\" is not valid; expected \"true\" or \"false\"",
        ),
        (&[("fluxcd.io/ignore", "always")], "\"sync_only\""),
        (
            &[
                ("fluxcd.io/tag.app", "semver:~1"),
                ("filter.fluxcd.io/app", "glob:*"),
            ],
            "conflicting annotations for policy tag.app: filter.fluxcd.io/app: \"glob:*\" and fluxcd.io/tag.app: \"semver:~1\"",
        ),
        (
            &[
                ("fluxcd.io/automated", "true"),
                ("flux.weave.works/automated", "false"),
            ],
            "conflicting annotations for policy automated",
        ),
        (
            &[("fluxcd.io/tag.app", "regexp:(")],
            "annotation fluxcd.io/tag.app: invalid tag pattern \"regexp:(\"",
        ),
    ];
    for (annotations, want) in cases {
        let e = Policies::from_annotations(&map(annotations))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    // The sync only needs `ignore`, and a broken tag filter does not stop it.
    let a = map(&[("fluxcd.io/tag.app", "regexp:(")]);
    assert_eq!(Ignore::from_annotations(&a).unwrap(), Ignore::No);
}

#[test]
fn policy_names_round_trip() {
    for name in [
        "automated",
        "locked",
        "locked_msg",
        "locked_user",
        "ignore",
        "tag.app",
        "tag_all",
    ] {
        assert_eq!(name.parse::<Policy>().unwrap().to_string(), name);
    }
    assert!("tag.".parse::<Policy>().is_err());
    assert!("frozen".parse::<Policy>().is_err());
    assert_eq!(Policy::from_annotation_key("fluxcd.io/tag_all"), None);
    assert_eq!(
        Policy::from_annotation_key("filter.fluxcd.io/web"),
        Some(Policy::Tag("web".into()))
    );
}

fn changes(update: &PolicyUpdate, existing: &[(&str, &str)], containers: &[&str]) -> Vec<String> {
    update
        .annotation_changes(&map(existing), containers)
        .unwrap()
        .into_iter()
        .map(|c| match c.value {
            Some(v) => format!("{}={v}", c.key),
            None => format!("-{}", c.key),
        })
        .collect()
}

#[test]
fn updates_become_annotation_changes() {
    let tag = |c: &str, v: &str| PolicyUpdate::adding(Policy::Tag(c.into()), v);
    type Case<'a> = (PolicyUpdate, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (PolicyUpdate::automate(), &[], &["fluxcd.io/automated=true"]),
        (
            PolicyUpdate::automate(),
            &[("fluxcd.io/automated", "true")],
            &[],
        ),
        (
            PolicyUpdate::automate(),
            &[("fluxcd.io/automated", "false")],
            &["fluxcd.io/automated=true"],
        ),
        (
            PolicyUpdate::automate(),
            &[("flux.weave.works/automated", "false")],
            &["flux.weave.works/automated=true"],
        ),
        // Already set under the legacy prefix: nothing to do.
        (
            PolicyUpdate::automate(),
            &[("flux.weave.works/automated", "true")],
            &[],
        ),
        // Both keys set (they agree): both change, each keeping its prefix.
        (
            PolicyUpdate::adding(Policy::Locked, "true"),
            &[
                ("fluxcd.io/locked", "false"),
                ("flux.weave.works/locked", "false"),
            ],
            &["flux.weave.works/locked=true", "fluxcd.io/locked=true"],
        ),
        (
            tag("app", "glob:2.*"),
            &[("flux.weave.works/tag.app", "glob:1.*")],
            &["flux.weave.works/tag.app=glob:2.*"],
        ),
        (
            tag("app", "glob:2.*"),
            &[("flux.weave.works/tag.app", "glob:2.*")],
            &[],
        ),
        // Adding and removing one policy: the removal wins.
        (
            PolicyUpdate {
                add: [(Policy::TagAll, "glob:x*".to_owned())].into(),
                remove: [Policy::Tag("a".into())].into(),
            },
            &[("fluxcd.io/tag.a", "glob:1.*")],
            &["-fluxcd.io/tag.a", "fluxcd.io/tag.b=glob:x*"],
        ),
        (
            PolicyUpdate {
                add: [(Policy::Automated, "true".to_owned())].into(),
                remove: [Policy::Automated].into(),
            },
            &[("fluxcd.io/automated", "true")],
            &["-fluxcd.io/automated"],
        ),
        (
            PolicyUpdate::deautomate(),
            &[
                ("fluxcd.io/automated", "true"),
                ("flux.weave.works/automated", "true"),
            ],
            &["-flux.weave.works/automated", "-fluxcd.io/automated"],
        ),
        (
            PolicyUpdate::lock(Some("jane"), Some("hold")),
            &[],
            &[
                "fluxcd.io/locked=true",
                "fluxcd.io/locked_msg=hold",
                "fluxcd.io/locked_user=jane",
            ],
        ),
        (
            PolicyUpdate::unlock(),
            &[
                ("fluxcd.io/locked", "true"),
                ("fluxcd.io/locked_user", "jane"),
                ("x/y", "z"),
            ],
            &["-fluxcd.io/locked", "-fluxcd.io/locked_user"],
        ),
        (tag("app", "1.*"), &[], &["fluxcd.io/tag.app=glob:1.*"]),
        (
            tag("app", "semver:~2"),
            &[("filter.fluxcd.io/app", "glob:*")],
            &["filter.fluxcd.io/app=semver:~2"],
        ),
        (
            tag("app", "*"),
            &[("fluxcd.io/tag.app", "glob:1.*")],
            &["-fluxcd.io/tag.app"],
        ),
        (
            PolicyUpdate::adding(Policy::TagAll, "semver:^1"),
            &[("fluxcd.io/tag.b", "glob:x")],
            &["fluxcd.io/tag.a=semver:^1", "fluxcd.io/tag.b=semver:^1"],
        ),
        (
            PolicyUpdate::adding(Policy::TagAll, "glob:*"),
            &[("fluxcd.io/tag.b", "glob:x")],
            &["-fluxcd.io/tag.b"],
        ),
    ];
    for (update, existing, want) in cases {
        assert_eq!(
            changes(update, existing, &["a", "b"]),
            *want,
            "{update:?} on {existing:?}"
        );
    }
}

#[test]
fn invalid_updates_are_refused_when_set() {
    let cases = [
        (
            PolicyUpdate::adding(Policy::Tag("a".into()), "semver:banana"),
            "invalid tag pattern",
        ),
        (
            PolicyUpdate::adding(Policy::Automated, "yes"),
            "expected \"true\" or \"false\"",
        ),
        (PolicyUpdate::adding(Policy::Ignore, "maybe"), "sync_only"),
    ];
    for (update, want) in cases {
        let e = update.validated().unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
        assert!(update.annotation_changes(&map(&[]), &["a"]).is_err());
    }
}

#[test]
fn update_json_matches_flux_v1() {
    let u: PolicyUpdate = serde_json::from_str(
        r#"{"add":{"tag.app":"glob:1.*","automated":"true"},"remove":{"locked":"true"}}"#,
    )
    .unwrap();
    assert_eq!(u.add[&Policy::Tag("app".into())], "glob:1.*");
    assert!(u.remove.contains(&Policy::Locked));
    let back = serde_json::to_value(&u).unwrap();
    assert_eq!(back["remove"]["locked"], "true");
    let empty: PolicyUpdate = serde_json::from_str(r#"{"add":null,"remove":null}"#).unwrap();
    assert!(empty.is_empty());
}
