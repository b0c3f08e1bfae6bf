//! berthd over its unix socket: ping headers, version prefixes, docker's error statuses
//! and messages, malformed input that never brings the daemon down, and the image and
//! container record endpoints end to end.

mod support;

use support::Daemon;

#[test]
fn ping_carries_dockers_headers() {
    let d = Daemon::start();
    let r = d.get("/_ping");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    for (k, v) in [
        ("API-Version", "1.47"),
        ("Docker-Experimental", "false"),
        ("OSType", "linux"),
        ("Swarm", "inactive"),
        ("Pragma", "no-cache"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ] {
        assert_eq!(r.header(k), Some(v), "header {k}: {:?}", r.headers);
    }
    assert!(r.header("Builder-Version").is_some());
    assert!(r.header("Server").unwrap().starts_with("berth/"));
    let head = d.request("HEAD", "/_ping", b"");
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("Api-Version"), Some("1.47"));
}

#[test]
fn version_prefixes_are_negotiated_like_dockerd() {
    let d = Daemon::start();
    for path in [
        "/version",
        "/v1.24/version",
        "/v1.47/version",
        "/v1.41/_ping",
    ] {
        assert_eq!(d.get(path).status, 200, "{path}");
    }
    let v = d.get("/v1.47/version").json();
    assert_eq!(v["ApiVersion"], "1.47");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    assert!(v["Components"][0]["Name"] == "Engine");
    let old = d.get("/v1.23/version");
    assert_eq!(old.status, 400);
    assert!(old
        .message()
        .starts_with("client version 1.23 is too old. Minimum supported API version is 1.24"));
    assert_eq!(old.header("Api-Version"), Some("1.47"));
    let new = d.get("/v1.48/info");
    assert_eq!(new.status, 400);
    assert_eq!(
        new.message(),
        "client version 1.48 is too new. Maximum supported API version is 1.47"
    );
    let none = d.get("/v1.47/nothing/here");
    assert_eq!(
        (none.status, none.message().as_str()),
        (404, "page not found")
    );
}

#[test]
fn info_counts_what_the_stores_hold() {
    let d = Daemon::start();
    d.load_busybox();
    let r = d.post(
        "/containers/create",
        r#"{"Image":"busybox:1.35","Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let i = d.get("/info").json();
    assert_eq!(i["Images"], 1);
    assert_eq!(i["Containers"], 1);
    assert_eq!(i["ContainersStopped"], 1);
    assert_eq!(i["CgroupDriver"], "cgroupfs");
    assert!(i["NCPU"].as_u64().unwrap() >= 1);
    assert!(i["MemTotal"].as_u64().unwrap() > 0);
    let root = d.dir.path().join("data");
    assert_eq!(i["DockerRootDir"], root.to_str().unwrap());
    assert!(i["Driver"] == "overlay2" || i["Driver"] == "vfs");
}

#[test]
fn errors_have_dockers_statuses_and_messages() {
    let d = Daemon::start();
    d.load_busybox();
    let r = d.get("/v1.47/containers/nope/json");
    assert_eq!(
        (r.status, r.message().as_str()),
        (404, "No such container: nope")
    );
    let r = d.get("/v1.47/images/nope/json");
    assert_eq!(
        (r.status, r.message().as_str()),
        (404, "No such image: nope:latest")
    );
    let r = d.request("DELETE", "/v1.47/images/nope", b"");
    assert_eq!(r.status, 404);
    let r = d.post("/containers/create", r#"{"Image":"nosuch"}"#);
    assert_eq!(
        (r.status, r.message().as_str()),
        (404, "No such image: nosuch:latest")
    );
    let ok = d.post("/containers/create?name=web", r#"{"Image":"busybox:1.35"}"#);
    assert_eq!(ok.status, 201, "{}", ok.text());
    let taken = d.post("/containers/create?name=web", r#"{"Image":"busybox:1.35"}"#);
    assert_eq!(taken.status, 409);
    assert!(taken
        .message()
        .contains("The container name \"/web\" is already in use"));
    let used = d.request("DELETE", "/images/busybox:1.35", b"");
    assert_eq!(used.status, 409, "{}", used.text());
    let bad_name = d.post(
        "/containers/create?name=a%20b",
        r#"{"Image":"busybox:1.35"}"#,
    );
    assert_eq!(bad_name.status, 400);
    let bad_filter = d.get("/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D");
    assert_eq!(
        (bad_filter.status, bad_filter.message().as_str()),
        (400, "invalid filter 'bogus'")
    );
    let bad_filter_json = d.get("/images/json?filters=%7Bnot-json");
    assert_eq!(bad_filter_json.status, 400);
    // A registry nobody listens on: the pull fails before its stream starts.
    let pull = d.post("/images/create?fromImage=127.0.0.1:9/x&tag=1", "");
    assert_eq!(pull.status, 500, "{}", pull.text());
    assert!(pull.message().contains("127.0.0.1:9"), "{}", pull.text());
}

#[test]
fn malformed_input_never_brings_the_daemon_down() {
    let d = Daemon::start();
    let bodies = [
        "{bad",
        "[]",
        "null",
        r#"{"Image":5}"#,
        r#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#,
        "\u{0}\u{1}",
    ];
    for b in bodies {
        let r = d.post("/v1.47/containers/create", b);
        assert!(
            r.status == 400 || r.status == 404,
            "{b:?}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.message().is_empty());
    }
    for path in [
        "/containers/json?limit=abc",
        "/images/json?filters=%FF%FE",
        "/images/%2F%2F/json",
        "/containers/%00/json",
        "/v1.4x/version",
        "/v/version",
    ] {
        let r = d.get(path);
        assert!(
            r.status >= 400 && r.status < 500,
            "{path}: {} {}",
            r.status,
            r.text()
        );
    }
    let r = d.request_with("POST", "/images/load", &[], b"not a tar at all");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.post("/commit?container=nope", "{");
    assert_eq!(r.status, 400);
    assert_eq!(d.get("/_ping").status, 200);
}

#[test]
fn images_list_inspect_history_tag_and_remove() {
    let d = Daemon::start();
    d.load_busybox();
    let list = d.get("/images/json").json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let img = &list[0];
    assert_eq!(img["RepoTags"][0], "busybox:1.35");
    let id = img["Id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:"));
    let i = d.get("/v1.47/images/busybox:1.35/json").json();
    assert_eq!(i["Id"], id);
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert!(i.get("ContainerConfig").is_none());
    let old = d.get("/v1.43/images/busybox:1.35/json").json();
    assert!(old.get("VirtualSize").is_some());
    let h = d.get("/images/busybox:1.35/history").json();
    assert_eq!(h[0]["Id"], id);
    assert_eq!(
        d.post(
            "/images/busybox:1.35/tag?repo=example.com/team/app&tag=v1",
            ""
        )
        .status,
        201
    );
    let by_slash = d.get("/images/example.com/team/app:v1/json");
    assert_eq!(by_slash.status, 200, "{}", by_slash.text());
    let filtered = d
        .get("/images/json?filters=%7B%22reference%22%3A%5B%22busy%2A%22%5D%7D")
        .json();
    assert_eq!(filtered[0]["RepoTags"].as_array().unwrap().len(), 2);
    let dangling = d
        .get("/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D")
        .json();
    assert_eq!(dangling.as_array().unwrap().len(), 0);
    let rm = d
        .request("DELETE", "/images/example.com/team/app:v1", b"")
        .json();
    assert_eq!(rm[0]["Untagged"], "example.com/team/app:v1");
    let rm = d.request("DELETE", "/images/busybox:1.35", b"").json();
    assert_eq!(rm[0]["Untagged"], "busybox:1.35");
    assert_eq!(rm[1]["Deleted"], id);
    assert_eq!(d.get("/images/json").json().as_array().unwrap().len(), 0);
}

#[test]
fn save_load_import_and_prune_through_the_api() {
    let d = Daemon::start();
    d.load_busybox();
    let saved = d.get("/images/get?names=busybox:1.35");
    assert_eq!(saved.status, 200);
    assert_eq!(saved.header("Content-Type"), Some("application/x-tar"));
    assert!(saved.body.len() > 1 << 20);
    let one = d.get("/images/busybox:1.35/get");
    assert_eq!(one.body.len(), saved.body.len());
    let missing = d.get("/images/get?names=nope");
    assert_eq!(missing.status, 404);
    assert_eq!(d.request("DELETE", "/images/busybox:1.35", b"").status, 200);
    let loaded = d.request_with("POST", "/images/load", &[], &saved.body);
    assert_eq!(
        loaded.text().trim(),
        r#"{"stream":"Loaded image: busybox:1.35\n"}"#
    );
    let layer = rootfs_tar();
    let imp = d.request_with(
        "POST",
        "/images/create?fromSrc=-&repo=imported&tag=t1&message=hello&changes=CMD%20%5B%22sh%22%5D",
        &[],
        &layer,
    );
    assert_eq!(imp.status, 200, "{}", imp.text());
    let status = imp.json()["status"].as_str().unwrap().to_string();
    let i = d.get("/images/imported:t1/json").json();
    assert_eq!(i["Id"], status);
    assert_eq!(i["Comment"], "hello");
    assert_eq!(i["Config"]["Cmd"][0], "sh");
    let untag = d.request("DELETE", "/images/imported:t1?noprune=1", b"");
    assert_eq!(untag.status, 200);
    let pruned = d.post("/images/prune", "").json();
    assert!(pruned["ImagesDeleted"].is_null(), "{pruned}");
    let all = d
        .post(
            "/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
            "",
        )
        .json();
    assert_eq!(all["ImagesDeleted"][0]["Untagged"], "busybox:1.35");
    assert!(all["SpaceReclaimed"].as_u64().unwrap() > 0);
}

/// A tiny root file system tar: one file.
fn rootfs_tar() -> Vec<u8> {
    let mut out = Vec::new();
    let mut header = [0u8; 512];
    header[..5].copy_from_slice(b"hello");
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(b"00000000003");
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| b as u32).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    out.extend_from_slice(&header);
    let mut data = [0u8; 512];
    data[..3].copy_from_slice(b"hi\n");
    out.extend_from_slice(&data);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn container_records_create_list_inspect_rename_and_remove() {
    let d = Daemon::start();
    d.load_busybox();
    let body = r#"{"Image":"busybox:1.35","Cmd":["echo","hi"],"Env":["A=1"],"Labels":{"app":"web"},
        "Hostname":"h1","HostConfig":{"Memory":67108864,"AutoRemove":false,"NetworkMode":"none",
        "LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"CapAdd":["NET_ADMIN"]}}"#;
    let r = d.post("/v1.47/containers/create?name=web", body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let other = d.post("/containers/create", r#"{"Image":"busybox:1.35"}"#);
    assert_eq!(other.status, 201);
    let i = d.get(&format!("/containers/{}/json", &id[..12])).json();
    assert_eq!(i["Id"], id);
    assert_eq!(i["Name"], "/web");
    assert_eq!(i["Path"], "echo");
    assert_eq!(i["Args"][0], "hi");
    assert_eq!(i["State"]["Status"], "created");
    assert_eq!(i["State"]["StartedAt"], "0001-01-01T00:00:00Z");
    assert_eq!(i["Config"]["Hostname"], "h1");
    assert_eq!(i["Config"]["Labels"]["app"], "web");
    assert!(i["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "A=1"));
    assert_eq!(i["HostConfig"]["Memory"], 67108864);
    assert_eq!(i["HostConfig"]["NetworkMode"], "none");
    assert_eq!(i["HostConfig"]["LogConfig"]["Config"]["max-size"], "1m");
    assert_eq!(i["HostConfig"]["CapAdd"][0], "NET_ADMIN");
    assert_eq!(d.get("/containers/web/json").json()["Id"], id);
    assert_eq!(d.get("/containers//web/json").status, 404);
    assert_eq!(
        d.get("/containers/json").json().as_array().unwrap().len(),
        0
    );
    let all = d.get("/containers/json?all=1").json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let web = d
        .get("/containers/json?all=1&filters=%7B%22label%22%3A%5B%22app%3Dweb%22%5D%7D")
        .json();
    assert_eq!(web.as_array().unwrap().len(), 1);
    assert_eq!(web[0]["Names"][0], "/web");
    assert_eq!(web[0]["Command"], "echo hi");
    assert_eq!(web[0]["State"], "created");
    assert_eq!(web[0]["Status"], "Created");
    let limited = d.get("/containers/json?limit=1").json();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let same = d.post("/containers/web/rename?name=web", "");
    assert_eq!(same.status, 400);
    let renamed = d.post("/containers/web/rename?name=api", "");
    assert_eq!(renamed.status, 204, "{}", renamed.text());
    assert_eq!(d.get("/containers/api/json").json()["Name"], "/api");
    assert_eq!(d.get("/containers/web/json").status, 404);
    assert_eq!(d.request("DELETE", "/containers/api", b"").status, 204);
    assert_eq!(d.request("DELETE", "/containers/api", b"").status, 404);
    assert_eq!(
        d.get("/containers/json?all=1")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn ambiguous_prefixes_are_refused() {
    let d = Daemon::start();
    d.load_busybox();
    let mut ids = Vec::new();
    // Enough containers that two share a first hex digit.
    for _ in 0..17 {
        let r = d.post("/containers/create", r#"{"Image":"busybox:1.35"}"#);
        ids.push(r.json()["Id"].as_str().unwrap().to_string());
    }
    let shared = ids
        .iter()
        .map(|i| &i[..1])
        .find(|p| ids.iter().filter(|i| i.starts_with(p)).count() > 1)
        .unwrap()
        .to_string();
    let r = d.get(&format!("/containers/{shared}/json"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        format!("multiple IDs found with provided prefix: {shared}")
    );
}
