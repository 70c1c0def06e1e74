//! Table of image references: how each is read, named and compared.

use flux_core::image::{ImageName, ImageRef};

const SHA: &str = "sha256:c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

/// (input, domain, path, tag, canonical, short)
type Valid = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

const VALID: &[Valid] = &[
    (
        "alpine",
        "docker.io",
        "library/alpine",
        None,
        "docker.io/library/alpine",
        "alpine",
    ),
    (
        "alpine:3.19",
        "docker.io",
        "library/alpine",
        Some("3.19"),
        "docker.io/library/alpine:3.19",
        "alpine:3.19",
    ),
    (
        "index.docker.io/alpine:3",
        "docker.io",
        "library/alpine",
        Some("3"),
        "docker.io/library/alpine:3",
        "alpine:3",
    ),
    (
        "docker.io/library/alpine",
        "docker.io",
        "library/alpine",
        None,
        "docker.io/library/alpine",
        "alpine",
    ),
    (
        "fluxcd/flux:1.25.4",
        "docker.io",
        "fluxcd/flux",
        Some("1.25.4"),
        "docker.io/fluxcd/flux:1.25.4",
        "fluxcd/flux:1.25.4",
    ),
    (
        "a/b/c/d:e",
        "docker.io",
        "a/b/c/d",
        Some("e"),
        "docker.io/a/b/c/d:e",
        "a/b/c/d:e",
    ),
    (
        "localhost/x",
        "localhost",
        "x",
        None,
        "localhost/x",
        "localhost/x",
    ),
    (
        "localhost:5000/x:y",
        "localhost:5000",
        "x",
        Some("y"),
        "localhost:5000/x:y",
        "localhost:5000/x:y",
    ),
    (
        "127.0.0.1:5000/team/app:1.0",
        "127.0.0.1:5000",
        "team/app",
        Some("1.0"),
        "127.0.0.1:5000/team/app:1.0",
        "127.0.0.1:5000/team/app:1.0",
    ),
    (
        "ghcr.io/org/app:v2.0.0-rc.1",
        "ghcr.io",
        "org/app",
        Some("v2.0.0-rc.1"),
        "ghcr.io/org/app:v2.0.0-rc.1",
        "ghcr.io/org/app:v2.0.0-rc.1",
    ),
    (
        "Registry.Example.com/app",
        "Registry.Example.com",
        "app",
        None,
        "Registry.Example.com/app",
        "Registry.Example.com/app",
    ),
    (
        "k8s.gcr.io/pause:3.9",
        "k8s.gcr.io",
        "pause",
        Some("3.9"),
        "k8s.gcr.io/pause:3.9",
        "k8s.gcr.io/pause:3.9",
    ),
    (
        "quay.io/a/b_c.d-e:_tag.X-1",
        "quay.io",
        "a/b_c.d-e",
        Some("_tag.X-1"),
        "quay.io/a/b_c.d-e:_tag.X-1",
        "quay.io/a/b_c.d-e:_tag.X-1",
    ),
];

#[test]
fn valid_references() {
    for (input, domain, path, tag, canonical, short) in VALID {
        let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.name().domain(), *domain, "{input}");
        assert_eq!(r.name().path(), *path, "{input}");
        assert_eq!(r.tag(), *tag, "{input}");
        assert_eq!(r.canonical(), *canonical, "{input}");
        assert_eq!(r.short(), *short, "{input}");
        assert_eq!(r.to_string(), *input, "{input}: as written");
        // Canonical and short forms name the same image.
        assert_eq!(ImageRef::parse(&r.canonical()).unwrap(), r, "{input}");
        assert_eq!(ImageRef::parse(&r.short()).unwrap(), r, "{input}");
    }
}

#[test]
fn digests_and_tags_together() {
    let r = ImageRef::parse(&format!("alpine:3@{SHA}")).unwrap();
    assert_eq!((r.tag(), r.digest()), (Some("3"), Some(SHA)));
    assert_ne!(r, ImageRef::parse("alpine:3").unwrap());
    let r = ImageRef::parse(&format!("localhost:5000/x@{SHA}")).unwrap();
    assert_eq!((r.tag(), r.name().domain()), (None, "localhost:5000"));
    assert!(ImageRef::parse("alpine@sha256:").is_err());
    assert!(ImageRef::parse(&format!("alpine@{}", SHA.to_uppercase())).is_err());
}

/// (input, part of the error)
const INVALID: &[(&str, &str)] = &[
    ("", "empty"),
    ("team/App", "must be lower case"),
    ("Alpine", "must be lower case"),
    ("alpine:", "tag after ':' is empty"),
    ("alpine:.x", "must be [A-Za-z0-9_]"),
    ("alpine/", "empty path component"),
    ("/alpine", "empty path component"),
    ("alpine//x", "empty path component"),
    ("al pine", "character ' '"),
    ("alpine\t", "character '\\t'"),
    ("-alpine", "start and end"),
    ("alp%ine", "separator \"%\""),
    ("host:99999999/x", "not a number"),
    ("-bad.io/x", "not a valid host name"),
    ("ünïcode/x", "character 'ü'"),
];

#[test]
fn invalid_references() {
    for (input, want) in INVALID {
        let e = ImageRef::parse(input).expect_err(input).to_string();
        assert!(e.contains(want), "{input:?}: {e}");
        assert!(
            e.contains(&format!("{input:?}")),
            "the error names the input: {e}"
        );
    }
}

#[test]
fn repository_equality() {
    let same = [
        ("alpine", "index.docker.io/library/alpine"),
        ("docker.io/alpine", "library/alpine"),
        ("localhost:5000/a", "localhost:5000/a"),
    ];
    for (a, b) in same {
        assert_eq!(
            a.parse::<ImageName>().unwrap(),
            b.parse::<ImageName>().unwrap(),
            "{a} = {b}"
        );
    }
    let different = [
        ("alpine", "quay.io/alpine"),
        ("localhost/a", "localhost:5000/a"),
        ("library/alpine", "other/alpine"),
    ];
    for (a, b) in different {
        assert_ne!(
            a.parse::<ImageName>().unwrap(),
            b.parse::<ImageName>().unwrap(),
            "{a} != {b}"
        );
    }
}
