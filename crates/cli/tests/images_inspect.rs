//! `berth image inspect` and `history` through the real binary: docker's JSON keys and
//! order, --format, errors; history columns and flags; import --change shows in inspect.

mod support;

use support::{busybox_layer, docker_tar, Root, BUSYBOX_ID};

#[test]
fn inspect_has_dockers_shape() {
    let root = Root::new("inspect");
    root.load(&docker_tar());
    let out = root.run(&["image", "inspect", "busybox:1.35"]).ok();
    // docker's four-space indent; the keys in the order the daemon sent them.
    assert!(out.starts_with("[\n    {\n        \""), "{out}");
    assert!(out.contains("\n        \"Id\": \"sha256:0ebe"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let img = &v[0];
    let keys: Vec<&str> = img
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Parent",
        "Comment",
        "Created",
        "DockerVersion",
        "Author",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "GraphDriver",
        "RootFS",
        "Metadata",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(img["Id"], BUSYBOX_ID);
    assert_eq!(img["RepoTags"], serde_json::json!(["busybox:1.35"]));
    assert_eq!(img["Comment"], "Imported from -");
    assert_eq!(img["DockerVersion"], "20.10.24+dfsg1");
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["GraphDriver"]["Name"], "overlay2");
    let upper = img["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    assert!(
        std::path::Path::new(upper).join("bin/busybox").is_file(),
        "{upper}"
    );
}

#[test]
fn inspect_format_and_errors() {
    let root = Root::new("inspect-err");
    root.load(&docker_tar());
    let out = root
        .run(&[
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}} {{json .RepoTags}}",
            "0ebe78",
        ])
        .ok();
    assert_eq!(out, "linux/amd64 [\"busybox:1.35\"]\n");
    let missing = root.run(&["image", "inspect", "nosuch"]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stdout, "[]\n");
    assert_eq!(
        missing.stderr,
        "Error response from daemon: No such image: nosuch:latest\n"
    );
}

#[test]
fn import_with_changes_shows_in_inspect() {
    let root = Root::new("import");
    let layer = busybox_layer();
    let id = root
        .run_stdin(
            &[
                "import",
                "-c",
                "CMD [\"echo\", \"hi\"]",
                "-c",
                "ENV A=1 B=\"two words\"",
                "--change",
                "WORKDIR /srv",
                "-c",
                "EXPOSE 8080",
                "-c",
                "USER nobody",
                "-c",
                "LABEL k=v",
                "-m",
                "my message",
                "-",
                "mine:1",
            ],
            &layer,
        )
        .ok();
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    let out = root.run(&["image", "inspect", "mine:1"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v[0]["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["echo", "hi"]));
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two words"]));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["Labels"], serde_json::json!({"k": "v"}));
    assert_eq!(v[0]["Comment"], "my message");
    assert_eq!(v[0]["Id"], id.trim());
    // The layer is the busybox layer: same diff ID.
    let bb = busybox_layer();
    let diff = berth_image::digest::Digest::of(&bb).to_string();
    assert_eq!(v[0]["RootFS"]["Layers"], serde_json::json!([diff]));
    let bad = root.run_stdin(&["import", "-c", "RUN ls", "-"], &layer);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "Error response from daemon: run is not a valid change command\n"
    );
}

#[test]
fn history_columns_and_flags() {
    let root = Root::new("history");
    root.load(&docker_tar());
    let out = root.run(&["history", "busybox:1.35"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    // The CREATED column's width follows the image's age ("9 hours ago", "2 days ago").
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        "{out}"
    );
    assert!(lines[0].starts_with("IMAGE          CREATED  "), "{out}");
    assert_eq!(lines[0].find("SIZE"), lines[1].find("1.99MB"), "{out}");
    assert!(lines[1].starts_with("0ebe78266dec   "), "{out}");
    assert!(lines[1].ends_with("1.99MB    Imported from -"), "{out}");
    assert_eq!(
        root.run(&["history", "-q", "busybox:1.35"]).ok(),
        "0ebe78266dec\n"
    );
    let raw = root
        .run(&[
            "history",
            "-H=false",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Size}} {{.CreatedSince}}",
            "busybox:1.35",
        ])
        .ok();
    assert_eq!(raw, format!("{BUSYBOX_ID} 1985581 2026-11-22T09:20:22Z\n"));
    let missing = root.run(&["history", "nosuch"]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            1,
            "Error response from daemon: No such image: nosuch:latest\n"
        )
    );
}

#[test]
fn history_of_a_multi_step_image() {
    let root = Root::new("history-multi");
    let layer = busybox_layer();
    root.run_stdin(&["import", "-", "base:1"], &layer).ok();
    let out = root
        .run(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.Comment}}",
            "base:1",
        ])
        .ok();
    assert!(
        out.starts_with("sha256:") && out.ends_with("|Imported from -\n"),
        "{out}"
    );
}
