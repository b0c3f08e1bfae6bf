//! `commit` through a real berthd, with THE acceptance test of issue 3: changes made in a
//! container survive a commit into a new image. (`diff` and `export` wait for berthd's
//! endpoints: tests/pending/daemon_gaps.rs.)

mod support;

use support::Root;

/// Adds, changes and deletes files, and deletes and recreates a directory.
const CHANGES: &str = "echo new > /added; echo more >> /etc/profile 2>/dev/null; \
    echo changed >> /etc/hostname; rm /bin/vi; mkdir -p /home/dir; \
    ln -s /added /home/dir/link; ln /added /home/hard; \
    rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/new; \
    echo y >> /root/.ash_history_new";

#[test]
fn committed_changes_are_in_the_new_image() {
    let root = Root::with_busybox();
    let r = root.berth(&["run", "--name", "src", "busybox:1.35", "sh", "-c", CHANGES]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = root.ok(&["commit", "-m", "my changes", "-a", "me", "src", "mine:1"]);
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 71,
        "{id}"
    );
    let check = "cat /added; ls -A /usr/sbin; test -e /bin/vi || echo no-vi; \
        readlink /home/dir/link; stat -c %i /added /home/hard | uniq | wc -l; \
        test -e /usr/sbin/chroot || echo no-chroot; cat /root/.ash_history_new";
    let out = root.ok(&["run", "--rm", "mine:1", "sh", "-c", check]);
    assert_eq!(out, "new\nnew\nno-vi\n/added\n1\nno-chroot\ny\n");
    // The committed layer is kept unpacked only; save makes its tar again, exactly.
    let saved = root.dir.path().join("mine.tar");
    root.ok(&["save", "-o", saved.to_str().unwrap(), "mine:1"]);
    let other = Root::with_busybox();
    other.ok(&["load", "-i", saved.to_str().unwrap()]);
    let ids = |r: &Root| r.ok(&["images", "-q", "--no-trunc", "mine:1"]);
    assert_eq!(ids(&other), ids(&root), "same image after save and load");
    let out = other.ok(&["run", "--rm", "mine:1", "sh", "-c", check]);
    assert_eq!(out, "new\nnew\nno-vi\n/added\n1\nno-chroot\ny\n");
    // The new image's id resolves as a prefix too; its parent still runs untouched.
    let out = root.ok(&["run", "--rm", &id.trim()[7..19], "cat", "/usr/sbin/new"]);
    assert_eq!(out, "x\n");
    let out = root.ok(&[
        "run",
        "--rm",
        "busybox:1.35",
        "sh",
        "-c",
        "test -e /bin/vi && ls /etc | wc -l",
    ]);
    assert_ne!(out.trim(), "1");
}

#[test]
fn commit_change_sets_the_default_command() {
    let root = Root::with_busybox();
    root.ok(&["create", "--name", "c1", "busybox:1.35", "true"]);
    root.ok(&[
        "commit",
        "--change",
        r#"CMD ["echo","hi"]"#,
        "--change",
        "ENV GREETING=hey",
        "c1",
        "hi",
    ]);
    assert_eq!(root.ok(&["run", "--rm", "hi"]), "hi\n");
    assert_eq!(
        root.ok(&["run", "--rm", "hi", "sh", "-c", "echo $GREETING"]),
        "hey\n"
    );
    let r = root.berth(&["commit", "--change", "ADD a b", "c1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not a valid change command"),
        "{}",
        r.stderr
    );
}

#[test]
fn commit_of_a_running_container_pauses_it() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox:1.35",
        "sh",
        "-c",
        "echo live > /state; exec sleep 100",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while root.run(&["exec", "live", "test", "-e", "/state"]).code != 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    root.ok(&["commit", "live", "live:snap"]);
    assert!(
        root.ok(&["ps"]).contains("Up "),
        "still running after the commit"
    );
    assert_eq!(
        root.ok(&["run", "--rm", "live:snap", "cat", "/state"]),
        "live\n"
    );
}

#[test]
fn an_image_used_by_a_container_cannot_be_deleted() {
    let root = Root::with_busybox();
    root.ok(&["create", "--name", "user", "busybox:1.35", "true"]);
    let r = root.berth(&["rmi", "busybox:1.35"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("Error response from daemon: conflict: unable to remove repository reference \"busybox:1.35\" (must force) - container "),
        "{}",
        r.stderr
    );
    root.ok(&["rm", "user"]);
    root.ok(&["rmi", "busybox:1.35"]);
}
