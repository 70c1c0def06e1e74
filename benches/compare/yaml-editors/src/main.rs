//! Speed and fidelity of yaml-edit vs flux-core's span editor on the same
//! image updates. Prints one line per case and the timing of a 1,000-document
//! file; see README.md for the figures and the decision they support.

use std::str::FromStr;
use std::time::Instant;

use flux_core::manifest::SourceRef;
use flux_core::update::set_container_image;
use yaml_edit::YamlFile;

/// Where the container list is, from the document root.
enum Seg {
    Key(&'static str),
    Index(usize),
}

fn yaml_edit_set(
    text: &str,
    doc: usize,
    path: &[Seg],
    container: &str,
    image: &str,
) -> Result<String, String> {
    let file = YamlFile::from_str(text).map_err(|e| format!("parse: {e}"))?;
    let d = file.documents().nth(doc).ok_or("no document")?;
    let mut node = d.as_mapping().ok_or("root not a mapping")?;
    let mut list = None;
    for (i, seg) in path.iter().enumerate() {
        let last = i == path.len() - 1;
        match seg {
            Seg::Key(k) if last => list = Some(node.get_sequence(*k).ok_or(format!("no {k}"))?),
            Seg::Key(k) => {
                if let Some(m) = node.get_mapping(*k) {
                    node = m;
                } else {
                    let seq = node.get_sequence(*k).ok_or(format!("no {k}"))?;
                    let Some(Seg::Index(n)) = path.get(i + 1) else {
                        return Err("bad path".into());
                    };
                    node = seq
                        .get(*n)
                        .and_then(|v| v.as_mapping().cloned())
                        .ok_or("no item")?;
                }
            }
            Seg::Index(_) => {}
        }
    }
    let list = list.ok_or("no list")?;
    for v in list.values() {
        let m = v.as_mapping().ok_or("container not a mapping")?;
        let name = m
            .get("name")
            .and_then(|n| n.as_scalar().map(|s| s.as_string()))
            .unwrap_or_default();
        if name == container {
            m.set("image", image);
            return Ok(file.to_string());
        }
    }
    Err("container not found".into())
}

fn main() {
    use Seg::*;
    const POD: &[Seg] = &[Key("spec"), Key("template"), Key("spec"), Key("containers")];
    let deploy = |containers: &str| {
        format!(
            "kind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
        )
    };
    let cases: Vec<(&str, String, usize, &[Seg], &str, &str)> = vec![
        ("plain with comment", deploy("      - name: app\n        image: r.io/app:1 # pinned\n"), 0, POD, "r.io/app:1", "r.io/app:2"),
        ("single quoted", deploy("      - name: app\n        image: 'r.io/app:1'\n"), 0, POD, "'r.io/app:1'", "'r.io/app:2'"),
        ("double quoted", deploy("      - name: app\n        image: \"r.io/app:1\"\n"), 0, POD, "\"r.io/app:1\"", "\"r.io/app:2\""),
        ("flow containers", deploy("      - {name: app, image: r.io/app:1}\n"), 0, POD, "r.io/app:1", "r.io/app:2"),
        ("odd indentation", "kind: Deployment\nmetadata:\n     name: a\nspec:\n template:\n         spec:\n          containers:\n          -   name: app\n              image:   r.io/app:1\n".into(), 0, POD, "r.io/app:1", "r.io/app:2"),
        ("CRLF", deploy("      - name: app\n        image: r.io/app:1\n").replace('\n', "\r\n"), 0, POD, "r.io/app:1", "r.io/app:2"),
        ("second document", format!("---\n{}---\n{}", deploy("      - name: app\n        image: r.io/app:1\n"), deploy("      - name: app\n        image: r.io/app:1 # here\n")), 1, POD, "r.io/app:1 # here", "r.io/app:2 # here"),
        ("value after a comment", deploy("      - name: app\n        image: # pinned\n          r.io/app:1\n"), 0, POD, "r.io/app:1", "r.io/app:2"),
        ("multibyte before", deploy("      - name: app # ünïcode ✓\n        image: r.io/app:1\n"), 0, POD, "r.io/app:1", "r.io/app:2"),
        ("List item", "kind: List\nitems:\n- kind: Deployment\n  metadata: {name: a}\n  spec:\n    template:\n      spec:\n        containers:\n        - name: app\n          image: r.io/app:1\n".into(), 0, &[Key("items"), Index(0), Key("spec"), Key("template"), Key("spec"), Key("containers")], "r.io/app:1", "r.io/app:2"),
    ];
    let mut ok = (0, 0);
    for (name, input, doc, path, from, to) in &cases {
        let want = input.replacen(from, to, 1);
        let ye = match yaml_edit_set(input, *doc, path, "app", "r.io/app:2") {
            Ok(out) if out == want => "exact".to_owned(),
            Ok(out) => format!("DIFFERS: {out:?}"),
            Err(e) => format!("ERROR: {e}"),
        };
        let item = matches!(path.first(), Some(Key("items"))).then_some(0);
        let at = SourceRef {
            file: "f".into(),
            document: *doc,
            item,
            line: 0,
        };
        let fc = match set_container_image(input, &at, "app", &"r.io/app:2".parse().expect("image"))
        {
            Ok(out) if out == want => "exact".to_owned(),
            Ok(out) => format!("DIFFERS: {out:?}"),
            Err(e) => format!("ERROR: {e}"),
        };
        ok.0 += usize::from(ye == "exact");
        ok.1 += usize::from(fc == "exact");
        println!("{name:24} yaml-edit: {ye}\n{:24} flux-core: {fc}", "");
    }
    println!(
        "exact: yaml-edit {}/{n}, flux-core {}/{n}",
        ok.0,
        ok.1,
        n = cases.len()
    );

    let text = flux_benches::multi_document_file(1000);
    let (doc, k) = (500, 2000);
    let image = format!("registry.example.com/team/app-{k}:1.{}.4", k % 7);
    let time = |f: &dyn Fn() -> Result<String, String>| {
        let mut best = f64::MAX;
        let mut out = String::new();
        for _ in 0..5 {
            let start = Instant::now();
            out = f().expect("edit");
            best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        }
        (best, out)
    };
    let (ye_ms, ye_out) = time(&|| yaml_edit_set(&text, doc, POD, "app", &image));
    let at = SourceRef {
        file: "f".into(),
        document: doc,
        item: None,
        line: 0,
    };
    let (fc_ms, fc_out) = time(&|| {
        set_container_image(&text, &at, "app", &image.parse().expect("image"))
            .map_err(|e| e.to_string())
    });
    let want = text.replacen(
        &format!("app-{k}:1.{}.3", k % 7),
        &format!("app-{k}:1.{}.4", k % 7),
        1,
    );
    println!("1,000 documents ({} bytes), document {doc}:", text.len());
    println!(
        "  yaml-edit: {ye_ms:.1} ms, output exact: {}",
        ye_out == want
    );
    println!(
        "  flux-core: {fc_ms:.1} ms, output exact: {}",
        fc_out == want
    );
    println!("  ratio: {:.0}x", ye_ms / fc_ms);
}
