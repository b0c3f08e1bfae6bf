//! The builder over an in-memory backend (no root, no engine): which stages run for a
//! target, ARG and ENV scoping, the config each step leaves, the cache keys (a hit makes
//! no container, a change misses from the changed step on), and the clean-up of a
//! failed build.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::PathBuf;

use berth_build::builder::{
    self, Backend, BackendError, BuildError, ContainerSpec, Image, Options, Output,
};
use serde_json::{json, Value};

/// An engine in memory: images are configs, containers are specs, RUN exits with the
/// number after `exit ` in its command (0 without), and prints its command.
#[derive(Default)]
struct Fake {
    images: HashMap<String, Value>,
    containers: HashMap<String, ContainerSpec>,
    cache: HashMap<String, String>,
    tags: BTreeMap<String, String>,
    created: usize,
    runs: Vec<Vec<String>>,
    removed_images: Vec<String>,
    next: u64,
}

impl Fake {
    fn new() -> Fake {
        let mut f = Fake::default();
        let base = json!({"config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]}, "rootfs": {"diff_ids": []}, "history": []});
        f.images.insert("sha256:base".into(), base);
        f
    }

    fn id(&mut self) -> String {
        self.next += 1;
        format!("sha256:{:064x}", self.next)
    }
}

fn err(s: &str) -> BackendError {
    s.to_string().into()
}

impl Backend for Fake {
    fn base_image(
        &mut self,
        name: &str,
        _pull: bool,
        _platform: Option<&str>,
        _out: &mut dyn Output,
    ) -> Result<Image, BackendError> {
        let id = if name == "base" { "sha256:base" } else { name };
        self.image(id)
    }
    fn image(&mut self, id: &str) -> Result<Image, BackendError> {
        let config = self
            .images
            .get(id)
            .cloned()
            .ok_or_else(|| err("no such image"))?;
        Ok(Image {
            id: id.into(),
            config,
        })
    }
    fn create(&mut self, spec: &ContainerSpec) -> Result<String, BackendError> {
        self.created += 1;
        let id = self.id();
        self.containers.insert(id.clone(), spec.clone());
        Ok(id)
    }
    fn run(&mut self, id: &str, out: &mut dyn Output) -> Result<i32, BackendError> {
        let spec = self.containers.get(id).ok_or_else(|| err("no container"))?;
        let cmd = spec.cmd.join(" ");
        self.runs
            .push(spec.cmd.iter().cloned().chain(spec.env.clone()).collect());
        out.stream(&format!("ran: {cmd}\n"));
        let code = cmd
            .split("exit ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok(code)
    }
    fn resolve_user(&mut self, _id: &str, _user: &str) -> Result<(u32, u32), BackendError> {
        Ok((1, 1))
    }
    fn is_dir(&mut self, _id: &str, _path: &str) -> Result<bool, BackendError> {
        Ok(false)
    }
    fn copy_in(
        &mut self,
        _id: &str,
        _dir: &str,
        _owner: (u32, u32),
        tar: &mut dyn Read,
    ) -> Result<(), BackendError> {
        std::io::copy(tar, &mut std::io::sink())?;
        Ok(())
    }
    fn commit(
        &mut self,
        _container: Option<&str>,
        _parent: Option<&str>,
        config: &Value,
        _clamp: Option<i64>,
    ) -> Result<String, BackendError> {
        let id = self.id();
        self.images.insert(id.clone(), config.clone());
        Ok(id)
    }
    fn view(&mut self, id: &str) -> Result<(String, PathBuf), BackendError> {
        Err(err(&format!("no view of {id} here")))
    }
    fn remove_container(&mut self, id: &str) -> Result<(), BackendError> {
        self.containers.remove(id);
        Ok(())
    }
    fn remove_image(&mut self, id: &str) -> Result<(), BackendError> {
        self.images.remove(id);
        self.removed_images.push(id.into());
        Ok(())
    }
    fn cache_get(&mut self, key: &str) -> Option<String> {
        self.cache.get(key).cloned()
    }
    fn cache_put(&mut self, key: &str, image: &str) -> Result<(), BackendError> {
        self.cache.insert(key.into(), image.into());
        Ok(())
    }
    fn tag(&mut self, id: &str, name: &str) -> Result<String, BackendError> {
        self.tags.insert(name.into(), id.into());
        Ok(format!("{name}:latest"))
    }
    fn fetch(&mut self, _url: &str, _into: &mut dyn Write) -> Result<(), BackendError> {
        Err(err("offline"))
    }
}

#[derive(Default)]
struct Text(String, Option<String>);

impl Output for Text {
    fn stream(&mut self, text: &str) {
        self.0.push_str(text);
    }
    fn image_id(&mut self, id: &str) {
        self.1 = Some(id.into());
    }
}

fn opts(context: &std::path::Path) -> Options {
    Options {
        context: context.into(),
        rm: true,
        ..Default::default()
    }
}

fn go(f: &mut Fake, text: &str, o: &Options) -> (Result<builder::Built, BuildError>, Text) {
    let df = berth_build::dockerfile::parse(text).expect("parse");
    let mut out = Text::default();
    let r = builder::build(&df, o, f, &mut out);
    (r, out)
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let ctx = tempfile::tempdir().unwrap();
    let mut f = Fake::new();
    let text = "FROM base AS a\nRUN echo a\nFROM base AS b\nRUN echo b\nFROM a AS c\nRUN echo c\nFROM base\nRUN echo last\n";
    let mut o = opts(ctx.path());
    o.target = Some("C".into());
    let (r, out) = go(&mut f, text, &o);
    r.expect("build");
    let ran: Vec<String> = f.runs.iter().map(|r| r[2].clone()).collect();
    assert_eq!(ran, ["echo a", "echo c"]);
    assert!(
        out.0.starts_with("Step 1/4 : FROM base AS a\n"),
        "{}",
        out.0
    );
    o.target = Some("nope".into());
    let (r, _) = go(&mut f, text, &o);
    assert_eq!(
        r.unwrap_err().to_string(),
        "failed to reach build target nope in Dockerfile"
    );
}

#[test]
fn args_and_env_scoping() {
    let ctx = tempfile::tempdir().unwrap();
    let mut f = Fake::new();
    let text = "ARG IMG=base\nARG G=global\nFROM $IMG\nRUN echo 1\nARG G\nARG A=dflt\nENV E=$A-$G\nARG A2\nRUN echo 2\n";
    let mut o = opts(ctx.path());
    o.build_args.insert("A".into(), Some("given".into()));
    o.build_args.insert("UNUSED".into(), Some("x".into()));
    let (r, out) = go(&mut f, text, &o);
    let built = r.expect("build");
    // The first RUN sees no ARG (G is global until redeclared); the second sees both.
    assert_eq!(f.runs[0][3..], [] as [String; 0]);
    assert_eq!(f.runs[1][3..], ["A=given", "G=global"]);
    let cfg = &f.images[&built.id]["config"];
    assert_eq!(cfg["Env"], json!(["PATH=/bin", "E=given-global"]));
    assert!(out
        .0
        .contains("[Warning] One or more build-args [UNUSED] were not consumed\n"));
    let history = f.images[&built.id]["history"].as_array().unwrap().clone();
    let by: Vec<&str> = history
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(by[0], "/bin/sh -c echo 1");
    assert_eq!(by[1], "/bin/sh -c #(nop)  ARG G");
    assert_eq!(by[5], "|2 A=given G=global /bin/sh -c echo 2");
    assert_eq!(history[1]["empty_layer"], true);
    assert!(history[0].get("empty_layer").is_none());
}

#[test]
fn config_steps() {
    let ctx = tempfile::tempdir().unwrap();
    let mut f = Fake::new();
    let text = "FROM base\nENTRYPOINT [\"/e\"]\nWORKDIR /a\nWORKDIR b\nUSER u:g\nEXPOSE 1-2/udp\nVOLUME [\"/v\"]\nSTOPSIGNAL SIGKILL\nSHELL [\"/bin/bash\", \"-c\"]\nCMD run me\nHEALTHCHECK NONE\nONBUILD COPY x /y\nMAINTAINER me\n";
    let (r, _) = go(&mut f, text, &opts(ctx.path()));
    let img = &f.images[&r.expect("build").id];
    let c = &img["config"];
    assert_eq!(c["Entrypoint"], json!(["/e"]));
    assert_eq!(c["Cmd"], json!(["/bin/bash", "-c", "run me"]));
    assert_eq!(c["WorkingDir"], "/a/b");
    assert_eq!(c["User"], "u:g");
    assert_eq!(c["ExposedPorts"], json!({"1/udp": {}, "2/udp": {}}));
    assert_eq!(c["Volumes"], json!({"/v": {}}));
    assert_eq!(c["StopSignal"], "SIGKILL");
    assert_eq!(c["Healthcheck"], json!({"Test": ["NONE"]}));
    assert_eq!(c["OnBuild"], json!(["COPY x /y"]));
    assert_eq!(img["author"], "me");
    // An ENTRYPOINT without a CMD of the stage clears the base's CMD.
    let (r, _) = go(
        &mut f,
        "FROM base\nENTRYPOINT [\"/e\"]\n",
        &opts(ctx.path()),
    );
    assert!(f.images[&r.unwrap().id]["config"]["Cmd"].is_null());
}

#[test]
fn cache_hits_make_no_container_and_a_change_misses_from_there() {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("f"), "1").unwrap();
    let mut f = Fake::new();
    let text = "FROM base\nRUN echo a\nCOPY f /f\nRUN echo b\n";
    let (r1, _) = go(&mut f, text, &opts(ctx.path()));
    let id1 = r1.unwrap().id;
    let made = f.created;
    let (r2, out) = go(&mut f, text, &opts(ctx.path()));
    assert_eq!(r2.unwrap().id, id1);
    assert_eq!(f.created, made, "a cache hit made a container");
    assert_eq!(out.0.matches("Using cache").count(), 3);
    std::fs::write(ctx.path().join("f"), "2").unwrap();
    let (r3, out) = go(&mut f, text, &opts(ctx.path()));
    assert_ne!(r3.unwrap().id, id1);
    assert_eq!(out.0.matches("Using cache").count(), 1, "{}", out.0);
    // A build arg in use is part of the key.
    let text = "FROM base\nARG V\nRUN echo v\n";
    let mut o = opts(ctx.path());
    o.build_args.insert("V".into(), Some("1".into()));
    go(&mut f, text, &o).0.unwrap();
    o.build_args.insert("V".into(), Some("2".into()));
    let (_, out) = go(&mut f, text, &o);
    assert_eq!(out.0.matches("Using cache").count(), 0, "{}", out.0);
}

#[test]
fn a_failed_build_removes_what_it_made() {
    let ctx = tempfile::tempdir().unwrap();
    let mut f = Fake::new();
    let (r, out) = go(
        &mut f,
        "FROM base\nENV X=1\nRUN echo hi; exit 4\n",
        &opts(ctx.path()),
    );
    match r {
        Err(BuildError::RunFailed { command, code }) => {
            assert_eq!(command, "/bin/sh -c echo hi; exit 4");
            assert_eq!(code, 4);
        }
        other => panic!("{other:?}"),
    }
    assert!(out.0.contains("ran: /bin/sh -c echo hi; exit 4\n"));
    assert!(f.containers.is_empty());
    assert_eq!(f.removed_images.len(), 1);
    assert_eq!(f.images.len(), 1, "only the base is left");
    let (r, _) = go(&mut f, "FROM base\nCOPY missing /\n", &opts(ctx.path()));
    let e = r.unwrap_err().to_string();
    assert!(
        e.starts_with("Dockerfile line 2: COPY failed: file not found"),
        "{e}"
    );
    assert!(f.containers.is_empty());
}

#[test]
fn onbuild_triggers_run_first() {
    let ctx = tempfile::tempdir().unwrap();
    let mut f = Fake::new();
    let (r, _) = go(
        &mut f,
        "FROM base\nONBUILD RUN echo trig\n",
        &opts(ctx.path()),
    );
    let parent = r.unwrap().id;
    let (r, out) = go(
        &mut f,
        &format!("FROM {parent}\nRUN echo after\n"),
        &opts(ctx.path()),
    );
    let id = r.unwrap().id;
    assert!(out.0.contains("# Executing 1 build trigger\n"));
    let ran: Vec<String> = f.runs.iter().map(|r| r[2].clone()).collect();
    assert_eq!(ran, ["echo trig", "echo after"]);
    assert!(f.images[&id]["config"].get("OnBuild").is_none());
}

#[test]
fn a_from_naming_a_stage_through_a_global_arg_builds_that_stage() {
    let ctx = tempfile::tempdir().unwrap();
    let mut f = Fake::new();
    let text = "ARG FROM_STAGE=one\nFROM base AS one\nRUN echo one\nFROM base AS two\nRUN echo two\nFROM ${FROM_STAGE}\nRUN echo last\n";
    let (r, _) = go(&mut f, text, &opts(ctx.path()));
    r.expect("build");
    let ran: Vec<String> = f.runs.iter().map(|r| r[2].clone()).collect();
    assert_eq!(ran, ["echo one", "echo last"]);
}
