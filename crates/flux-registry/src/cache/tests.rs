use super::*;

fn name(s: &str) -> ImageName {
    ImageName::parse(s).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn image(created: &str) -> CachedImage {
    let info = ImageInfo {
        digest: Some(format!("sha256:{created}")),
        created: Some(t(created)),
        labels: BTreeMap::new(),
    };
    CachedImage::new(info, t("2024-01-01T00:00:00Z"), 3600)
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn tag_listings_track_changes_and_prune() {
    let c = ImageCache::in_memory();
    let app = name("r.io/app");
    let now = t("2024-01-01T00:00:00Z");
    assert_eq!(RegistryView::tags(&c, &app), None, "not scanned");
    let ch = c.record_tags(&app, tags(&["1", "2"]), now);
    assert_eq!(ch.added, ["1", "2"]);
    c.record_image(&app, "1", image("2024-01-01T00:00:00Z"));
    c.record_image(&app, "2", image("2024-01-02T00:00:00Z"));
    let later = t("2024-02-01T00:00:00Z");
    let ch = c.record_tags(&app, tags(&["2", "3"]), later);
    assert_eq!((ch.added, ch.removed), (tags(&["3"]), 1));
    c.with_repo(&app, |r| {
        let r = r.unwrap();
        assert!(
            !r.images.contains_key("1"),
            "metadata of vanished tags is dropped"
        );
        assert_eq!(r.changed, Some(later));
    });
    // Same tags again: not a change.
    let ch = c.record_tags(&app, tags(&["3", "2"]), t("2024-03-01T00:00:00Z"));
    assert_eq!(ch, TagChange::default());
    c.with_repo(&app, |r| assert_eq!(r.unwrap().changed, Some(later)));
    assert_eq!(
        RegistryView::image_info(&c, &app, "3"),
        None,
        "listed, not fetched"
    );
    assert_eq!(
        RegistryView::image_info(&c, &app, "2").unwrap().created,
        Some(t("2024-01-02T00:00:00Z"))
    );
}

#[test]
fn excluded_tags_are_never_candidates() {
    let c = ImageCache::in_memory();
    let app = name("r.io/app");
    c.record_tags(&app, tags(&["amd", "arm"]), t("2024-01-01T00:00:00Z"));
    c.record_image(&app, "amd", image("2024-01-01T00:00:00Z"));
    c.record_image(
        &app,
        "arm",
        CachedImage {
            excluded: Some("no linux/amd64".into()),
            ..image("2024-05-01T00:00:00Z")
        },
    );
    assert_eq!(RegistryView::tags(&c, &app).unwrap(), ["amd"]);
    assert_eq!(RegistryView::image_info(&c, &app, "arm"), None);
}

#[test]
fn label_timestamps_for_matching_repositories() {
    let c = ImageCache::in_memory()
        .with_label_timestamps(&["docker.io/fluxcd/*".to_owned()])
        .unwrap();
    let mut img = image("2020-01-01T00:00:00Z");
    img.labels = BTreeMap::from([(
        "org.label-schema.build-date".to_owned(),
        "2023-06-01T00:00:00Z".to_owned(),
    )])
    .into();
    for repo in ["fluxcd/flux", "other/flux"] {
        let n = name(repo);
        c.record_tags(&n, tags(&["1"]), t("2024-01-01T00:00:00Z"));
        c.record_image(&n, "1", img.clone());
    }
    let created = |r: &str| RegistryView::image_info(&c, &name(r), "1").unwrap().created;
    assert_eq!(created("fluxcd/flux"), Some(t("2023-06-01T00:00:00Z")));
    assert_eq!(created("other/flux"), Some(t("2020-01-01T00:00:00Z")));
    assert!(
        ImageCache::in_memory()
            .with_label_timestamps(&["[".into()])
            .is_err()
    );
}

#[tokio::test]
async fn async_seam_answers_from_the_cache() {
    let c = ImageCache::in_memory();
    let app = name("r.io/app");
    let e = ImageRegistry::tags(&c, "r.io/app").await.unwrap_err();
    assert!(e.to_string().contains("not scanned yet"), "{e}");
    c.record_error(&app, "r.io: connection refused".into());
    let e = ImageRegistry::tags(&c, "r.io/app").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("last error: r.io: connection refused"),
        "{e}"
    );
    c.record_tags(&app, tags(&["1", "2"]), t("2024-01-01T00:00:00Z"));
    c.record_image(&app, "1", image("2024-01-01T00:00:00Z"));
    assert_eq!(
        ImageRegistry::tags(&c, "r.io/app").await.unwrap(),
        ["1", "2"]
    );
    assert!(
        ImageRegistry::image_info(&c, "r.io/app", "1")
            .await
            .unwrap()
            .created
            .is_some()
    );
    assert_eq!(
        ImageRegistry::image_info(&c, "r.io/app", "2")
            .await
            .unwrap(),
        ImageInfo::default(),
        "listed but not fetched: unknown"
    );
    assert!(
        ImageRegistry::image_info(&c, "r.io/app", "9")
            .await
            .is_err()
    );
    assert!(ImageRegistry::tags(&c, "Not A Name").await.is_err());
}

#[test]
fn refresh_schedule() {
    let img = image("2024-01-01T00:00:00Z");
    assert!(!img.refresh_due(t("2024-01-01T00:59:59Z")));
    assert!(img.refresh_due(t("2024-01-01T01:00:00Z")));
}

#[test]
fn persists_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.cache");
    let (c, loaded) = ImageCache::open(&path);
    assert_eq!(loaded, Loaded::Missing);
    assert!(!c.persist().unwrap(), "nothing to write yet");
    let app = name("localhost:5000/team/app");
    c.record_tags(&app, tags(&["1", "2"]), t("2024-01-01T00:00:00Z"));
    c.record_image(&app, "1", image("2024-01-01T00:00:00Z"));
    c.record_error(&name("r.io/x"), "boom".into());
    assert!(c.persist().unwrap());
    assert!(!c.persist().unwrap(), "written only when changed");

    let (again, loaded) = ImageCache::open(&path);
    assert_eq!(
        loaded,
        Loaded::Read {
            repositories: 2,
            images: 1
        }
    );
    assert_eq!(RegistryView::tags(&again, &app).unwrap(), ["1", "2"]);
    assert_eq!(
        RegistryView::image_info(&again, &app, "1"),
        RegistryView::image_info(&c, &app, "1")
    );
    assert_eq!(
        again.last_error(&name("r.io/x")),
        None,
        "errors are not persisted"
    );
}

#[test]
fn corrupt_or_truncated_files_are_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.cache");
    let c = ImageCache::open(&path).0;
    let app = name("r.io/app");
    c.record_tags(&app, tags(&["1"]), t("2024-01-01T00:00:00Z"));
    c.record_image(&app, "1", image("2024-01-01T00:00:00Z"));
    c.persist().unwrap();
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    let i = flipped.len() / 2 + 20;
    flipped[i] = flipped[i].wrapping_add(1);
    let valid_header_bad_body = file::encode(b"[1,2,3]");
    let bad_name =
        file::encode(br#"{"Not A Name":{"tags":[],"images":{},"listed":null,"changed":null}}"#);
    for (bytes, reason) in [
        (&good[..good.len() - 7], "truncated"),
        (&flipped[..], "checksum"),
        (&b"garbage"[..], "no header"),
        (&valid_header_bad_body[..], "not a cache"),
        (&bad_name[..], "bad repository"),
    ] {
        std::fs::write(&path, bytes).unwrap();
        let (c, loaded) = ImageCache::open(&path);
        match loaded {
            Loaded::Discarded(d) => assert!(d.reason.contains(reason), "{d}"),
            other => panic!("{reason}: {other:?}"),
        }
        assert!(
            c.repositories().is_empty(),
            "nothing from a bad file is trusted"
        );
        assert!(!path.exists(), "moved aside");
        assert_eq!(std::fs::read(file::corrupt_path(&path)).unwrap(), bytes);
        // The next write starts a good file again.
        c.record_tags(&app, tags(&["1"]), t("2024-01-01T00:00:00Z"));
        assert!(c.persist().unwrap());
        assert!(matches!(ImageCache::open(&path).1, Loaded::Read { .. }));
    }
}

#[test]
fn a_crash_mid_write_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.cache");
    let c = ImageCache::open(&path).0;
    c.record_tags(&name("r.io/app"), tags(&["1"]), t("2024-01-01T00:00:00Z"));
    c.persist().unwrap();
    // A writer killed half-way leaves a partial temporary file behind.
    std::fs::write(
        file::tmp_path(&path),
        b"flux-registry-cache 1 999 ab\n{\"half",
    )
    .unwrap();
    let (c, loaded) = ImageCache::open(&path);
    assert_eq!(
        loaded,
        Loaded::Read {
            repositories: 1,
            images: 0
        }
    );
    assert_eq!(RegistryView::tags(&c, &name("r.io/app")).unwrap(), ["1"]);
    assert!(!file::tmp_path(&path).exists(), "the leftover is removed");
}
