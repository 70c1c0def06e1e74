//! Property tests of the editor over generated files in many layouts, and
//! unit tests of its text helpers.

use proptest::prelude::*;

use super::*;
use crate::image::ImageRef;
use crate::policy::AnnotationChange;

/// How one generated document is written.
#[derive(Debug, Clone)]
struct Layout {
    indent: usize,
    seq_indent: bool,
    quote: u8,
    flow_containers: bool,
    comments: bool,
    annotations: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        1usize..=4,
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(indent, seq_indent, quote, flow_containers, comments, annotations)| Layout {
                indent,
                seq_indent,
                quote,
                flow_containers,
                comments,
                annotations,
            },
        )
}

fn quoted(s: &str, quote: u8) -> String {
    match quote {
        0 => s.to_owned(),
        1 => format!("'{s}'"),
        _ => format!("\"{s}\""),
    }
}

/// A Deployment with containers `c0..cn` running `images`.
fn deployment(i: usize, l: &Layout, images: &[String]) -> String {
    let p = |depth: usize| " ".repeat(l.indent * depth);
    let c = if l.comments { " # note" } else { "" };
    let mut s = format!("kind: Deployment{c}\nmetadata:\n{}name: app-{i}{c}\n", p(1));
    if l.annotations {
        s += &format!("{}annotations:\n{}x.io/a: 'b'{c}\n", p(1), p(2));
    }
    s += &format!(
        "spec:\n{}template:\n{}spec:\n{}containers:",
        p(1),
        p(2),
        p(3)
    );
    if l.flow_containers {
        let items: Vec<String> = images
            .iter()
            .enumerate()
            .map(|(n, img)| format!("{{name: c{n}, image: {}}}", quoted(img, l.quote)))
            .collect();
        s += &format!(" [{}]{c}\n", items.join(", "));
    } else {
        s += &format!("{c}\n");
        let dash = if l.seq_indent { p(4) } else { p(3) };
        for (n, img) in images.iter().enumerate() {
            s += &format!(
                "{dash}- name: c{n}\n{dash}  image: {}{c}\n",
                quoted(img, l.quote)
            );
        }
    }
    s
}

#[derive(Debug, Clone)]
struct File {
    text: String,
    /// Byte range of each document's text.
    docs: Vec<Range<usize>>,
    images: Vec<Vec<String>>,
    /// The `List` item index of each document's workload, if in a List.
    items: Vec<Option<usize>>,
}

fn image() -> impl Strategy<Value = String> {
    ("[a-z]{1,6}", "[a-z0-9]{1,4}(\\.[0-9]{1,3}){0,2}")
        .prop_map(|(name, tag)| format!("r.io/{name}:v{tag}"))
}

fn file() -> impl Strategy<Value = File> {
    (
        prop::collection::vec(
            (layout(), prop::collection::vec(image(), 1..4), any::<bool>()),
            1..6,
        ),
        any::<bool>(),
    )
        .prop_map(|(docs, crlf)| {
            let mut text = String::new();
            let mut ranges = Vec::new();
            let mut images = Vec::new();
            let mut items = Vec::new();
            for (i, (l, imgs, in_list)) in docs.into_iter().enumerate() {
                text.push_str("---\n");
                let start = text.len();
                let d = deployment(i, &l, &imgs);
                if in_list {
                    // The workload is item 1 of a List, after a ConfigMap.
                    text.push_str("apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: c}\n");
                    for (n, line) in d.lines().enumerate() {
                        text.push_str(if n == 0 { "- " } else { "  " });
                        text.push_str(line);
                        text.push('\n');
                    }
                    items.push(Some(1));
                } else {
                    text.push_str(&d);
                    items.push(None);
                }
                ranges.push(start..text.len());
                images.push(imgs);
            }
            if crlf {
                let mut out = String::new();
                let mut map = Vec::new();
                for (i, ch) in text.char_indices() {
                    map.push((i, out.len()));
                    if ch == '\n' {
                        out.push('\r');
                    }
                    out.push(ch);
                }
                let pos = |b: usize| {
                    map.iter()
                        .find(|(i, _)| *i == b)
                        .map_or(out.len(), |(_, o)| *o)
                };
                ranges = ranges.iter().map(|r| pos(r.start)..pos(r.end)).collect();
                text = out;
            }
            File {
                text,
                docs: ranges,
                images,
                items,
            }
        })
}

fn at(document: usize, item: Option<usize>) -> SourceRef {
    SourceRef {
        file: "gen.yaml".into(),
        document,
        item,
        line: 1,
    }
}

fn parse(text: &str) -> Vec<Value> {
    yaml::parse_documents(text, yaml::Limits::default())
        .expect("valid YAML")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// The byte range of `before` that differs from `after` (common prefix
/// and suffix removed).
fn changed_range(before: &str, after: &str) -> Range<usize> {
    let prefix = before
        .bytes()
        .zip(after.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = before[prefix..]
        .bytes()
        .rev()
        .zip(after[prefix..].bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    prefix..before.len() - suffix
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn image_edit_changes_exactly_that_value(f in file(), pick in any::<prop::sample::Index>(), tag in "[a-z0-9]{1,8}") {
        let doc = pick.index(f.docs.len());
        let container = pick.index(f.images[doc].len() * 7) % f.images[doc].len();
        let old: ImageRef = f.images[doc][container].parse().unwrap();
        let new = old.with_tag(&tag).unwrap();
        let name = format!("c{container}");
        let out = set_container_image(&f.text, &at(doc, f.items[doc]), &name, &new).unwrap();

        // Parsing the result gives the original with that one change.
        let mut want = parse(&f.text);
        let path = ["spec", "template", "spec", "containers"];
        let mut v = &mut want[doc];
        if let Some(i) = f.items[doc] { v = &mut v["items"][i]; }
        for k in path { v = &mut v[k]; }
        v[container]["image"] = Value::String(new.to_string());
        prop_assert_eq!(parse(&out), want);

        // Other documents are untouched: every changed byte is in this one.
        let changed = changed_range(&f.text, &out);
        prop_assert!(changed.start >= f.docs[doc].start && changed.end <= f.docs[doc].end,
            "changed {:?} outside document {:?}", changed, f.docs[doc]);

        // The inverse edit restores the original bytes.
        let back = set_container_image(&out, &at(doc, f.items[doc]), &name, &old).unwrap();
        prop_assert_eq!(back, f.text.clone());
    }

    #[test]
    fn annotation_add_then_remove_restores_bytes(f in file(), pick in any::<prop::sample::Index>(), value in "[ -~]{0,12}") {
        let doc = pick.index(f.docs.len());
        let key = "fluxcd.io/tag.c0".to_owned();
        let add = AnnotationChange { key: key.clone(), value: Some(value.clone()) };
        let out = set_annotations(&f.text, &at(doc, f.items[doc]), &[add]).unwrap();
        let docs = parse(&out);
        let object = match f.items[doc] { Some(i) => &docs[doc]["items"][i], None => &docs[doc] };
        prop_assert_eq!(&object["metadata"]["annotations"][&key], &Value::String(value));
        let changed = changed_range(&f.text, &out);
        prop_assert!(changed.start >= f.docs[doc].start && changed.end <= f.docs[doc].end);
        let back = set_annotations(&out, &at(doc, f.items[doc]), &[AnnotationChange { key, value: None }]).unwrap();
        prop_assert_eq!(back, f.text.clone());
    }
}

#[test]
fn helpers() {
    let text = "a: 1 # c\r\nb: |\n  x\n\n  \nc: 2";
    assert_eq!(line_ending(text), "\r\n");
    assert_eq!(line_ending("a\nb"), "\n");
    assert_eq!(end_of_content_line(text, 4), 8);
    // Trailing blank lines of a block scalar are not content.
    let after_block = text.find("c: 2").unwrap();
    assert_eq!(
        end_of_content_line(text, after_block),
        text.find("x\n").unwrap() + 1
    );
    assert_eq!(end_of_content_line(text, text.len()), text.len());
    assert_eq!(line_start(text, 12), 10);
    let spliced = apply(
        "abcdef",
        vec![
            Splice {
                range: 4..5,
                text: "E".into(),
            },
            Splice {
                range: 1..1,
                text: "+".into(),
            },
        ],
    );
    assert_eq!(spliced, "a+bcdEf");
}
